"""Group commit: captures from many requests share one SQLite transaction.

With durable writes every commit waits for the disk; one commit per request caps a
receiver at the disk's fsync rate. A single writer thread drains whatever captures
are waiting (up to ``max_batch``), saves them in one transaction, then answers each
request. A request is answered only after its capture is durable.

Answers go back to the event loop in one call per batch, not one per capture: each
wake-up of the loop from another thread is a system call and a turn of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from cartback import CapturePlan, SaveOutcome, StoreUnavailableError

__all__ = ["CaptureWriter", "WriterOverloadedError"]

Save = Callable[[Sequence[CapturePlan]], list[SaveOutcome]]
"""Saves plans in one transaction (``Cartback.save``)."""

log = logging.getLogger("cartback.receiver.writer")

_Item = tuple[CapturePlan, "asyncio.Future[SaveOutcome]"]
_Settled = tuple["asyncio.Future[SaveOutcome]", SaveOutcome | BaseException]


class WriterOverloadedError(Exception):
    """The writer's queue is full; the caller should answer 503 with Retry-After."""


class CaptureWriter:
    """A writer thread in front of ``save``; start it, submit plans, stop it.

    When the database is unreachable, a batch fails with ``StoreUnavailableError`` as a
    whole (each request answers 503), and for ``backoff`` seconds after that the
    batches fail at once rather than each waiting for a connection timeout.
    """

    def __init__(
        self,
        save: Save,
        *,
        max_batch: int = 64,
        max_queue: int = 10_000,
        backoff: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._save = save
        self._backoff = backoff
        self._monotonic = monotonic
        self._unavailable_until = 0.0
        self._max_batch = max_batch
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="cartback-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, plan: CapturePlan) -> asyncio.Future[SaveOutcome]:
        """Queue a plan; the future resolves once it is committed.

        Call it from the event loop that awaits the future.
        """
        future: asyncio.Future[SaveOutcome] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((plan, future))
        except queue.Full:
            raise WriterOverloadedError from None
        return future

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop (bounded by ``timeout``)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[_Item]) -> None:
        settled: list[_Settled]
        if self._monotonic() < self._unavailable_until:
            # Fail fast, without extending the window: under steady load a batch arrives
            # every moment, and the database must be tried again once the window ends.
            refused = StoreUnavailableError("the database was unreachable a moment ago")
            self._answer([(future, refused) for _, future in batch])
            return
        try:
            outcomes = self._save([plan for plan, _ in batch])
            settled = [
                (future, outcome) for (_, future), outcome in zip(batch, outcomes, strict=True)
            ]
        except StoreUnavailableError as exc:
            self._unavailable_until = self._monotonic() + self._backoff
            log.warning("database unavailable: %d captures refused", len(batch))
            settled = [(future, exc) for _, future in batch]
        except Exception:
            # Isolate the failing capture so the others still commit.
            log.warning("batch of %d failed; retrying one by one", len(batch))
            settled = []
            for plan, future in batch:
                try:
                    settled.append((future, self._save([plan])[0]))
                except Exception as exc:
                    settled.append((future, exc))
        self._answer(settled)

    def _answer(self, settled: list[_Settled]) -> None:
        loops: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
        for future, result in settled:
            loops.setdefault(future.get_loop(), []).append((future, result))
        for loop, results in loops.items():
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, results)


def _settle(results: list[_Settled]) -> None:
    """On the event loop: answer each waiting request (unless it went away)."""
    for future, result in results:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
