"""Receiver throughput, latency and CPU under wrk, next to the durable floor, per backend.

For each backend (``--backend sqlite``, ``postgres`` or ``both``), starts one after the
other, on loopback and in subprocesses:

  receiver   ``python -m server_example`` with durable writes: a fresh SQLite file
             (``CARTBACK_SYNCHRONOUS=FULL``) or a fresh PostgreSQL database (a server
             the bench starts with fsync and synchronous commits on), the rate limit off
  floor      ``bench/bare_app.py --durable``: the same endpoint storing each body as
             one row of the same backend, group-committed by one writer thread: the
             least a receiver that answers only durable captures can do
  bare       ``bench/bare_app.py``: the endpoint alone (the HTTP ceiling), once

and drives each with Debian's ``wrk`` (32 connections, 2 threads, a warm-up then the
measured run). A Lua script posts every capture as ``text/plain`` (like the snippet)
with a unique email and a ticked newsletter box, so each request opens a new cart.

Prints for each app: requests/s, p50/p90/p99 latency, non-2xx, socket errors, and the
CPU time per acknowledged capture summed over every process involved (the server, its
children, and the PostgreSQL server's processes); then per backend the targets:
receiver throughput >= 0.6 of the floor's, receiver p99 <= 1.5 x the floor's, the CPU
ratio, and rows and index entries the receiver wrote per capture (counted in its
database afterwards). Every 2xx must be a stored cart.

    python bench/bench_receiver.py [--backend both] [--duration 10] [--warmup 3]
                                   [--connections 32] [--rounds 1] [--python PATH]

``--rounds N`` measures N receiver-then-floor pairs per backend, each on fresh
databases, and reports the median of their ratios (the machine's noise moves single
runs by a fifth or more).

``--python`` runs every server (receiver, floor, bare) with another interpreter, e.g.
a virtualenv with ``uvicorn[standard]`` (uvloop, httptools). Needs ``wrk``
(``apt-get install -y wrk``); PostgreSQL runs need Debian's ``postgresql``. Figures,
not pass/fail: the exit status is 1 only when an acknowledged capture is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = Path(__file__).resolve().with_name("bare_app.py")

TARGET_RATIO = 0.6
"""Receiver throughput over the durable floor's, on the same backend."""
TARGET_P99_RATIO = 1.5
"""Receiver p99 latency over the floor's, at 32 connections."""

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
    """User + system CPU time per acknowledged capture, all processes, when /proc has it."""
    cpu_by_role: tuple[tuple[str, float], ...] = ()
    """The same split by role: the server, its worker processes, the database server."""

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


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (a server with worker processes counts them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("PPid:") and int(line.split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def total_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process that still exists."""
    found = {}
    for pid in pids:
        value = cpu_seconds(pid)
        if value is not None:
            found[pid] = value
    return found


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


def python_path() -> str:
    return os.pathsep.join(
        filter(None, [str(ROOT), str(ROOT / "sdk"), os.environ.get("PYTHONPATH")])
    )


def receiver_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CARTBACK_ADMIN_PASSWORD": "bench-admin-password",
            "CARTBACK_SECRET_KEY": "bench-secret-key-of-at-least-32-bytes!!",
            "CARTBACK_DATABASE": database,
            "CARTBACK_SYNCHRONOUS": "FULL",
            "CARTBACK_RATE_PER_MINUTE": str(10**9),
            "CARTBACK_RATE_BURST": str(10**9),
            "CARTBACK_DISPATCHER": "off",  # the capture path alone
            "PYTHONPATH": python_path(),
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
    script: Path,
    args: argparse.Namespace,
    *,
    port: int,
    database_pids: Callable[[], list[int]] = list,
) -> WrkResult:
    """Warm up, then measure; CPU is summed over the server, its children and the
    database server's processes, per acknowledged capture."""

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
        roles = {
            "server": [process.pid],
            "workers": children(process.pid),
            "database": database_pids(),
        }
        pids = [pid for group in roles.values() for pid in group]
        before = total_cpu(pids)
        result = drive(args.duration, "measured")
        after = total_cpu(pids)
        if not result.acknowledged or not after:
            return result

        def used(group: list[int]) -> float:
            seconds = sum(
                after[pid] - before[pid] for pid in group if pid in after and pid in before
            )
            return seconds * 1000 / result.acknowledged

        by_role = tuple((role, used(group)) for role, group in roles.items() if group)
        return dataclasses.replace(result, cpu_ms_per_request=used(pids), cpu_by_role=by_role)
    finally:
        stop(process)


def describe(name: str, result: WrkResult) -> str:
    cpu = result.cpu_ms_per_request
    split = ""
    if len(result.cpu_by_role) > 1:
        split = " (" + ", ".join(f"{role} {ms:.3f}" for role, ms in result.cpu_by_role) + ")"
    return (
        f"{name:<16} {result.rps:>7.0f} req/s   p50 {result.p50_ms:6.2f} ms   "
        f"p90 {result.p90_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms   "
        f"max {result.max_ms:7.2f} ms   non-2xx {result.non_2xx}   "
        f"socket errors {result.socket_errors}   "
        f"CPU {'n/a' if cpu is None else f'{cpu:.3f} ms'}/capture, all processes{split}   "
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


# -- what the receiver wrote ---------------------------------------------------------

_WHERE = re.compile(r"\bWHERE\b(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Written:
    """Rows and index entries in the receiver's database, and the stored captures."""

    carts: int
    measured: int
    rows: int
    index_entries: int
    by_table: dict[str, tuple[int, int]]
    integrity: str


def sqlite_written(path: str, prefix: str) -> Written:
    by_table: dict[str, tuple[int, int]] = {}
    with sqlite3.connect(path) as db:
        tables = [
            str(name)
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            (rows,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
            entries = 0
            for (index_sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            ).fetchall():
                if index_sql is None:  # an automatic index (a TEXT primary key, UNIQUE)
                    entries += rows
                    continue
                where = _WHERE.search(index_sql)
                if where is None:
                    entries += rows
                else:
                    (n,) = db.execute(
                        f"SELECT count(*) FROM {table} WHERE {where.group(1)}"
                    ).fetchone()
                    entries += n
            by_table[table] = (rows, entries)
        (carts,) = db.execute("SELECT count(*) FROM carts").fetchone()
        (measured,) = db.execute(
            "SELECT count(*) FROM carts WHERE prospect LIKE ?", (f"p.{prefix}-%",)
        ).fetchone()
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
    db.close()
    return _written(carts, measured, by_table, str(integrity))


def postgres_written(dsn: str, prefix: str) -> Written:
    import psycopg

    by_table: dict[str, tuple[int, int]] = {}
    with psycopg.connect(dsn, autocommit=True) as db:
        listed = db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        tables = [row[0] for row in listed]
        for table in tables:
            (rows,) = db.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
            entries = 0
            for (definition,) in db.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                " AND tablename = %s",
                (table,),
            ).fetchall():
                where = _WHERE.search(definition)
                if where is None:
                    entries += rows
                else:
                    row = db.execute(
                        f"SELECT count(*) FROM {table} WHERE {where.group(1)}"
                    ).fetchone()
                    entries += row[0] if row else 0
            by_table[table] = (rows, entries)
        carts = by_table.get("carts", (0, 0))[0]
        row = db.execute(
            "SELECT count(*) FROM carts WHERE prospect LIKE %s", (f"p.{prefix}-%",)
        ).fetchone()
        measured = row[0] if row else 0
    return _written(carts, measured, by_table, "n/a (PostgreSQL)")


def _written(
    carts: int, measured: int, by_table: dict[str, tuple[int, int]], integrity: str
) -> Written:
    quiet = {"cartback_schema", "consumers"}
    counted = {t: v for t, v in by_table.items() if t not in quiet and v[0]}
    return Written(
        carts=carts,
        measured=measured,
        rows=sum(rows for rows, _ in counted.values()),
        index_entries=sum(entries for _, entries in counted.values()),
        by_table=counted,
        integrity=integrity,
    )


# -- one backend -----------------------------------------------------------------------


@dataclass
class Round:
    """One receiver run and the floor's run right after it, on fresh databases."""

    receiver: WrkResult
    floor: WrkResult
    written: Written

    @property
    def ratio(self) -> float:
        return self.receiver.rps / self.floor.rps if self.floor.rps else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.receiver.p99_ms / self.floor.p99_ms if self.floor.p99_ms else 0.0


@dataclass
class BackendRun:
    name: str
    rounds: list[Round]


def run_backend(name: str, folder: Path, script: Path, args: argparse.Namespace) -> BackendRun:
    server = None
    if name == "postgres":
        sys.path.insert(0, str(ROOT))
        from tests.postgres import PostgresServer

        server = PostgresServer(durable=True)
        server.start()
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"{name}, round {number} of {args.rounds}:", flush=True)
            rounds.append(one_round(name, number, server, folder, script, args))
        return BackendRun(name, rounds)
    finally:
        if server is not None:
            server.destroy()


def one_round(
    name: str,
    number: int,
    server: Any,
    folder: Path,
    script: Path,
    args: argparse.Namespace,
) -> Round:
    """The receiver, then the floor, each on a database of its own made for this round."""
    if server is None:
        database = str(folder / f"receiver-{number}.sqlite3")
        floor_database = str(folder / f"floor-{number}.sqlite3")
        database_pids: Callable[[], list[int]] = list
    else:
        with server.admin() as conn:
            conn.execute(f"CREATE DATABASE receiver_{number}")
            conn.execute(f"CREATE DATABASE floor_{number}")
        database = server.dsn(database=f"receiver_{number}")
        floor_database = server.dsn(database=f"floor_{number}")
        database_pids = server.pids
    label = f"receiver-{name}-{number}"
    port = free_port()
    receiver = bench(
        label,
        [args.python, "-m", "server_example", "--port", str(port), "--database", database],
        receiver_env(database),
        script,
        args,
        port=port,
        database_pids=database_pids,
    )
    print(describe(f"receiver {name}", receiver), flush=True)
    port = free_port()
    floor = bench(
        f"floor-{name}-{number}",
        [args.python, str(BARE_APP), "--port", str(port), "--durable", floor_database],
        {**os.environ, "PYTHONPATH": python_path()},
        script,
        args,
        port=port,
        database_pids=database_pids,
    )
    print(describe(f"floor {name}", floor), flush=True)
    prefix = f"{label}-measured"
    written = (
        sqlite_written(database, prefix) if server is None else postgres_written(database, prefix)
    )
    return Round(receiver, floor, written)


def report(run: BackendRun) -> bool:
    """Print a backend's ratios (the median over its rounds) and what was written; False
    when an acknowledged capture is missing."""
    ratios = [r.ratio for r in run.rounds]
    p99s = [r.p99_ratio for r in run.rounds]
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    each = len(run.rounds) > 1
    print(f"\n{run.name}:" + (f" (median of {len(run.rounds)} rounds)" if each else ""))
    print(
        f"  throughput receiver/floor: {ratio:.2f}   (target >= {TARGET_RATIO}: "
        f"{verdict(ratio >= TARGET_RATIO)})"
        + (f"   rounds: {', '.join(f'{x:.2f}' for x in ratios)}" if each else "")
    )
    last = run.rounds[-1]
    detail = (
        f"rounds: {', '.join(f'{x:.2f}' for x in p99s)}"
        if each
        else f"{last.receiver.p99_ms:.1f} / {last.floor.p99_ms:.1f} ms"
    )
    print(
        f"  p99 receiver/floor: {p99:.2f}   ({detail}; target <= {TARGET_P99_RATIO}: "
        f"{verdict(p99 <= TARGET_P99_RATIO)})"
    )
    cpus = [
        (r.receiver.cpu_ms_per_request, r.floor.cpu_ms_per_request)
        for r in run.rounds
        if r.receiver.cpu_ms_per_request and r.floor.cpu_ms_per_request
    ]
    if cpus:
        receiver_cpu = statistics.median(c for c, _ in cpus)
        floor_cpu = statistics.median(f for _, f in cpus)
        print(
            f"  CPU per capture, all processes: receiver {receiver_cpu:.3f} ms,"
            f" floor {floor_cpu:.3f} ms, ratio {floor_cpu / receiver_cpu:.2f}"
        )
    written = last.written
    per = max(1, written.carts)
    print(
        f"  written per capture: {written.rows / per:.2f} rows, "
        f"{written.index_entries / per:.2f} index entries  ("
        + ", ".join(
            f"{table} {rows / per:.2f}+{entries / per:.2f}"
            for table, (rows, entries) in sorted(written.by_table.items())
        )
        + ")"
    )
    ok = True
    for number, round_ in enumerate(run.rounds, start=1):
        written, receiver = round_.written, round_.receiver
        print(
            f"  receiver database{f' (round {number})' if each else ''}: {written.carts} carts,"
            f" {written.measured} from the measured run ({receiver.acknowledged} acknowledged"
            f" with 2xx), integrity_check {written.integrity}"
        )
        if written.measured < receiver.acknowledged:
            print("LOST WRITES: fewer carts than acknowledged captures", file=sys.stderr)
            ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_receiver.py", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per app")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per app")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="receiver-then-floor pairs per backend; the ratios reported are their median",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that runs every server"
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
        f"{sys.version.split()[0]} ({args.python}); load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    runs = []
    with tempfile.TemporaryDirectory(prefix="cartback-bench-") as tmp:
        folder = Path(tmp)
        script = folder / "capture.lua"
        script.write_text(LUA_SCRIPT, encoding="utf-8")
        port = free_port()
        bare = bench(
            "bare",
            [args.python, str(BARE_APP), "--port", str(port)],
            {**os.environ, "PYTHONPATH": python_path()},
            script,
            args,
            port=port,
        )
        print(describe("bare (ceiling)", bare), flush=True)
        for name in backends:
            runs.append(run_backend(name, folder, script, args))
    results = [report(run) for run in runs]  # every backend reported, even after a loss
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
