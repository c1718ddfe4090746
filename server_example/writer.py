"""Group commit: captures from many requests share one transaction.

With durable writes every commit waits for the disk; one commit per request caps a
receiver at the disk's fsync rate. The writer, a task on the event loop, takes whatever
captures are waiting (up to ``max_batch``), hands them to the capture stage as one
batch (which checks them and saves the storable ones in one transaction:
``capture_stage``, in the capture worker process or a thread of this one), then answers
each request. A request is answered only after its capture is durable.

Everything here runs on the event loop: the stage is awaited, and its replies settle
the requests' futures directly, with no hand-over between threads.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence

from server_example.capture_stage import CaptureReply, CaptureRequest, Stage, Unavailable

__all__ = ["CaptureWriter", "WriterOverloadedError"]

log = logging.getLogger("cartback.receiver.writer")

_Item = tuple[CaptureRequest, "asyncio.Future[CaptureReply]"]


class WriterOverloadedError(Exception):
    """The writer's queue is full; the caller should answer 503 with Retry-After."""


class CaptureWriter:
    """Batches captures for the stage; ``start`` and ``stop`` it on the event loop.

    When the stage answers ``Unavailable`` (the database is unreachable), for
    ``backoff`` seconds after that batches are answered ``Unavailable`` at once rather
    than each waiting for a connection timeout. ``in_flight`` batches may be with the
    stage at once (a stage that handles them in the order given: ``CaptureProcess``).
    """

    def __init__(
        self,
        stage: Stage,
        *,
        max_batch: int = 64,
        max_queue: int = 10_000,
        in_flight: int = 1,
        backoff: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stage = stage
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._backoff = backoff
        self._monotonic = monotonic
        self._unavailable_until = 0.0
        self._queue: collections.deque[_Item] = collections.deque()
        self._waiting = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight = in_flight
        self._commits: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cartback-writer")

    def submit(self, request: CaptureRequest) -> asyncio.Future[CaptureReply]:
        """Queue a capture; the future resolves to its reply once it is durable."""
        if len(self._queue) >= self._max_queue or self._stopping:
            raise WriterOverloadedError
        future: asyncio.Future[CaptureReply] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._waiting.set()
        return future

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop (bounded by ``timeout``)."""
        self._stopping = True
        self._waiting.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.error("writer stopped with %d captures unanswered", len(self._queue))

    async def _run(self) -> None:
        while True:
            if len(self._commits) >= self._in_flight:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            if not self._queue:
                if self._stopping:
                    await asyncio.gather(*self._commits)
                    return
                self._waiting.clear()
                await self._waiting.wait()
                continue
            count = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(count)]
            commit = asyncio.get_running_loop().create_task(self._commit(batch))
            self._commits.add(commit)
            commit.add_done_callback(self._finished)

    def _finished(self, commit: asyncio.Task[None]) -> None:
        self._commits.discard(commit)
        self._slot_freed.set()

    async def _commit(self, batch: list[_Item]) -> None:
        replies: Sequence[CaptureReply | BaseException]
        if self._monotonic() < self._unavailable_until:
            # Fail fast, without extending the window: under steady load a batch arrives
            # every moment, and the database must be tried again once the window ends.
            replies = [Unavailable()] * len(batch)
        else:
            try:
                replies = await self._stage([request for request, _ in batch])
            except Exception as exc:  # a bug in the stage: each request answers 500
                log.error("capture stage failed with %s", type(exc).__name__)
                replies = [exc] * len(batch)
            if any(isinstance(reply, Unavailable) for reply in replies):
                self._unavailable_until = self._monotonic() + self._backoff
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the request went away
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)
