"""The capture stage: a batch of raw capture bodies in, one reply per body out.

Parsing, checking (``Cartback.plan``) and storing (``Cartback.save``) happen here, off
the event loop, in the capture writer's thread or in the capture worker process
(``capture_process``): the web process only reads bodies and writes answers. The
requests and replies are small picklable values so that the same function serves both.

Storable captures are saved in one transaction per run of them. A refusal for an
excluded country erases what its browser session stored before; the captures ahead of
it in the batch are committed first, so the erasure sees them, as it would have had
they arrived one by one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cartback import CapturePlan, Cartback, InvalidInputError, StoreUnavailableError
from server_example.plumbing import ApiError, parse_json_object

__all__ = [
    "CaptureReply",
    "CaptureRequest",
    "Captured",
    "Failed",
    "Rejected",
    "Stage",
    "Unavailable",
    "capture_batch",
    "in_thread",
]

log = logging.getLogger("cartback.receiver.capture")


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    """One ``POST /api/capture`` as the web process read it."""

    body: bytes
    """The raw body (already bounded by ``max_body_bytes``)."""
    fallback_country: str | None = None
    """The trusted CDN country header's value, when configured and sent."""


@dataclass(frozen=True, slots=True)
class Captured:
    """Answered 200: the capture was stored, merged, unchanged, or not stored."""

    status: Literal["stored", "updated", "unchanged", "not_stored"]
    """What happened to the capture."""
    reasons: tuple[str, ...] = ()
    """Why nothing was stored (``not_stored`` only)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Answered 4xx: the body is not a capture; nothing was written."""

    status_code: int
    """400 (not a JSON object) or 422 (a field is invalid)."""
    field: str
    """The field at fault (``$`` for the body)."""
    reason: str
    """A machine-readable reason code."""
    message: str
    """A human-readable message, free of submitted values."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Answered 503 with ``Retry-After``: the database could not be reached, nothing of
    this capture may be assumed stored."""


@dataclass(frozen=True, slots=True)
class Failed:
    """An unexpected error (a bug): answered 500. Only the exception's type is kept, never
    its text, which could quote submitted values."""

    error: str
    """The exception's type name."""


CaptureReply = Captured | Rejected | Unavailable | Failed
"""What the stage answers for one ``CaptureRequest``."""

Stage = Callable[[Sequence[CaptureRequest]], Awaitable[list[CaptureReply]]]
"""The capture stage as the writer awaits it: one reply per request, in order (a
``CaptureProcess``, or ``in_thread``)."""


def in_thread(cartback: Cartback) -> Stage:
    """The stage on a thread of this process (``capture_worker="thread"``)."""

    async def stage(requests: Sequence[CaptureRequest]) -> list[CaptureReply]:
        return await asyncio.to_thread(capture_batch, cartback, requests)

    return stage


def capture_batch(cartback: Cartback, requests: Sequence[CaptureRequest]) -> list[CaptureReply]:
    """Plan and store ``requests`` in order; one reply each, in the same order."""
    replies: list[CaptureReply | None] = [None] * len(requests)
    pending: list[tuple[int, CapturePlan]] = []
    down = False

    def flush() -> None:
        nonlocal down
        if down:
            for index, _ in pending:
                replies[index] = Unavailable()
        elif pending:
            down = _save(cartback, pending, replies)
        pending.clear()

    for index, request in enumerate(requests):
        reply, plan = _plan(cartback, request)
        if plan is None:
            replies[index] = reply
        elif plan.stored:
            pending.append((index, plan))
        else:
            # On a refusal the plan keeps the session id only when the session's earlier
            # captures must go (an excluded country): erase them after what came first.
            if plan.session_id:
                flush()
                if down:
                    replies[index] = Unavailable()
                    continue
                try:
                    cartback.forget_refused(plan)
                except StoreUnavailableError:
                    down = True
                    replies[index] = Unavailable()
                    continue
                except Exception as exc:
                    log.error("session erasure failed with %s", type(exc).__name__)
                    replies[index] = Failed(type(exc).__name__)
                    continue
            replies[index] = Captured("not_stored", tuple(plan.eligibility.reasons))
    flush()
    return [reply if reply is not None else Failed("NoReply") for reply in replies]


def _plan(
    cartback: Cartback, request: CaptureRequest
) -> tuple[CaptureReply | None, CapturePlan | None]:
    try:
        data = parse_json_object(request.body)
        return None, cartback.plan(data, fallback_country=request.fallback_country)
    except ApiError as exc:
        return Rejected(exc.status, exc.field, exc.reason, exc.message), None
    except InvalidInputError as exc:
        return Rejected(422, exc.field, exc.reason, str(exc)), None
    except Exception as exc:
        log.error("capture check failed with %s", type(exc).__name__)
        return Failed(type(exc).__name__), None


def _save(
    cartback: Cartback,
    pending: Sequence[tuple[int, CapturePlan]],
    replies: list[CaptureReply | None],
) -> bool:
    """Save ``pending`` in one transaction, filling their replies; ``True`` when the
    database is unreachable (then every one of them is ``Unavailable``)."""
    try:
        outcomes = cartback.save([plan for _, plan in pending])
    except StoreUnavailableError:
        log.warning("database unavailable: %d captures refused", len(pending))
        for index, _ in pending:
            replies[index] = Unavailable()
        return True
    except Exception:
        # Isolate the failing capture so the others still commit.
        log.warning("batch of %d failed; saving one by one", len(pending))
        return _save_one_by_one(cartback, pending, replies)
    for (index, _), outcome in zip(pending, outcomes, strict=True):
        replies[index] = Captured(outcome.status)
    return False


def _save_one_by_one(
    cartback: Cartback,
    pending: Sequence[tuple[int, CapturePlan]],
    replies: list[CaptureReply | None],
) -> bool:
    down = False
    for index, plan in pending:
        if down:
            replies[index] = Unavailable()
            continue
        try:
            replies[index] = Captured(cartback.save([plan])[0].status)
        except StoreUnavailableError:
            down = True
            replies[index] = Unavailable()
        except InvalidInputError as exc:
            replies[index] = Rejected(422, exc.field, exc.reason, str(exc))
        except Exception as exc:
            log.error("capture save failed with %s", type(exc).__name__)
            replies[index] = Failed(type(exc).__name__)
    return down
