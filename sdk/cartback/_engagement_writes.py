"""Recording engagements with recovery messages, inside ``Store.write``.

What reports count comes from here: a delivery receipt or an open names its message; a
click, a reply or an unsubscribe names a cart (or a prospect), and the message it came
from is found among that cart's sent messages. A fact that matches no sent message is
not an engagement (a link the shop shared some other way, a reply out of the blue).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from cartback._errors import InvalidInputError, MessageNotFoundError
from cartback._models import MessageRecord, Reply
from cartback._types import MessageChannel
from cartback.reports._engagement import Engagement, EngagementKind, click_engagement
from cartback.store._protocol import Changes, ReadTransaction

__all__ = [
    "RECORDABLE_KINDS",
    "click_engaged",
    "latest_sent",
    "record_engagement",
    "reply_engaged",
    "unsubscribe_engaged",
]

RECORDABLE_KINDS: Final[frozenset[EngagementKind]] = frozenset(
    {"delivered", "opened", "clicked", "replied", "unsubscribed"}
)
"""What a caller may record by message id (an ``ordered`` credit is worked out by the
reports, from the order and the messages before it)."""


def latest_sent(
    messages: Iterable[MessageRecord],
    *,
    at: datetime,
    channel: MessageChannel | None = None,
) -> MessageRecord | None:
    """The latest message sent at or before ``at`` (on ``channel``, when given)."""
    best: MessageRecord | None = None
    for record in messages:
        if record.status != "sent" or record.at > at:
            continue
        if channel is not None and record.channel != channel:
            continue
        if best is None or (record.at, record.id) > (best.at, best.id):
            best = record
    return best


def record_engagement(
    tx: ReadTransaction, message_id: str, kind: EngagementKind, at: datetime
) -> Engagement:
    """Record that ``message_id`` was delivered, opened, clicked, replied to or
    unsubscribed from at ``at``. Raises ``MessageNotFoundError`` for an unknown message
    and ``InvalidInputError`` for a kind that cannot be recorded, or for a message that
    was never sent (only a sent message can be engaged with)."""
    if kind not in RECORDABLE_KINDS:
        raise InvalidInputError(
            "kind must be delivered, opened, clicked, replied or unsubscribed",
            field="kind",
            reason="invalid",
        )
    record = tx.message_records([message_id]).get(message_id)
    if record is None:
        raise MessageNotFoundError("no such message", message_id=message_id)
    if record.status != "sent":
        raise InvalidInputError("the message was not sent", field="message_id", reason="not_sent")
    engagement = Engagement(message_id=record.id, cart_id=record.cart_id, kind=kind, at=at)
    tx.apply(Changes(engagements=(engagement,)))
    return engagement


def click_engaged(
    tx: ReadTransaction, cart_id: str, at: datetime, utm: Mapping[str, str]
) -> Engagement | None:
    """The ``clicked`` engagement of a recovery-link click (``None``: no message about
    the cart was sent before it)."""
    messages = tx.messages_of([cart_id]).get(cart_id, [])
    return click_engagement(cart_id, at, utm, messages)


def reply_engaged(tx: ReadTransaction, reply: Reply) -> Engagement | None:
    """The ``replied`` engagement of ``reply``: with the message it names, else the
    latest message sent on its channel to the prospect (about its cart, when named)."""
    if reply.message_id is not None:
        named = tx.message_records([reply.message_id]).get(reply.message_id)
        if named is not None and named.status == "sent" and named.prospect == reply.prospect:
            return Engagement(
                message_id=named.id, cart_id=named.cart_id, kind="replied", at=reply.at
            )
    if reply.cart_id is not None:
        cart_ids = [reply.cart_id]
    else:
        cart_ids = [cart.id for cart in tx.carts_of([reply.prospect]).get(reply.prospect, [])]
    messages = [m for found in tx.messages_of(cart_ids).values() for m in found]
    latest = latest_sent(messages, at=reply.at, channel=reply.channel)
    if latest is None or latest.prospect != reply.prospect:
        return None
    return Engagement(message_id=latest.id, cart_id=latest.cart_id, kind="replied", at=reply.at)


def unsubscribe_engaged(
    tx: ReadTransaction,
    cart_ids: Iterable[str],
    channel: str,
    at: datetime,
    *,
    message_id: str | None = None,
) -> Engagement | None:
    """The ``unsubscribed`` engagement of a withdrawal on ``channel``: against the
    message named (an unsubscribe link in it), else the latest sent on that channel
    about these carts. ``None`` when no such message was sent."""
    wanted = list(cart_ids)
    messages = [m for found in tx.messages_of(wanted).values() for m in found]
    if message_id is not None:
        named = next((m for m in messages if m.id == message_id), None)
        if named is not None and named.status == "sent":
            return Engagement(
                message_id=named.id, cart_id=named.cart_id, kind="unsubscribed", at=at
            )
    latest = latest_sent((m for m in messages if m.channel == channel), at=at)
    if latest is None:
        return None
    return Engagement(message_id=latest.id, cart_id=latest.cart_id, kind="unsubscribed", at=at)
