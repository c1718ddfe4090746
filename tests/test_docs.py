"""The generated reference page and the README's promises stay true."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parent.parent


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_page_is_up_to_date() -> None:
    generator = load(ROOT / "docs" / "generate_reference.py")
    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == generator.render(), "run: python docs/generate_reference.py"


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert block is not None
    assert readme.index("```sh") < readme.index("\n## ")
    commands = [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()]
    assert commands == [
        "python3 -m pip install nox && python3 -m nox -s demo",
        "python3 -m pip install nox && python3 -m nox",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


def test_docs_link_to_files_that_exist() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_quickstart_runs_top_to_bottom_and_prints_what_its_comments_claim(
    tmp_path: Path,
) -> None:
    """docs/quickstart.md as one script: every ``print(...)  # text`` prints ``text``."""
    page = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    script = "\n".join(re.findall(r"```python\n(.*?)```", page, re.DOTALL))
    lines = script.splitlines()
    ends = sorted(
        node.end_lineno
        for node in ast.walk(ast.parse(script))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and node.end_lineno is not None
    )
    claimed = [lines[end - 1].rpartition("#")[2].strip() for end in ends]  # where each ends
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
    assert result.stdout.splitlines() == claimed
    assert len(claimed) >= 10


def test_events_page_is_up_to_date() -> None:
    generator = load(ROOT / "docs" / "generate_events.py")
    committed = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert committed == generator.render(), "run: python docs/generate_events.py"
