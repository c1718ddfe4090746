"""The committed snippet build: fresh (really rebuilt with the pinned minifier), in budget.

``snippet/cartback.min.js`` is committed so a receiver can serve it without Node; these
tests make sure it is exactly what ``npm run build`` makes of ``snippet/cartback.js``
today, and that it stays within the size budget of ``snippet/package.json``.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SNIPPET = Path(__file__).resolve().parents[2] / "snippet"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` not found: rebuilding the snippet needs Node.js and npm "
            "(Debian: apt-get install -y nodejs npm; .ci/ensure-system-deps does it).",
            pytrace=False,
        )
    return found


def _installed_minifier_matches_lock() -> bool:
    installed = SNIPPET / "node_modules" / "terser" / "package.json"
    if not installed.is_file():
        return False
    locked = _json(SNIPPET / "package-lock.json")["packages"]["node_modules/terser"]["version"]
    return bool(_json(installed)["version"] == locked)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=SNIPPET, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_committed_build_is_what_the_pinned_minifier_makes() -> None:
    node, npm = _tool("node"), _tool("npm")
    if not _installed_minifier_matches_lock():
        installed = _run(npm, "ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stderr}"
    checked = _run(node, "build.mjs", "--check")
    assert checked.returncode == 0, checked.stderr or checked.stdout


def test_build_is_within_the_size_budget() -> None:
    budget = _json(SNIPPET / "package.json")["sizeBudget"]["minGzip"]
    minified = (SNIPPET / "cartback.min.js").read_bytes()
    ours = len(gzip.compress(minified, compresslevel=9, mtime=0))
    recorded = _json(SNIPPET / "size.json")  # Node's zlib: may differ by a few bytes
    assert recorded["min"] == len(minified), "size.json records another build"
    assert max(ours, recorded["gzip"]) <= budget, (
        f"cartback.min.js is {max(ours, recorded['gzip'])} bytes min+gzip, "
        f"over the {budget}-byte budget"
    )


def test_docs_quote_the_recorded_sizes() -> None:
    docs = (SNIPPET.parent / "docs" / "snippet.md").read_text(encoding="utf-8")
    recorded = _json(SNIPPET / "size.json")
    for label, key in [
        ("source (`cartback.js`)", "raw"),
        ("minified (`cartback.min.js`)", "min"),
        ("min + gzip", "gzip"),
        ("min + brotli", "brotli"),
    ]:
        row = f"| {label} | {recorded[key]:,} |"
        assert row in docs, f"docs/snippet.md should have the row {row!r} (see size.json)"


def test_the_budget_is_the_one_the_docs_state() -> None:
    """Issue 15 with issue 14's diagnostics: 1,300 bytes min+gzip, stated in the docs."""
    budget = _json(SNIPPET / "package.json")["sizeBudget"]["minGzip"]
    assert budget == 1300
    docs = " ".join((SNIPPET.parent / "docs" / "snippet.md").read_text(encoding="utf-8").split())
    assert f"the budget, {budget:,} bytes min+gzip" in docs
