"""The baselines for ``bench_receiver.py``: a bare Starlette app with one JSON endpoint.

``POST /api/capture`` reads the body, parses it as JSON and answers a small JSON
object, the same shape the receiver answers; nothing is validated. It runs under the
same uvicorn settings as ``python -m server_example`` so that the ratio of the two
throughputs is the cost of the receiver's own work (validation, eligibility, capture,
durable SQLite writes).

With ``--durable PATH`` the same endpoint also stores each body, as one row, in a SQLite
file (WAL, ``synchronous=FULL``) before it answers, group-committed by one writer thread
the way the receiver's writer commits; with ``--durable postgresql://...`` in a
PostgreSQL table the same way (one multi-row insert and one commit per batch). That is
the least any receiver can do that acknowledges a capture only once it is durable: no
validation, one insert, one shared commit. Its figures bound what a receiver can reach
on the machine with that database.

    python bench/bare_app.py --port 8001 [--durable PATH | --durable postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import sqlite3
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_Pending = tuple[bytes, "asyncio.Future[None]"]


class DurableLog:
    """Rows of raw bodies, committed in batches by one thread; a future per body."""

    def __init__(self, path: str, *, max_batch: int = 64) -> None:
        self._path = path
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="durable-log", daemon=True).start()

    def append(self, body: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((body, future))
        return future

    def _run(self) -> None:
        if self._path.startswith(("postgresql://", "postgres://")):
            self._run_postgres()
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE IF NOT EXISTS captures (id INTEGER PRIMARY KEY, body BLOB)")
        while True:
            batch = self._batch()
            marks = ", ".join(["(?)"] * len(batch))
            db.execute("BEGIN")
            db.execute(f"INSERT INTO captures (body) VALUES {marks}", [b for b, _ in batch])
            db.execute("COMMIT")
            self._answer(batch)

    def _run_postgres(self) -> None:
        import psycopg

        with psycopg.connect(self._path, autocommit=True) as db:
            db.execute("CREATE TABLE IF NOT EXISTS captures (id bigserial PRIMARY KEY, body bytea)")
            while True:
                batch = self._batch()
                marks = ", ".join(["(%s)"] * len(batch))
                with db.transaction():
                    db.execute(f"INSERT INTO captures (body) VALUES {marks}", [b for b, _ in batch])
                self._answer(batch)

    def _batch(self) -> list[_Pending]:
        batch = [self._queue.get()]
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    @staticmethod
    def _answer(batch: list[_Pending]) -> None:
        futures = [future for _, future in batch]
        futures[0].get_loop().call_soon_threadsafe(_settle, futures)


def _settle(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def make_app(durable: str | None = None) -> Starlette:
    log = DurableLog(durable) if durable is not None else None

    async def capture(request: Request) -> JSONResponse:
        body = await request.body()
        data = json.loads(body)
        status = "stored" if isinstance(data, dict) else "not_stored"
        if log is not None:
            await log.append(body)
        return JSONResponse({"status": status, "reasons": []})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/api/capture", capture, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/bare_app.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--durable", help="SQLite file or postgresql:// DSN to store each body in")
    args = parser.parse_args(argv)
    # The same settings as server_example/__main__.py.
    uvicorn.run(
        make_app(args.durable),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
