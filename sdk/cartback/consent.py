"""The consent ledger's rules: may we reach this prospect on this channel now?

The ledger itself is append-only and lives in the store; this module only decides
from a prospect's events, so the answer is a pure function of the ledger and time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal

from cartback._models import ConsentEvent
from cartback._types import Channel

__all__ = ["DEFAULT_CONSENT", "ConsentDecision", "decide_consent", "ledger_changes"]

DEFAULT_CONSENT: Final[Mapping[Channel, bool]] = MappingProxyType(
    {
        "email": True,
        "sms": False,
        "push": False,
        "newsletter": False,
        "messenger": False,
        "instagram": False,
    }
)
"""What the ledger answers for a channel with no events at all: a recovery email to
the address the prospect typed on the order form is the default channel; SMS, push and
the newsletter need an explicit grant."""


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """The answer for one prospect, channel and time, with the event that decided it."""

    allowed: bool
    """Whether the prospect may be contacted."""
    basis: Literal["granted", "withdrawn", "default"]
    """What decided: the latest event's action, or the channel's default."""
    event: ConsentEvent | None
    """The deciding event, when there is one."""


def decide_consent(
    events: Iterable[ConsentEvent],
    channel: Channel,
    at: datetime,
    *,
    defaults: Mapping[Channel, bool] = DEFAULT_CONSENT,
) -> ConsentDecision:
    """Answer from the events of one prospect.

    Only events on ``channel`` at or before ``at`` count; the latest one decides, and
    a withdrawal at the same instant as a grant wins. A withdrawal is final until a
    later grant.
    """
    latest: ConsentEvent | None = None
    for event in events:
        if event.channel != channel or event.at > at:
            continue
        if (
            latest is None
            or event.at > latest.at
            or (event.at == latest.at and event.action == "withdrawn")
        ):
            latest = event
    if latest is None:
        return ConsentDecision(allowed=defaults.get(channel, False), basis="default", event=None)
    return ConsentDecision(allowed=latest.action == "granted", basis=latest.action, event=latest)


def ledger_changes(
    history: Sequence[ConsentEvent], candidates: Iterable[ConsentEvent]
) -> list[ConsentEvent]:
    """The ``candidates`` that change what is in force, in order.

    A grant while a grant is in force, or a withdrawal while nothing is granted (no
    events at all counts as nothing granted), changes nothing and is left out; a
    candidate kept counts for the ones after it.
    """
    seen = list(history)
    kept: list[ConsentEvent] = []
    for event in candidates:
        in_force = decide_consent(seen, event.channel, event.at, defaults={}).allowed
        if in_force == (event.action == "granted"):
            continue
        kept.append(event)
        seen.append(event)
    return kept
