"""Real receiver processes for end-to-end tests: ``python -m server_example`` configured as
in production by ``CARTBACK_*`` variables, on a free loopback port.

``receiver(database, log)`` starts one and waits (bounded) until ``/healthz`` answers;
it is killed on exit if it still runs. Several receivers given the same ``database``
(a PostgreSQL DSN) share one store, and the same admin password and secret key, so a
dashboard session issued by one is valid on the others.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import httpx

from tests.waiting import wait_until

ROOT: Final = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD: Final = "process-test-admin-password"
SECRET_KEY: Final = "process-test-secret-key-of-32-bytes-or-more"
READY_TIMEOUT: Final = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def receiver_env(database: str | Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARTBACK_")}
    env.update(
        {
            "CARTBACK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CARTBACK_SECRET_KEY": SECRET_KEY,
            "CARTBACK_DATABASE": str(database),
            "CARTBACK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CARTBACK_SYNCHRONOUS": "FULL",
            "CARTBACK_RATE_PER_MINUTE": str(10**9),
            "CARTBACK_RATE_BURST": str(10**9),
            **extra,
        }
    )
    return env


@contextmanager
def receiver(
    database: str | Path, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A receiver process on a free loopback port, ready to serve; killed on exit."""
    port = free_port()
    command = [sys.executable, "-m", "server_example", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=receiver_env(database, port, **(env or {})),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log)
        yield process, base_url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /healthz until it answers, failing early if the process exits."""
    with httpx.Client(base_url=base_url, timeout=2.0) as client:

        def healthy() -> bool:
            if process.poll() is not None:
                output = log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"receiver exited with {process.returncode}:\n{output}")
            try:
                return client.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, what="the receiver's /healthz", timeout=READY_TIMEOUT)


@contextmanager
def webhooks_worker(
    database: str | Path, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m server_example webhooks`` on ``database``, running (it says so on its
    output); killed on exit if it still runs."""
    command = [sys.executable, "-m", "server_example", "webhooks"]
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=receiver_env(database, free_port(), **(env or {})),
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def running() -> bool:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"the worker exited with {process.returncode}:\n{output}")
        return b"webhooks worker running" in log.read_bytes()[start:]

    try:
        wait_until(running, what="the webhooks worker to start", timeout=READY_TIMEOUT)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
