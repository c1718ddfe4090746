"""What the planner reads about a prospect, and the typed "track" value splits use.

``ProspectFacts`` is built per planning call (a plain frozen dataclass: it sits on the
dispatcher's hot path). ``track`` makes the ``Activity`` value that records site and app
activity, custom engagement metrics and purchases: consent-neutral facts about what
the prospect did, erased with the prospect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from cartback._clock import ensure_utc
from cartback._errors import InvalidInputError
from cartback._models import (
    Activity,
    ActivityKind,
    Cart,
    MessageRecord,
    PushDevice,
    SocialRecipient,
)
from cartback._types import MessageChannel
from cartback.consent import ConsentDecision

__all__ = ["ProspectFacts", "track"]

_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


@dataclass(frozen=True, slots=True)
class ProspectFacts:
    """Everything about one prospect and cart that a plan depends on, read live."""

    cart: Cart
    """The live cart (status, value, contact)."""
    consent: Mapping[MessageChannel, ConsentDecision] = field(default_factory=dict)
    """The consent decision per channel at planning time (``decide_consent``); a channel
    left out gets its default (email allowed, every other channel not)."""
    history: Sequence[MessageRecord] = ()
    """The prospect's recovery messages across every cart and flow, any order."""
    activity: Sequence[Activity] = ()
    """The prospect's tracked activity: site/app activity, metrics, purchases."""
    devices: Sequence[PushDevice] = ()
    """The prospect's push devices (invalidated ones are ignored)."""
    recipients: Sequence[SocialRecipient] = ()
    """The prospect's Messenger and Instagram recipient ids."""
    earlier_abandonments: Sequence[datetime] = ()
    """When the prospect's earlier abandoned carts were created (this cart excluded)."""
    replied_at: datetime | None = None
    """When the prospect last replied to a recovery email or SMS, if ever."""


def track(
    prospect: str,
    kind: ActivityKind,
    *,
    at: datetime,
    name: str | None = None,
    value: Decimal | int | str | None = None,
) -> Activity:
    """A checked ``Activity``: ``at`` must be timezone-aware (stored in UTC); a
    ``metric`` needs a ``name``, normalised to lower case with ``_`` for spaces
    (``"Profile completed"`` -> ``profile_completed``); ``value`` is a decimal amount.

    Raises ``InvalidInputError`` (``field``/``reason``) for anything else.
    """
    if not prospect:
        raise InvalidInputError("a prospect key is required", field="prospect", reason="missing")
    when = ensure_utc(at, name="at")
    normalised = None
    if name is not None:
        normalised = "_".join(name.strip().lower().split())
        if not _NAME.fullmatch(normalised):
            raise InvalidInputError(
                "a name is 1-64 letters, digits, '_', '.', ':' or '-'",
                field="name",
                reason="invalid_name",
            )
    elif kind == "metric":
        raise InvalidInputError("a metric needs a name", field="name", reason="missing")
    amount = None
    if value is not None:
        try:
            amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise InvalidInputError(
                "value must be a decimal number", field="value", reason="not_a_number"
            ) from None
        if not amount.is_finite():
            raise InvalidInputError(
                "value must be a finite number", field="value", reason="not_a_number"
            )
    return Activity(prospect=prospect, kind=kind, at=when, name=normalised, value=amount)
