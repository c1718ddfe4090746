"""The store benchmarks run end to end at a tiny size, on SQLite and PostgreSQL, so they
cannot rot; their figures are not checked (never a timing), what they did is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "sdk"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_tick_bench_sends_every_due_message_through_the_due_index(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    out = _run(
        "bench_tick.py",
        "--sizes", "300,600", "--due", "20", "--rounds", "2",
        "--cache", str(tmp_path), "--postgres-dsn", postgres_server.dsn(),
    )  # fmt: skip
    ticks = [line for line in out.splitlines() if " tick " in line and "planned" in line]
    assert len(ticks) == 4  # two sizes on two backends
    assert all("planned 20, sent 20" in line for line in ticks), out
    plans = [line for line in out.splitlines() if "claim plan" in line]
    assert len(plans) == 4
    # SQLite searches the due index at any size (PostgreSQL rightly scans 300 rows).
    assert all("uses enrolments_due" in line for line in plans[:2]), out
    # The cached SQLite file is reused, and the run left it as loaded.
    again = _run("bench_tick.py", "--sizes", "300", "--due", "20", "--rounds", "1",
                 "--cache", str(tmp_path), "--backend", "sqlite")  # fmt: skip
    assert "from the cache" in again
    assert "planned 20, sent 20" in again


def test_the_insights_bench_reports_on_both_backends(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    out = _run(
        "bench_insights.py",
        "--carts", "900", "--rounds", "1",
        "--cache", str(tmp_path), "--postgres-dsn", postgres_server.dsn(),
    )  # fmt: skip
    for label in ("+ exact email:", "+ part of email:", "headline, 30 days", "CSV export, 30 days",
                  "export peak memory"):  # fmt: skip
        assert out.count(label) == 2, out  # once per backend
    headlines = [line for line in out.splitlines() if "headline, 30 days" in line]
    # The same seeded carts on both backends: the same figures.
    assert headlines[0].split("(")[-1] == headlines[1].split("(")[-1]
