"""docs/insights.md: its examples run, print what their comments say, and its figures are
the defaults the code has."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from cartback.reports import MIN_CONVERSIONS, MIN_GROUP_SIZE, ReportSettings

ROOT = Path(__file__).parent.parent.parent
PAGE = (ROOT / "docs" / "insights.md").read_text(encoding="utf-8")


def claims(script: str) -> list[str]:
    """What each ``print(...)`` claims: its line's trailing comment, or the comment line
    right after it."""
    lines = script.splitlines()
    found = []
    for node in ast.walk(ast.parse(script)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
            and node.end_lineno is not None
        ):
            line = lines[node.end_lineno - 1]
            if "  # " in line:
                found.append((node.end_lineno, line.rpartition("  # ")[2]))
            else:
                found.append((node.end_lineno, lines[node.end_lineno].strip().removeprefix("# ")))
    return [text for _, text in sorted(found)]


def test_the_examples_print_what_their_comments_claim(tmp_path: Path) -> None:
    script = "\n".join(re.findall(r"```python\n(.*?)```", PAGE, re.DOTALL))
    expected = claims(script)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "sdk"), str(ROOT)])},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == expected
    assert len(expected) >= 10


def test_the_documented_defaults_are_the_code_defaults() -> None:
    defaults = ReportSettings()
    assert defaults.model == "last_click"
    assert defaults.click_window == timedelta(days=7)
    assert defaults.delivery_window == timedelta(days=1)
    assert "at most **7 days** before *T*" in PAGE
    assert "at most **1 day** before *T*" in PAGE
    assert (MIN_GROUP_SIZE, MIN_CONVERSIONS) == (100, 10)
    assert "fewer than **100 carts**" in PAGE
    assert "fewer than **10 orders**" in PAGE
