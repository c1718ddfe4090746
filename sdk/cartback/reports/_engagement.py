"""What a prospect did with a recovery message: the per-message engagement vocabulary.

An ``Engagement`` is one fact about one message: the provider delivered it, the tracking
pixel saw it opened, a recovery link in it was clicked, the prospect replied to it or
unsubscribed through it, or an order that followed it was credited to it. The receiver's
endpoints and the SDK record them; reports read them.

A click arrives as a cart id, a time and the link's UTM parameters (the recovery token
names the cart, not the message); ``click_engagement`` finds the message it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Final, Literal, Self, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cartback._models import MessageRecord

__all__ = [
    "ENGAGEMENT_KINDS",
    "UTM_KINDS",
    "Engagement",
    "EngagementKind",
    "click_engagement",
    "utm_content_of",
]

EngagementKind = Literal["delivered", "opened", "clicked", "replied", "unsubscribed", "ordered"]
"""What happened to a message: ``delivered`` (the provider's delivery receipt),
``opened`` (the email's tracking pixel loaded, where the shop enables it), ``clicked``
(a recovery link in it was opened), ``replied`` (the prospect answered it),
``unsubscribed`` (its unsubscribe link, or a ``STOP`` reply, withdrew consent),
``ordered`` (the order that closed its cart was credited to it)."""

ENGAGEMENT_KINDS: Final[tuple[EngagementKind, ...]] = get_args(EngagementKind)

UTM_KINDS: Final[frozenset[EngagementKind]] = frozenset({"clicked", "ordered"})
"""The kinds that may carry UTM parameters (a click's link; the click an order followed)."""

_UTM_NAMES: Final = frozenset(
    {"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"}
)
_MAX_UTM_VALUE: Final = 256


class Engagement(BaseModel):
    """One engagement with one recovery message. Frozen: a fact about the past, never
    edited; a second open of the same email is a second value."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    message_id: str = Field(min_length=1, max_length=128)
    """The message (``MessageRecord.id``)."""
    cart_id: str = Field(min_length=1, max_length=128)
    """The cart the message is about."""
    kind: EngagementKind
    """``delivered``, ``opened``, ``clicked``, ``replied``, ``unsubscribed`` or ``ordered``."""
    at: AwareDatetime
    """When it happened (stored in UTC)."""
    utm: dict[str, str] = Field(default_factory=dict)
    """The link's UTM parameters, for ``clicked`` and ``ordered`` only."""

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("utm")
    @classmethod
    def _utm_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if name not in _UTM_NAMES:
                raise ValueError("only utm_source, utm_medium, utm_campaign, utm_content, utm_term")
            if len(text) > _MAX_UTM_VALUE:
                raise ValueError("a UTM value is at most 256 characters")
        return value

    @model_validator(mode="after")
    def _utm_kind(self) -> Self:
        if self.utm and self.kind not in UTM_KINDS:
            raise ValueError("only a click or an order carries UTM parameters")
        return self


def utm_content_of(message: MessageRecord) -> str | None:
    """The ``utm_content`` a message's links carry: its step, and ``:variant`` when it
    has one (as ``cartback.messages.utm_content`` writes it); ``None`` without a step."""
    if message.step_id is None:
        return None
    return f"{message.step_id}:{message.variant}" if message.variant else message.step_id


def click_engagement(
    cart_id: str,
    at: datetime,
    utm: Mapping[str, str],
    messages: Iterable[MessageRecord],
) -> Engagement | None:
    """The ``clicked`` engagement of a recovery-link click on ``cart_id`` at ``at``.

    The click belongs to a message about the same cart that was sent at or before the
    click: the latest one whose channel, flow and step (and variant) match the link's
    ``utm_medium``, ``utm_campaign`` and ``utm_content``; failing that, the latest whose
    channel matches ``utm_medium``; failing that (a link without UTM parameters), the
    latest sent message. ``None`` when no message about the cart was sent before the
    click (a link the shop shared some other way): such a click credits no message.
    """
    medium = utm.get("utm_medium")
    campaign = utm.get("utm_campaign")
    content = utm.get("utm_content")
    best: tuple[int, datetime, str] | None = None
    for message in messages:
        if message.cart_id != cart_id or message.status != "sent" or message.at > at:
            continue
        if medium is not None and message.channel != medium:
            continue
        exact = (
            medium is not None
            and (campaign is None or message.flow_id == campaign)
            and (content is None or utm_content_of(message) == content)
        )
        rank = (1 if exact else 0, message.at, message.id)
        if best is None or rank > best:
            best = rank
    if best is None:
        return None
    kept = {name: value[:_MAX_UTM_VALUE] for name, value in utm.items() if name in _UTM_NAMES}
    return Engagement(message_id=best[2], cart_id=cart_id, kind="clicked", at=at, utm=kept)
