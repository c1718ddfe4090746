"""The capture worker process: the capture stage in a process of its own.

In one Python process the event loop and the capture stage take turns on one
interpreter lock, and every database call hands it over and waits to get it back, so
the stage and the HTTP work never run at once. In a process of its own, the capture
stage (parse, check, save in one transaction: ``capture_batch``) runs on the second
core while the web process only reads requests and writes answers. The two exchange a
batch of raw bodies and its replies over a socket pair, one length-prefixed pickle each
way per batch; the web process's side is read and written by its event loop.

The worker opens its own connection to the same database. It is started with
``spawn`` (the web process has threads; forking it would copy their locks), sees the
system clock, and lives exactly as long as its socket: when the web process dies, even
by SIGKILL, the worker reads the end of the stream and exits (after finishing the batches
it holds, whose answers nobody receives: those captures were never acknowledged). When
the worker dies, the batches it held are answered 503 and the next batch starts another.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import io
import logging
import multiprocessing
import pickle
import signal
import socket
import struct
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import cast

from server_example.capture_stage import CaptureReply, CaptureRequest, Unavailable, capture_batch
from server_example.settings import Settings
from server_example.wiring import build_cartback

__all__ = ["CaptureProcess", "CaptureProcessError"]

log = logging.getLogger("cartback.receiver.capture")

_SPAWN = multiprocessing.get_context("spawn")
_LENGTH = struct.Struct("!I")
_READY = "ready"


class CaptureProcessError(RuntimeError):
    """The capture worker process did not start (it says why in its log)."""


class CaptureProcess:
    """``capture_batch`` in a worker process, awaited on the event loop (the writer's
    ``Stage``). Several batches may be awaited at once: they are sent at once and
    handled in the order sent, so the worker starts the next batch while the web
    process is still answering the last.

    ``start`` waits until the worker has opened the database; ``stop`` ends it once the
    batches it holds are done. A batch while no worker runs starts one first.
    """

    def __init__(self, settings: Settings, *, start_timeout: float = 60.0) -> None:
        self._settings = settings
        self._start_timeout = start_timeout
        self._process: BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listener: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._stopping = False
        # Batches sent and not yet answered, oldest first: the worker answers in order.
        self._pending: collections.deque[tuple[asyncio.Future[list[CaptureReply]], int]] = (
            collections.deque()
        )

    @property
    def unanswered(self) -> int:
        """Captures sent to the worker and not answered yet."""
        return sum(count for _, count in self._pending)

    @property
    def pid(self) -> int | None:
        """The running worker's process id (``None`` when none runs)."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the worker and wait until it is ready; ``CaptureProcessError`` if not."""
        ours, theirs = socket.socketpair()
        process = _SPAWN.Process(
            target=_serve, args=(self._settings, theirs), name="cartback-capture", daemon=True
        )
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, process.start)
        finally:
            theirs.close()  # only the worker holds its end: its death is our end of stream
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            ready = await asyncio.wait_for(_read(reader), self._start_timeout) == _READY
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            ready = False
        if not ready:
            writer.close()
            await loop.run_in_executor(None, _end, process, 0.0)
            raise CaptureProcessError(f"the capture worker did not start (exit {process.exitcode})")
        self._process, self._writer = process, writer
        self._listener = loop.create_task(self._listen(reader), name="cartback-capture-replies")

    async def __call__(self, requests: Sequence[CaptureRequest]) -> list[CaptureReply]:
        """The worker's replies to ``requests``; all ``Unavailable`` when it died holding
        them or cannot be started."""
        async with self._starting:  # two batches at once start one worker, not two
            if self._writer is None:
                try:
                    await self.start()
                except CaptureProcessError as exc:
                    log.error("%s", exc)
                    return [Unavailable() for _ in requests]
        assert self._writer is not None
        answered: asyncio.Future[list[CaptureReply]] = asyncio.get_running_loop().create_future()
        self._pending.append((answered, len(requests)))
        try:
            _write(self._writer, list(requests))
            await self._writer.drain()
        except ConnectionError:
            pass  # the listener sees the end of the stream and answers every batch held
        return await answered

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        """Hand each reply to the batch it answers; at the end of the stream (the worker
        died), answer what it held ``Unavailable`` and forget the worker."""
        try:
            while True:
                replies = cast(list[CaptureReply], await _read(reader))
                answered, _ = self._pending.popleft()
                if not answered.done():  # its writer may have given up (a stop's timeout)
                    answered.set_result(replies)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as exc:  # a reply that cannot be read: end this worker
            log.error("unreadable reply from the capture worker: %s", type(exc).__name__)
        if self._pending:
            log.error("the capture worker exited (%d captures answered 503)", self.unanswered)
        while self._pending:
            answered, count = self._pending.popleft()
            if not answered.done():
                answered.set_result([Unavailable() for _ in range(count)])
        if not self._stopping:  # the worker died: the next batch starts another
            await self._reap(0.0)

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the worker finish the batches it holds and exit (killed after ``timeout``)."""
        writer, listener = self._writer, self._listener
        if writer is None:
            return
        self._stopping = True
        with contextlib.suppress(ConnectionError):
            _write(writer, None)
            await writer.drain()
        if listener is not None:
            # The worker answers what it holds, then closes its end: the listener ends.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(listener), timeout)
        await self._reap(timeout)

    async def _reap(self, timeout: float) -> None:
        process, writer = self._process, self._writer
        self._process, self._writer = None, None
        if writer is not None:
            writer.close()
        if process is not None:
            await asyncio.get_running_loop().run_in_executor(None, _end, process, timeout)


def _end(process: BaseProcess, timeout: float) -> None:
    """Wait ``timeout`` seconds for ``process`` to exit, then kill it."""
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()


def _write(writer: asyncio.StreamWriter, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_LENGTH.pack(len(data)) + data)


# Pickle only crosses the private socket pair between the web process and its own
# worker; a prospect's body travels inside as bytes, never unpickled.


async def _read(reader: asyncio.StreamReader) -> object:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))  # noqa: S301


def _serve(settings: Settings, sock: socket.socket) -> None:
    """The worker's loop: a batch in, its replies out, until ``None`` or end of stream."""
    # Ctrl-C reaches the whole process group; the web process stops the worker itself,
    # after the captures it queued are stored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cartback = build_cartback(settings)
    except Exception as exc:  # e.g. the database is down: the web process says so
        log.error("the capture worker could not open the database: %s", type(exc).__name__)
        return
    _freeze_startup_objects()
    stream = sock.makefile("rwb")
    try:
        _send(stream, _READY)
        while (batch := _receive(stream)) is not None:
            _send(stream, capture_batch(cartback, batch))
    except (EOFError, OSError):
        pass  # the web process is gone: nobody waits for an answer
    finally:
        cartback.store.close()


def _freeze_startup_objects() -> None:
    """Leave what startup made (modules, schemas, the store) out of every later garbage
    collection: it lives as long as the process, and scanning it again and again cost
    the worker about a tenth of its CPU time per capture (``bench/bench_receiver.py``)."""
    gc.collect()
    gc.freeze()


def _send(stream: io.BufferedIOBase, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: io.BufferedIOBase) -> list[CaptureRequest] | None:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    batch: list[CaptureRequest] | None = pickle.loads(data)  # noqa: S301
    return batch
