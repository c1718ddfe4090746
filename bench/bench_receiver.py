"""Receiver throughput and latency under wrk, next to a bare Starlette app.

Starts, one after the other, on loopback and in subprocesses:

  receiver   ``python -m server_example`` with durable writes (``CARTBACK_SYNCHRONOUS=FULL``),
             the rate limit effectively off, a fresh SQLite file in a temporary folder
  floor      ``bench/bare_app.py --durable``: the same endpoint storing each body as one
             row, group-committed with ``synchronous=FULL``: the least a receiver that
             answers only durable captures can do (no validation, one insert)
  bare       ``bench/bare_app.py``: one endpoint that parses the JSON body and answers
             a small JSON object (same uvicorn settings), the ceiling for the receiver

and drives each with Debian's ``wrk`` (32 connections, 2 threads, a warm-up then the
measured run). A Lua script posts every capture as ``text/plain`` (like the snippet's
``sendBeacon``) with a unique email, so every request of the receiver opens a new cart:
an insert, an outbox event and a durable commit.

Prints, for each: requests/s, p50/p90/p99 latency, non-2xx responses, socket errors and
the server's CPU time per request (from /proc: steadier than throughput on a busy
machine); then the receiver/bare throughput ratio and the targets (ratio >= 0.6,
p99 <= 20 ms), and the floor's figures against the same targets: where the floor misses
a target, no receiver that stores durably can meet it on the machine. Afterwards the
receiver's database is checked: every 2xx is a row.

    python bench/bench_receiver.py [--duration 10] [--warmup 3] [--synchronous FULL]
                                   [--python PATH]

``--python`` runs both servers with another interpreter, e.g. a virtualenv with
``uvicorn[standard]`` (uvloop, httptools), which uvicorn then picks up by itself.

Needs ``wrk`` (``apt-get install -y wrk``). Figures, not pass/fail: the exit status is
0 when both runs completed, whatever the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = Path(__file__).resolve().with_name("bare_app.py")

TARGET_RATIO = 0.6
"""Receiver throughput over the bare app's, with durable writes."""
TARGET_P99_MS = 20.0
"""Receiver p99 latency at 32 connections, with durable writes."""

# One Lua state per wrk thread. ``setup`` runs in the main state and numbers the
# threads; ``init`` receives the run's prefix (after ``--``), so warm-up and measured
# runs never repeat an email. ``done`` prints one machine-readable line.
LUA_SCRIPT = r"""
local threads_started = 0
local counter = 0
local prefix = "run"

function setup(thread)
  threads_started = threads_started + 1
  thread:set("tid", threads_started)
end

function init(args)
  prefix = args[1] or "run"
end

local headers = { ["Content-Type"] = "text/plain;charset=UTF-8" }

function request()
  counter = counter + 1
  local id = string.format("%s-%d-%d", prefix, tid, counter)
  local body = string.format(
    '{"v":1,"form_id":"bench","seller":"us","product_id":"p1","product_name":"Course",'
    .. '"cart_value":"49.00","currency":"USD","session_id":"s-%s","event_id":"e-%s",'
    .. '"fields":{"email":"p.%s@shop-bench.example.com","first_name":"Ava",'
    .. '"last_name":"Lee","city":"Springfield","country":"US","newsletter":"on"}}',
    id, id, id)
  return wrk.format("POST", "/api/capture", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'CARTBACK_WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"max_us":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, as its ``done()`` reported it."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    cpu_ms_per_request: float | None = None
    """The server process's user + system CPU time per request, when /proc has it."""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def acknowledged(self) -> int:
        """Responses that were 2xx (wrk counts statuses >= 400 as errors)."""
        return self.requests - self.non_2xx

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        for line in output.splitlines():
            if line.startswith("CARTBACK_WRK "):
                data = json.loads(line.removeprefix("CARTBACK_WRK "))
                errors = sum(int(data[key]) for key in ("connect", "read", "write", "timeout"))
                return cls(
                    requests=int(data["requests"]),
                    duration_s=int(data["duration_us"]) / 1e6,
                    p50_ms=int(data["p50_us"]) / 1000,
                    p90_ms=int(data["p90_us"]) / 1000,
                    p99_ms=int(data["p99_us"]) / 1000,
                    max_ms=int(data["max_us"]) / 1000,
                    non_2xx=int(data["non_2xx"]),
                    socket_errors=errors,
                )
        raise RuntimeError(f"wrk printed no result line:\n{output}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), ``None`` elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    """Poll ``/healthz`` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # poll interval of a bounded wait, not a fixed delay
    raise RuntimeError(f"{base_url}/healthz did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully, the writer drains), then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def receiver_env(database: Path, synchronous: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CARTBACK_ADMIN_PASSWORD": "bench-admin-password",
            "CARTBACK_SECRET_KEY": "bench-secret-key-of-at-least-32-bytes!!",
            "CARTBACK_DATABASE": str(database),
            "CARTBACK_SYNCHRONOUS": synchronous,
            "CARTBACK_RATE_PER_MINUTE": str(10**9),
            "CARTBACK_RATE_BURST": str(10**9),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT), str(ROOT / "sdk"), os.environ.get("PYTHONPATH")])
            ),
        }
    )
    return env


def start(
    command: list[str], env: Mapping[str, str], port: int, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
    except BaseException:
        stop(process)
        raise
    return process


def run_wrk(
    port: int, script: Path, *, seconds: int, connections: int, threads: int, prefix: str
) -> WrkResult:
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={script}",
        f"http://127.0.0.1:{port}/api/capture",
        "--",
        prefix,
    ]
    completed = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=seconds + 60
    )
    return WrkResult.parse(completed.stdout)


def bench(
    name: str,
    command: list[str],
    env: Mapping[str, str],
    port: int,
    script: Path,
    args: argparse.Namespace,
) -> WrkResult:
    def drive(seconds: int, phase: str) -> WrkResult:
        return run_wrk(
            port,
            script,
            seconds=seconds,
            connections=args.connections,
            threads=args.threads,
            prefix=f"{name}-{phase}",  # a fresh email prefix per run
        )

    process = start(command, env, port, script.with_name(f"{name}.log"))
    try:
        if args.warmup > 0:
            drive(args.warmup, "warmup")
        cpu_before = cpu_seconds(process.pid)
        result = drive(args.duration, "measured")
        cpu_after = cpu_seconds(process.pid)
        if cpu_before is None or cpu_after is None or not result.requests:
            return result
        per_request = (cpu_after - cpu_before) * 1000 / result.requests
        return dataclasses.replace(result, cpu_ms_per_request=per_request)
    finally:
        stop(process)


def describe(name: str, result: WrkResult) -> str:
    cpu = result.cpu_ms_per_request
    return (
        f"{name:<9} {result.rps:>7.0f} req/s   p50 {result.p50_ms:6.2f} ms   "
        f"p90 {result.p90_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms   "
        f"max {result.max_ms:7.2f} ms   non-2xx {result.non_2xx}   "
        f"socket errors {result.socket_errors}   "
        f"server CPU {'n/a' if cpu is None else f'{cpu:.2f} ms'}/request   "
        f"({result.requests} requests in {result.duration_s:.1f} s)"
    )


def server_flavour(python: str) -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn picks ("auto") under ``python``."""
    probe = (
        "import importlib.util as u;"
        "print('uvloop' if u.find_spec('uvloop') else 'asyncio',"
        " 'httptools' if u.find_spec('httptools') else 'h11')"
    )
    output = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True)
    loop, http = output.stdout.split()
    return loop, http


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_receiver.py", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per app")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per app")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that runs both servers"
    )
    args = parser.parse_args(argv)
    args.threads = max(1, min(args.threads, args.connections))  # wrk needs a connection per thread

    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    loop, http = server_flavour(args.python)
    print(
        f"wrk: {args.connections} connections, {args.threads} threads, "
        f"{args.warmup} s warm-up + {args.duration} s measured per app; "
        f"uvicorn loop={loop} http={http}; {os.cpu_count()} CPUs; Python "
        f"{sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="cartback-bench-") as tmp:
        folder = Path(tmp)
        script = folder / "capture.lua"
        script.write_text(LUA_SCRIPT, encoding="utf-8")
        database = folder / "receiver.sqlite3"

        port = free_port()
        receiver = bench(
            "receiver",
            [
                sys.executable,
                "-m",
                "server_example",
                "--port",
                str(port),
                "--database",
                str(database),
            ],
            receiver_env(database, args.synchronous),
            port,
            script,
            args,
        )
        print(describe("receiver", receiver), flush=True)

        port = free_port()
        floor_database = folder / "floor.sqlite3"
        floor = bench(
            "floor",
            [args.python, str(BARE_APP), "--port", str(port), "--durable", str(floor_database)],
            dict(os.environ),
            port,
            script,
            args,
        )
        print(describe("floor", floor), flush=True)

        port = free_port()
        bare = bench(
            "bare",
            [args.python, str(BARE_APP), "--port", str(port)],
            dict(os.environ),
            port,
            script,
            args,
        )
        print(describe("bare", bare), flush=True)

        with sqlite3.connect(database) as db:
            (rows,) = db.execute("SELECT count(*) FROM carts").fetchone()
            (measured_rows,) = db.execute(
                "SELECT count(*) FROM carts WHERE prospect LIKE 'p.receiver-measured-%'"
            ).fetchone()
            (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        db.close()
        with sqlite3.connect(floor_database) as db:
            (floor_rows,) = db.execute("SELECT count(*) FROM captures").fetchone()
        db.close()

    ratio = receiver.rps / bare.rps if bare.rps else 0.0
    floor_ratio = floor.rps / bare.rps if bare.rps else 0.0
    print()
    print(
        f"ratio receiver/bare throughput: {ratio:.2f}   "
        f"(target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})"
    )
    if receiver.cpu_ms_per_request and bare.cpu_ms_per_request:
        print(
            f"ratio bare/receiver server CPU per request: "
            f"{bare.cpu_ms_per_request / receiver.cpu_ms_per_request:.2f}   "
            "(the same ratio measured in CPU time, less sensitive to other load)"
        )
    print(
        f"receiver p99 with synchronous={args.synchronous}: {receiver.p99_ms:.2f} ms   "
        f"(target <= {TARGET_P99_MS:.0f} ms with FULL: "
        f"{verdict(receiver.p99_ms <= TARGET_P99_MS)})"
    )
    print(
        f"floor (one durable insert, nothing validated): ratio {floor_ratio:.2f} "
        f"({verdict(floor_ratio >= TARGET_RATIO)}), p99 {floor.p99_ms:.2f} ms "
        f"({verdict(floor.p99_ms <= TARGET_P99_MS)}); {floor_rows} rows stored"
    )
    print(
        f"receiver database: {rows} carts in all, {measured_rows} from the measured run "
        f"({receiver.acknowledged} acknowledged with 2xx), integrity_check {integrity}"
    )
    if measured_rows < receiver.acknowledged:
        print("LOST WRITES: fewer carts than acknowledged captures", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
