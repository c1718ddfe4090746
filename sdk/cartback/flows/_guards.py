"""The guards every planned message passes, as one frozen, serialisable policy.

Each guard can be turned off or tuned; when one skips or defers a step, the plan names
it with a stable reason code (see ``PlanReason``). Defaults follow references 002/003:
smart sending (16 h between emails, 24 h between SMS, pushes and social messages, to
one prospect across every cart and flow), no push within an hour of another message and
no push on two days running, quiet hours from 21:00 to 08:00 in the prospect's zone,
a reply pausing the flow.
"""

from __future__ import annotations

import zoneinfo
from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.flows._durations import Duration, LocalTime

__all__ = ["CapMode", "Guards", "OverallCap", "QuietHours"]

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

CapMode = Literal["skip", "defer"]
"""What a frequency cap does to a message it holds back: ``skip`` it (smart sending:
the flow goes on without it) or ``defer`` it until the cap allows it."""


def _known_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error
    return name


class QuietHours(BaseModel):
    """A nightly window, in the prospect's local time, when nothing is sent; a message
    that falls inside it waits for its end. ``start`` after ``end`` spans midnight."""

    model_config = _FROZEN

    start: LocalTime = time(21, 0)
    """When the quiet window opens (local)."""
    end: LocalTime = time(8, 0)
    """When it closes (local); messages held back go out from then."""
    channels: frozenset[MessageChannel] = frozenset(MESSAGE_CHANNELS)
    """The channels it applies to (all by default)."""


class OverallCap(BaseModel):
    """At most ``limit`` messages to one prospect within any ``window``, counting every
    channel, cart and flow."""

    model_config = _FROZEN

    limit: int = Field(default=3, ge=1)
    """How many messages the window may hold."""
    window: Duration = timedelta(hours=24)
    """The rolling window."""


def _default_caps() -> dict[MessageChannel, timedelta]:
    return {
        "email": timedelta(hours=16),
        "sms": timedelta(hours=24),
        "push": timedelta(hours=24),
        "messenger": timedelta(hours=24),
        "instagram": timedelta(hours=24),
    }


class Guards(BaseModel):
    """What the planner checks before every message. Frozen: share one per shop.

    Serialise with ``model_dump_json()``; load with ``Guards.model_validate_json()``.
    """

    model_config = _FROZEN

    exit_on_order: bool = True
    """Exit as soon as the cart is ``ordered`` (reason ``ordered``)."""
    exit_on_purchase: bool = True
    """Exit when a purchase was tracked for the prospect since the enrolment began
    (reason ``purchased``), whichever cart it closed."""
    exit_on_withdrawal: bool = True
    """Exit when consent is withdrawn on every channel the rest of the flow could use
    (reason ``consent_withdrawn``)."""
    channel_caps: dict[MessageChannel, Duration] = Field(default_factory=_default_caps)
    """Smart sending: the least time between two messages on one channel to one
    prospect, across carts and flows (reason ``channel_cap``). A channel not listed
    (or ``0m``) has no cap."""
    overall_cap: OverallCap | None = OverallCap()
    """A cap over every channel (reason ``overall_cap``); none when ``None``."""
    on_cap: CapMode = "skip"
    """``skip`` (smart sending) or ``defer`` a message a cap holds back."""
    push_window: Duration | None = timedelta(hours=1)
    """No push within this long after another message, and no other message within
    this long after a push (deferred, reason ``push_near_message``)."""
    push_min_gap: Duration | None = timedelta(hours=48)
    """No daily push: at least this long between two pushes (deferred, reason
    ``no_daily_push``); 48 h means never on two calendar days running."""
    quiet_hours: QuietHours | None = QuietHours()
    """Deferred, never dropped (reason ``quiet_hours``); none when ``None``."""
    fallback_time_zone: Annotated[str, AfterValidator(_known_zone)] = "UTC"
    """The zone used when the prospect's cannot be told from their country and phone
    (set it to the shop's own, e.g. ``America/New_York``)."""
    recent_flow: Duration | None = None
    """When set, a prospect who was sent a message for another cart within this long
    before this enrolment began is not contacted again (exit, reason ``recent_flow``)."""
    pause_on_reply: bool = True
    """A reply to a recovery message pauses the flow (reason ``replied``)."""
    reply_pause: Duration | None = None
    """How long a reply pauses the flow; until staff resume it when ``None``."""
    submitted_wait: Duration | None = timedelta(hours=2)
    """While the cart is ``submitted`` (the browser saw the form sent, the order is not
    confirmed yet), hold messages back until this long after the submission (reason
    ``awaiting_order``); a payment failure reported since ends the wait at once."""
    audience_templates: frozenset[str] = frozenset({"instagram_audience"})
    """Templates that add the prospect to an ad audience rather than message them: caps,
    quiet hours and the push window neither apply to nor count them."""
