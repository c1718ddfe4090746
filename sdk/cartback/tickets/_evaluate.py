"""Evaluating ticket rules: a cart, the prospect's earlier carts, their consent and the
time in; ticket drafts out. Pure: the store, the clock and the outbox stay outside.

Only open carts draft tickets (an ordered cart needs no follow-up; a submitted one is
waiting for its order). Each draft carries a dedupe key: ``<rule>:cart:<cart id>`` for
once-per-cart rules, ``<rule>:prospect:<digest>:<window>`` for once-per-period rules,
where ``digest`` is a hash of the prospect key (no email in a key) and ``window`` the
number of whole periods since the Unix epoch. The store keeps the keys unique, so
evaluating the same cart again (on every capture, on a schedule) drafts nothing new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from cartback._clock import ensure_utc
from cartback._models import Cart, ConsentEvent, Contact, MessageRecord
from cartback._types import CHANNELS, CartStatus, Channel, PaymentFailureReason
from cartback.consent import ConsentDecision, decide_consent
from cartback.flows import Enrolment
from cartback.reports._segments import SegmentContext
from cartback.tickets._rules import (
    AbandonmentsCondition,
    AnyOfCondition,
    CartValueCondition,
    ConsentCondition,
    FormCondition,
    PhoneCondition,
    ProductCondition,
    SegmentCondition,
    TicketCondition,
    TicketKind,
    TicketPriority,
    TicketRule,
    TicketRuleSet,
)

__all__ = [
    "AbandonedCart",
    "AbandonmentHistory",
    "CartSummary",
    "ChannelConsent",
    "TicketDraft",
    "consent_by_channel",
    "evaluate_ticket_rules",
]

_FROZEN: Final = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_HISTORY_SHOWN: Final = 10


class CartSummary(BaseModel):
    """The cart as the salesperson needs it."""

    model_config = _FROZEN

    cart_id: str
    """The cart."""
    form_id: str
    """The order form."""
    product_id: str | None
    """The product's id."""
    product_name: str | None
    """The product's name."""
    cart_value: Decimal | None
    """The cart's value."""
    currency: str | None
    """Its currency."""
    created_at: datetime
    """When the prospect's data was first captured (UTC)."""
    updated_at: datetime
    """When it last changed (UTC)."""
    step: int | None
    """The furthest step of a multi-step form reached."""
    last_field: str | None
    """The input touched last (a name, never a value)."""
    payment_failures: int
    """Failed payment attempts on the cart."""
    last_payment_failure: PaymentFailureReason | None
    """The reason of the latest one (card declined, ...)."""


class AbandonedCart(BaseModel):
    """One of the prospect's carts in the history."""

    model_config = _FROZEN

    cart_id: str
    """The cart."""
    created_at: datetime
    """When it was captured (UTC)."""
    form_id: str
    """The order form."""
    product_id: str | None
    """The product's id."""
    product_name: str | None
    """The product's name."""
    cart_value: Decimal | None
    """Its value."""
    currency: str | None
    """Its currency."""
    status: CartStatus
    """``open``, ``submitted`` or ``ordered`` (recovered later)."""


class AbandonmentHistory(BaseModel):
    """The prospect's abandonments, this cart included."""

    model_config = _FROZEN

    total: int
    """Carts of the prospect known to the store."""
    ordered: int
    """How many of them were later ordered."""
    first_at: datetime
    """The first one's capture time (UTC)."""
    last_at: datetime
    """The latest one's capture time (UTC)."""
    recent: tuple[AbandonedCart, ...]
    """The latest carts, newest first (at most ten)."""


class ChannelConsent(BaseModel):
    """Whether the prospect may be contacted on one channel, and on what basis."""

    model_config = _FROZEN

    channel: Channel
    """The channel."""
    allowed: bool
    """May the salesperson (or a flow) use it."""
    basis: Literal["granted", "withdrawn", "default"]
    """The latest grant, the latest withdrawal, or the channel's default."""
    since: datetime | None
    """When the deciding event happened; ``None`` for a default."""


class TicketDraft(BaseModel):
    """A ticket to create, unless one with the same ``dedupe_key`` exists. It holds the
    prospect's contact data: treat it like a cart (no logs)."""

    model_config = _FROZEN

    dedupe_key: str
    """At most one ticket per key."""
    rule_id: str
    """The rule that fired."""
    kind: TicketKind
    """What the task is."""
    title: str
    """The rule's title."""
    priority: TicketPriority
    """The rule's priority."""
    reasons: tuple[str, ...]
    """Why it fired, one short line per condition (no personal data)."""
    prospect: str | None
    """The prospect key (lower-cased email, or ``tel:`` + E.164)."""
    contact: Contact
    """How to reach the prospect."""
    cart: CartSummary
    """The cart."""
    history: AbandonmentHistory
    """The prospect's abandonments."""
    consent: tuple[ChannelConsent, ...]
    """Consent per channel, in the order of ``CHANNELS``."""
    created_at: datetime
    """When it was drafted (UTC)."""
    recovery_link: str | None = None
    """A link that reopens the pre-filled order form (added by the caller)."""

    def with_recovery_link(self, url: str) -> TicketDraft:
        """The same draft with ``recovery_link`` set."""
        return self.model_copy(update={"recovery_link": url})


def _same_prospect(cart: Cart, history: Sequence[Cart]) -> list[Cart]:
    """This cart and the prospect's other carts, each once, newest first."""
    key = cart.contact.prospect_key
    carts = {cart.id: cart}
    for earlier in history:
        if key is not None and earlier.contact.prospect_key == key:
            carts.setdefault(earlier.id, earlier)
    return sorted(carts.values(), key=lambda one: (one.created_at, one.id), reverse=True)


def _money(value: Decimal, currency: str | None) -> str:
    return f"{value} {currency}" if currency else str(value)


def _period_text(period: timedelta) -> str:
    if period % timedelta(days=1) == timedelta(0):
        days = period // timedelta(days=1)
        return f"{days} day" + ("" if days == 1 else "s")
    hours = period / timedelta(hours=1)
    return f"{hours:g} hours"


class _Facts:
    """What conditions are judged on, computed once per evaluation."""

    def __init__(
        self,
        cart: Cart,
        carts: list[Cart],
        consent: Mapping[Channel, ConsentDecision],
        now: datetime,
        enrolment: Enrolment | None = None,
        messages: Sequence[MessageRecord] = (),
    ) -> None:
        self.cart = cart
        self.carts = carts
        self.consent = consent
        self.now = now
        self.enrolment = enrolment
        self.messages = messages

    def segment_context(self) -> SegmentContext:
        enrolment = self.enrolment
        return SegmentContext(
            now=self.now,
            consent=self.consent,
            other_abandonments=tuple(
                one.created_at for one in self.carts if one.id != self.cart.id
            ),
            enrolment=enrolment,
            control_flow=(
                enrolment.flow_id
                if enrolment is not None and enrolment.exit_reason == "control_group"
                else None
            ),
            first_message_at=min(
                (m.at for m in self.messages if m.cart_id == self.cart.id and m.status == "sent"),
                default=None,
            ),
        )

    def check(self, condition: TicketCondition) -> str | None:
        """A reason when ``condition`` holds, ``None`` when it does not."""
        context = self.cart.context
        if isinstance(condition, CartValueCondition):
            value, currency = context.cart_value, context.currency
            if value is None or (condition.currency and condition.currency != currency):
                return None
            if condition.at_least is not None and value < condition.at_least:
                return None
            if condition.below is not None and value >= condition.below:
                return None
            bounds = []
            if condition.at_least is not None:
                bounds.append(f"at least {_money(condition.at_least, condition.currency)}")
            if condition.below is not None:
                bounds.append(f"below {_money(condition.below, condition.currency)}")
            return f"cart value {_money(value, currency)} is " + " and ".join(bounds)
        if isinstance(condition, PhoneCondition):
            contact = self.cart.contact
            if not contact.phone or (condition.e164_only and not contact.phone_e164):
                return None
            return "a phone number was left"
        if isinstance(condition, ProductCondition):
            if context.product_id not in condition.product_ids:
                return None
            return "the product is on the rule's list"
        if isinstance(condition, FormCondition):
            if context.form_id not in condition.form_ids:
                return None
            return "the order form is on the rule's list"
        if isinstance(condition, ConsentCondition):
            decision = self.consent[condition.channel]
            if decision.allowed != condition.allowed:
                return None
            state = "allowed" if decision.allowed else "not allowed"
            return f"{condition.channel} contact is {state}"
        if isinstance(condition, AbandonmentsCondition):
            since = self.now - condition.within
            count = 1 + sum(
                1
                for one in self.carts
                if one.id != self.cart.id and since < one.created_at <= self.now
            )
            if count < condition.at_least:
                return None
            return f"{count} abandoned carts in the last {_period_text(condition.within)}"
        if isinstance(condition, SegmentCondition):
            if not condition.segment.matches(self.cart, self.segment_context()):
                return None
            if condition.name is not None:
                return f"in the segment {condition.name}"
            return f"in the segment: {condition.segment.describe()}"
        assert isinstance(condition, AnyOfCondition)
        for alternative in condition.conditions:
            reason = self.check(alternative)
            if reason is not None:
                return reason
        return None


def _dedupe_key(rule: TicketRule, cart: Cart, now: datetime) -> str:
    prospect = cart.contact.prospect_key
    if rule.dedupe == "cart" or prospect is None or rule.dedupe_period is None:
        return f"{rule.id}:cart:{cart.id}"
    digest = hashlib.sha256(prospect.encode()).hexdigest()[:20]
    window = (now - _EPOCH) // rule.dedupe_period
    return f"{rule.id}:prospect:{digest}:{window}"


def _summary(cart: Cart) -> CartSummary:
    context = cart.context
    failure = cart.last_payment_failure
    return CartSummary(
        cart_id=cart.id,
        form_id=context.form_id,
        product_id=context.product_id,
        product_name=context.product_name,
        cart_value=context.cart_value,
        currency=context.currency,
        created_at=cart.created_at,
        updated_at=cart.updated_at,
        step=context.step,
        last_field=context.last_field,
        payment_failures=len(cart.payment_failures),
        last_payment_failure=failure.reason if failure is not None else None,
    )


def _history(carts: list[Cart]) -> AbandonmentHistory:
    return AbandonmentHistory(
        total=len(carts),
        ordered=sum(1 for one in carts if one.status == "ordered"),
        first_at=carts[-1].created_at,
        last_at=carts[0].created_at,
        recent=tuple(
            AbandonedCart(
                cart_id=one.id,
                created_at=one.created_at,
                form_id=one.context.form_id,
                product_id=one.context.product_id,
                product_name=one.context.product_name,
                cart_value=one.context.cart_value,
                currency=one.context.currency,
                status=one.status,
            )
            for one in carts[:_HISTORY_SHOWN]
        ),
    )


def consent_by_channel(
    events: Iterable[ConsentEvent], at: datetime
) -> dict[Channel, ConsentDecision]:
    """A prospect's consent decision on every channel at ``at``, from their events."""
    kept = list(events)
    return {channel: decide_consent(kept, channel, at) for channel in CHANNELS}


def evaluate_ticket_rules(
    rules: TicketRuleSet,
    cart: Cart,
    *,
    history: Sequence[Cart] = (),
    consent: Mapping[Channel, ConsentDecision] | None = None,
    now: datetime,
    enrolment: Enrolment | None = None,
    messages: Sequence[MessageRecord] = (),
) -> list[TicketDraft]:
    """The drafts the rules make of ``cart`` at ``now``, in rule order.

    ``history`` is the prospect's other carts (any order; carts of other prospects and
    the cart itself are ignored). ``consent`` holds the prospect's decisions per channel
    (``decide_consent``); a channel missing from it gets the default decision.
    ``enrolment`` (the cart's flow enrolment) and ``messages`` (its recovery messages)
    are read by ``segment`` conditions on flow outcomes only.
    """
    now = ensure_utc(now, name="now")
    if cart.status != "open":
        return []
    decisions = {
        channel: (consent or {}).get(channel) or decide_consent((), channel, now)
        for channel in CHANNELS
    }
    carts = _same_prospect(cart, history)
    facts = _Facts(cart, carts, decisions, now, enrolment, messages)
    drafts: list[TicketDraft] = []
    shared: tuple[CartSummary, AbandonmentHistory, tuple[ChannelConsent, ...]] | None = None
    for rule in rules.rules:
        if not rule.enabled:
            continue
        reasons = [facts.check(condition) for condition in rule.conditions]
        if any(reason is None for reason in reasons):
            continue
        if shared is None:
            shared = (
                _summary(cart),
                _history(carts),
                tuple(
                    ChannelConsent(
                        channel=channel,
                        allowed=decision.allowed,
                        basis=decision.basis,
                        since=decision.event.at if decision.event is not None else None,
                    )
                    for channel, decision in decisions.items()
                ),
            )
        drafts.append(
            TicketDraft(
                dedupe_key=_dedupe_key(rule, cart, now),
                rule_id=rule.id,
                kind=rule.kind,
                title=rule.title,
                priority=rule.priority,
                reasons=tuple(reason for reason in reasons if reason is not None),
                prospect=cart.contact.prospect_key,
                contact=cart.contact,
                cart=shared[0],
                history=shared[1],
                consent=shared[2],
                created_at=now,
            )
        )
    return drafts
