"""``cartback demo`` runs the repository's demo, and Ctrl-C ends it cleanly: exit code 0,
no traceback, nothing saying it failed (what ``python -m nox -s demo`` relies on)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.support import command, environment, process_env
from tests.server.processes import free_port, wait_ready
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    database = tmp_path / "demo.sqlite3"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command("demo", "--port", str(port), "--database", str(database)),
            cwd=tmp_path,
            env=process_env(environment()),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own, as a terminal's foreground job
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, log)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends
        wait_until(lambda: process.poll() is not None, what="the demo to stop", timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    shown = log.read_text(errors="replace")
    assert process.returncode == 0, shown
    assert "Ctrl-C stops the demo" in shown
    assert shown.rstrip().endswith("demo stopped")
    assert "Traceback" not in shown
    assert "failed" not in shown.lower()
    assert database.is_file()
