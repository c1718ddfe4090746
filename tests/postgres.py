"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, started in a
temporary folder, on a free loopback port, stopped at the end.

``PostgresServer.start()`` runs ``initdb`` (as the ``postgres`` system user when the
tests run as root: PostgreSQL refuses to run as root) and ``pg_ctl start``; ``dsn()``
names a database on it; ``restart()`` and ``stop()`` are there for fault tests. Tests
get a schema of their own (``fresh_schema``), so one server serves the whole session.

Durability is traded for speed here (``fsync=off``): the tests restart the server
cleanly (a fast shutdown writes everything out) and never pull its power.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import psycopg

DATABASE: Final = "cartback"
ROLE: Final = "cartback"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def available() -> str | None:
    """Why no server can be started here, or ``None`` when one can."""
    if _bin_dir() is None:
        return "PostgreSQL is not installed (Debian: apt-get install -y postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres system user"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder (``durable=True``: fsync and
    synchronous commits on, as in production; benchmarks use that)."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError(available() or "PostgreSQL not found")
        self._bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="cartback-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        kwargs: dict[str, Any] = {"user": self._user} if self._user else {}
        subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
            **kwargs,
        )

    def start(self) -> None:
        """Create the cluster (first time) and start the server; waits until it accepts."""
        if not self.data.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        speed = [] if self.durable else [
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"
        ]  # fmt: skip
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                *speed,
                "-c max_connections=200",
            ]
        )
        data, log = str(self.data), str(self.log)
        self._run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start")
        with self.admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, write everything out)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    def dsn(self, *, schema: str | None = None, database: str = DATABASE) -> str:
        """A ``postgresql://`` DSN; with ``schema``, the tables live there."""
        dsn = f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"
        if schema is not None:
            dsn += "?options=" + quote(f"-csearch_path={schema}")
        return dsn

    @contextlib.contextmanager
    def admin(self, database: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        """An autocommit connection as the superuser."""
        with psycopg.connect(self.dsn(database=database), autocommit=True) as conn:
            yield conn

    @contextlib.contextmanager
    def fresh_schema(self) -> Iterator[str]:
        """A new empty schema; its DSN is ``dsn(schema=...)``. Dropped afterwards."""
        name = "t_" + secrets.token_hex(6)
        with self.admin(DATABASE) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        try:
            yield name
        finally:
            with self.admin(DATABASE) as conn:
                conn.execute(f"DROP SCHEMA {name} CASCADE")

    def pids(self) -> list[int]:
        """The server's processes: the postmaster and its children (for CPU figures)."""
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("PPid:") and int(line.split()[1]) == postmaster:
                        children.append(int(entry.name))
        return [postmaster, *children]

    def destroy(self) -> None:
        """Stop the server if it runs and remove its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
