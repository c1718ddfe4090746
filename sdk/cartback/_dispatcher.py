"""The dispatcher: enrols new carts in their flows and carries out what the planner says,
exactly once per step, on every tick.

A tick (``Dispatcher.tick``):

1. reads the outbox as the ``flows`` consumer: a new cart (``cart.captured``) enters the
   flow its product, form or the default assigns; an order, a failed payment, a consent
   change or a reply makes the prospect's enrolments due now, so they are re-planned;
2. leases the enrolments that are due (an index on the due time: the cost grows with
   the number due, not with the number of open carts; two dispatchers never hold the
   same one) and, for each, re-reads the live cart and what the guards need, asks the
   planner for the next action and carries it out: records a skip, an exit, a pause or
   a deferral with its reason, or builds the message and sends it.

Exactly once: a step's message has an id derived from the cart, the flow version and
the step, recorded as ``sending`` before the provider is called and as ``sent``,
``failed`` or ``skipped`` after. A crash in between leaves ``sending``: the step is
planned again and sent again under the same id, which is what the provider sees
(Message-ID, ``apns-id``, ...; docs/senders.md says what each provider does with it).
A retryable failure waits (the provider's ``Retry-After``, else a growing delay) and
is given up after ``max_attempts``; a permanent one is recorded and never retried, and
a dead push token is invalidated.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from cartback._errors import MessageRefusedError
from cartback._models import Cart, MessageRecord
from cartback._types import MessageChannel
from cartback.client import Cartback
from cartback.events import DomainEvent, EventType, MessageFailed, MessageSent
from cartback.flows import (
    DEFAULT_GUARDS,
    DynamicCoupon,
    Enrolment,
    FlowAssignments,
    FlowNotFoundError,
    Guards,
    Plan,
    ProspectFacts,
    StaticCoupon,
    choose_flow,
    enrol,
    plan_next,
)
from cartback.links import LinkSigner
from cartback.messages import (
    Coupon,
    CouponSource,
    MessageRequest,
    PushMessage,
    ShopSettings,
    build_audience_event,
    build_email,
    build_push,
    build_sms,
    build_social_message,
)
from cartback.senders import OutgoingMessage, Sender, SendResult
from cartback.store import CartQuery, Changes, Scheduled, Settlement

__all__ = [
    "FLOWS_CONSUMER",
    "TEMPLATE_ROUTES",
    "Dispatcher",
    "DispatcherSettings",
    "TickReport",
]

log = logging.getLogger("cartback.dispatcher")

FLOWS_CONSUMER: Final = "flows"
"""The outbox consumer name the dispatcher reads as."""

_NUDGES: Final[frozenset[EventType]] = frozenset(
    {"cart.ordered", "cart.payment_failed", "cart.reopened", "cart.submitted", "consent.changed"}
)
"""Events after which the prospect's enrolments are planned again at once."""

TEMPLATE_ROUTES: Final[Mapping[str, tuple[str, str]]] = {
    "conversational": ("email", "conversational"),
    "reminder": ("email", "reminder"),
    "social_proof": ("email", "social_proof"),
    "discount": ("email", "discount"),
    "incentive": ("email", "incentive"),
    "sms_offer": ("sms", "offer"),
    "sms_reminder": ("sms", "reminder"),
    "push_reminder": ("push", "reminder"),
    "push_coupon": ("push", "coupon"),
    "messenger_reminder": ("social", "reminder"),
    "messenger_offer": ("social", "offer"),
    "instagram_message": ("social", "reminder"),
    "instagram_offer": ("social", "offer"),
    "instagram_audience": ("audience", ""),
}
"""A flow step's template id -> (builder, the builder's template)."""

_RETRY_DELAYS: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)


@dataclass(frozen=True)
class DispatcherSettings:
    """What the dispatcher sends, for whom, and how hard it tries."""

    assignments: FlowAssignments
    """The shop's flows and which carts enter which."""
    shop: ShopSettings
    """What the messages say and where their links go."""
    guards: Guards = DEFAULT_GUARDS
    """Quiet hours, caps and the other guards."""
    coupons: Mapping[str, CouponSource] = field(default_factory=dict)
    """The shop's coupon generators, by the id a flow's dynamic coupon names."""
    max_attempts: int = 5
    """Hand-overs to a provider before a message is given up."""
    batch: int = 200
    """Enrolments leased per tick."""
    lease: timedelta = timedelta(minutes=2)
    """How long a dispatcher holds a leased enrolment."""


@dataclass
class TickReport:
    """What one tick did (counts only: nothing personal)."""

    enrolled: int = 0
    """Carts that entered a flow."""
    planned: int = 0
    """Enrolments looked at."""
    sent: int = 0
    """Messages a provider accepted."""
    skipped: int = 0
    """Steps skipped, with their reasons recorded."""
    deferred: int = 0
    """Messages moved later (guards, or a provider asking to retry)."""
    failed: int = 0
    """Messages given up."""
    exited: int = 0
    """Enrolments that ended."""
    reasons: dict[str, int] = field(default_factory=dict)
    """Skips, deferrals, failures and exits by reason."""

    def count(self, reason: str | None) -> None:
        key = reason or "unknown"
        self.reasons[key] = self.reasons.get(key, 0) + 1


def message_id(enrolment: Enrolment, step_id: str) -> str:
    """The id of a step's message: the same for every attempt, so a resend after a
    crash is the same message to the provider."""
    basis = f"{enrolment.cart_id}\x00{enrolment.flow_id}\x00{enrolment.flow_version}\x00{step_id}"
    return "msg_" + hashlib.sha256(basis.encode()).hexdigest()[:32]


class Dispatcher:
    """Runs the flows against the store; call ``tick`` every few seconds (the reference
    receiver does, or ``python -m server_example dispatch`` as its own process).

    ``senders`` maps a channel to its sender (a dry-run sender records instead of
    sending). Safe to run several dispatchers on one database: each enrolment is leased
    to one of them at a time.
    """

    def __init__(
        self,
        cartback: Cartback,
        senders: Mapping[MessageChannel, Sender],
        settings: DispatcherSettings,
        *,
        signer: LinkSigner,
        owner: str,
    ) -> None:
        self.cartback = cartback
        self.store = cartback.store
        self.senders = senders
        self.settings = settings
        self.signer = signer
        self.owner = owner
        self.store.register_consumer(FLOWS_CONSUMER, types={"cart.captured", *_NUDGES}, start="now")

    # -- the tick ------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Enrol new carts, then carry out what is due now."""
        report = TickReport()
        now = self.cartback.now()
        self._read_outbox(now, report)
        for enrolment in self.store.claim_enrolments(
            owner=self.owner, now=now, limit=self.settings.batch, lease=self.settings.lease
        ):
            report.planned += 1
            try:
                self._advance(enrolment, now, report)
            except Exception as exc:  # one enrolment's problem never stops the others
                log.error("enrolment failed to advance: %s", type(exc).__name__)
                self._save(enrolment, now + timedelta(minutes=5))
        return report

    def _read_outbox(self, now: datetime, report: TickReport) -> None:
        deliveries = self.store.claim(FLOWS_CONSUMER, owner=self.owner, now=now, limit=500)
        if not deliveries:
            return
        captured = [d.cart_id for d in deliveries if d.event.type == "cart.captured" and d.cart_id]
        nudged = {d.cart_id for d in deliveries if d.event.type in _NUDGES and d.cart_id}
        consent_ids = [
            getattr(d.event, "consent_id", None)
            for d in deliveries
            if d.event.type == "consent.changed"
        ]
        for cart_id in captured:
            if self._enrol(cart_id, now):
                report.enrolled += 1
        prospects = {
            event.prospect
            for consent_id in consent_ids
            if consent_id and (event := self.store.consent_event(consent_id)) is not None
        }
        self._nudge(nudged, prospects, now)
        self.store.settle(FLOWS_CONSUMER, [Settlement.done(d.seq) for d in deliveries], now=now)

    def _enrol(self, cart_id: str, now: datetime) -> bool:
        try:
            cart = self.store.get_cart(cart_id)
        except LookupError:
            return False  # erased or purged before it could enter a flow
        if cart.status == "ordered" or self.store.enrolment(cart_id) is not None:
            return False
        flow = choose_flow(cart, self.settings.assignments)
        if flow is None:
            return False
        enrolment = enrol(cart, flow, guards=self.settings.guards)
        self._save(enrolment, now)  # planned at once: the first wait decides the time
        return True

    def _nudge(self, cart_ids: set[str], prospects: set[str], now: datetime) -> None:
        """Make these carts' and prospects' enrolments due now (re-planned this tick)."""
        wanted = set(cart_ids)
        for prospect in prospects:
            wanted |= {record.cart_id for record in self.store.messages(prospect=prospect)}
            page = self.cartback.list_carts(CartQuery(email=prospect), limit=100)
            wanted |= {cart.id for cart in page.items}
        for cart_id in wanted:
            scheduled = self.store.enrolment(cart_id)
            if scheduled is None or scheduled.enrolment.finished:
                continue
            if scheduled.due_at is None or scheduled.due_at > now:
                self._save(scheduled.enrolment, now)

    # -- one enrolment -------------------------------------------------------------

    def facts(self, cart: Cart) -> ProspectFacts:
        """What the planner reads about ``cart``'s prospect, live."""
        prospect = cart.contact.prospect_key or ""
        consents = self.cartback.consents_for(cart)
        others = self.cartback.list_carts(CartQuery(email=prospect), limit=100).items
        replies = self.store.replies(prospect=prospect, limit=1)
        return ProspectFacts(
            cart=cart,
            consent={
                channel: decision
                for channel, decision in consents.items()
                if channel in ("email", "sms", "push", "messenger", "instagram")
            },
            history=self.store.messages(prospect=prospect),
            activity=self.store.activities(prospect),
            devices=self.store.devices(prospect),
            recipients=self.store.social_recipients(prospect),
            earlier_abandonments=tuple(
                other.created_at
                for other in others
                if other.id != cart.id and other.created_at < cart.created_at
            ),
            replied_at=replies[0].at if replies else None,
        )

    def _advance(self, enrolment: Enrolment, now: datetime, report: TickReport) -> None:
        try:
            flow = self.settings.assignments.pinned(enrolment)
        except FlowNotFoundError:
            log.warning("an enrolment's flow version is no longer configured")
            self._save(enrolment, None)
            return
        for _ in range(64):  # a flow walks at most this many steps in one tick
            try:
                cart = self.store.get_cart(enrolment.cart_id)
            except LookupError:
                return  # erased: its enrolment went with it
            facts = self.facts(cart)
            plan = plan_next(flow, enrolment, facts, now=now, guards=self.settings.guards)
            if plan.kind == "exit":
                report.exited += 1
                report.count(plan.reason)
                self._save(enrolment.after(plan, at=now), None)
                return
            if plan.kind == "pause":
                report.count(plan.reason)
                self._save(enrolment, plan.at)
                return
            if not plan.due_at(now):
                if plan.kind == "send" and plan.deferred:
                    self._record_deferral(enrolment, plan, cart, now, report)
                self._save(enrolment, plan.at)
                return
            if plan.kind == "skip":
                assert plan.step is not None
                self._record(enrolment, plan, cart, now, "skipped", reason=plan.reason)
                report.skipped += 1
                report.count(plan.reason)
                enrolment = enrolment.after(plan, at=now)
                continue
            done = self._send(enrolment, plan, cart, facts, now, report)
            if done is None:
                return  # waits for a retry; saved by _send
            enrolment = done
        self._save(enrolment, now)

    # -- sending -------------------------------------------------------------------

    def _send(
        self,
        enrolment: Enrolment,
        plan: Plan,
        cart: Cart,
        facts: ProspectFacts,
        now: datetime,
        report: TickReport,
    ) -> Enrolment | None:
        step = plan.step
        assert step is not None
        msg_id = message_id(enrolment, step.id)
        previous = next((r for r in facts.history if r.id == msg_id), None)
        attempts = (previous.attempts if previous else 0) + 1
        coupon = self._coupon(step.coupon, cart, previous, now)
        request = MessageRequest(
            cart=cart,
            message_id=msg_id,
            at=now,
            flow=enrolment.flow_id,
            step=step.id,
            variant=plan.message_variant,
            template=TEMPLATE_ROUTES.get(step.template, ("", step.template))[1] or None,
            coupon=coupon,
        )
        try:
            built = self._build(step.channel, step.template, request, facts)
        except MessageRefusedError as refused:
            self._record(enrolment, plan, cart, now, "skipped", reason=refused.reason)
            report.skipped += 1
            report.count(refused.reason)
            return enrolment.after(plan, at=now, outcome="skipped")
        sender = self.senders.get(step.channel)
        if sender is None:
            self._record(enrolment, plan, cart, now, "skipped", reason="no_sender")
            report.skipped += 1
            report.count("no_sender")
            return enrolment.after(plan, at=now, outcome="skipped")
        code = coupon.code if coupon else None
        self._record(enrolment, plan, cart, now, "sending", attempts=attempts, coupon_code=code)
        outcome = self._hand_over(sender, built, msg_id)
        if outcome.outcome == "accepted":
            self._record(
                enrolment,
                plan,
                cart,
                now,
                "sent",
                attempts=attempts,
                provider_id=outcome.provider_id,
                coupon_code=code,
            )
            report.sent += 1
            return enrolment.after(plan, at=now)
        if outcome.outcome == "retry" and attempts < self.settings.max_attempts:
            delay = _RETRY_DELAYS[min(attempts, len(_RETRY_DELAYS)) - 1]
            if outcome.retry_after is not None:
                delay = max(delay, timedelta(seconds=min(outcome.retry_after, 86_400)))
            self._record(
                enrolment,
                plan,
                cart,
                now,
                "deferred",
                attempts=attempts,
                reason=outcome.error or "retry",
                coupon_code=code,
            )
            report.deferred += 1
            report.count(outcome.error or "retry")
            self._save(enrolment, now + delay)
            return None
        reason = outcome.error or "failed"
        if outcome.outcome == "retry":
            reason = f"gave_up:{reason}"[:64]
        self._record(
            enrolment, plan, cart, now, "failed", attempts=attempts, reason=reason, coupon_code=code
        )
        report.failed += 1
        report.count(reason)
        return enrolment.after(plan, at=now, outcome="failed")

    def _hand_over(
        self, sender: Sender, built: OutgoingMessage | tuple[PushMessage, ...], msg_id: str
    ) -> SendResult:
        """Send; a push goes to every device (accepted when one accepted it), and a
        device the provider calls dead is invalidated."""
        if not isinstance(built, tuple):
            return sender.send(built, idempotency_key=msg_id)
        outcomes = []
        for index, push in enumerate(built):
            outcome = sender.send(push, idempotency_key=f"{msg_id}.{index}")
            if outcome.invalid_recipient:
                device = push.device
                self.cartback.invalidate_device(device.platform, device.token)
            outcomes.append(outcome)
        accepted = [o for o in outcomes if o.outcome == "accepted"]
        if accepted:
            return accepted[0]
        retrying = [o for o in outcomes if o.outcome == "retry"]
        return retrying[0] if retrying else outcomes[0]

    def _build(
        self, channel: MessageChannel, template: str, request: MessageRequest, facts: ProspectFacts
    ) -> OutgoingMessage | tuple[PushMessage, ...]:
        builder = TEMPLATE_ROUTES.get(template, (channel, template))[0]
        shop, signer = self.settings.shop, self.signer
        consent: dict[str, bool] = {c: decision.allowed for c, decision in facts.consent.items()}
        if builder == "email":
            return build_email(request, shop=shop, signer=signer, consent=consent)
        if builder == "sms":
            return build_sms(request, shop=shop, signer=signer, consent=consent)
        if builder == "push":
            return build_push(
                request,
                shop=shop,
                signer=signer,
                consent=consent,
                devices=facts.devices,
                history=facts.history,
            )
        platform: Literal["messenger", "instagram"] = (
            "instagram" if channel == "instagram" else "messenger"
        )
        if builder == "audience":
            return build_audience_event(request, shop=shop, consent=consent, platform=platform)
        recipient = next((r for r in facts.recipients if r.platform == platform), None)
        return build_social_message(
            request,
            platform=platform,
            shop=shop,
            signer=signer,
            consent=consent,
            recipient=recipient,
        )

    def _coupon(
        self,
        offered: StaticCoupon | DynamicCoupon | None,
        cart: Cart,
        previous: MessageRecord | None,
        now: datetime,
    ) -> Coupon | None:
        if offered is None:
            return None
        if isinstance(offered, StaticCoupon):
            return Coupon(code=offered.code, kind="static")
        source = self.settings.coupons.get(offered.id)
        if source is None:
            return None
        made = source.coupon_for(cart, now=now)
        if made is None:
            return None
        if previous is not None and previous.coupon_code:  # a resend offers the same code
            made = made.model_copy(update={"code": previous.coupon_code})
        if made.expires_at is None and offered.valid_for is not None:
            made = made.model_copy(update={"expires_at": now + offered.valid_for})
        return made

    # -- recording -----------------------------------------------------------------

    def _record(
        self,
        enrolment: Enrolment,
        plan: Plan,
        cart: Cart,
        now: datetime,
        status: Literal["sending", "sent", "failed", "skipped", "deferred"],
        *,
        reason: str | None = None,
        attempts: int = 0,
        provider_id: str | None = None,
        coupon_code: str | None = None,
    ) -> None:
        step = plan.step
        assert step is not None
        record = MessageRecord(
            id=message_id(enrolment, step.id),
            cart_id=cart.id,
            prospect=enrolment.prospect,
            channel=step.channel,
            status=status,
            at=now,
            flow_id=enrolment.flow_id,
            flow_version=enrolment.flow_version,
            step_id=step.id,
            variant=plan.message_variant,
            template=step.template,
            reason=reason,
            provider_id=provider_id,
            coupon_code=coupon_code,
            attempts=attempts,
        )
        events: tuple[DomainEvent, ...] = ()
        if status == "sent":
            events = (
                MessageSent(
                    event_id=_event_id(record, "sent"),
                    occurred_at=now,
                    message_id=record.id,
                    cart_id=cart.id,
                    channel=step.channel,
                    flow_id=enrolment.flow_id,
                    step_id=step.id,
                    variant=record.variant,
                ),
            )
        elif status == "failed":
            events = (
                MessageFailed(
                    event_id=_event_id(record, "failed"),
                    occurred_at=now,
                    message_id=record.id,
                    cart_id=cart.id,
                    channel=step.channel,
                    reason=reason or "failed",
                ),
            )
        numbers: tuple[tuple[str, str, datetime], ...] = ()
        if status == "sent" and step.channel == "sms" and cart.contact.phone:
            numbers = ((cart.contact.phone, enrolment.prospect, now),)  # a reply finds them
        changes = Changes(messages=(record,), events=events, sms_numbers=numbers)
        self.store.write(lambda tx: tx.apply(changes))

    def _record_deferral(
        self, enrolment: Enrolment, plan: Plan, cart: Cart, now: datetime, report: TickReport
    ) -> None:
        reason = plan.deferred[0] if plan.deferred else "deferred"
        step = plan.step
        assert step is not None
        msg_id = message_id(enrolment, step.id)
        previous = next((r for r in self.store.messages(cart_id=cart.id) if r.id == msg_id), None)
        if previous is not None and previous.status == "deferred" and previous.reason == reason:
            return  # already recorded for this reason
        self._record(
            enrolment,
            plan,
            cart,
            now,
            "deferred",
            reason=reason,
            attempts=previous.attempts if previous else 0,
        )
        report.deferred += 1
        report.count(reason)

    def _save(self, enrolment: Enrolment, due_at: datetime | None) -> None:
        """Write the enrolment back (this releases its lease)."""
        if enrolment.finished:
            due_at = None
        changes = Changes(enrolments=(Scheduled(enrolment, due_at),))
        self.store.write(lambda tx: tx.apply(changes))


def _event_id(record: MessageRecord, kind: str) -> str:
    """A message event's id: one per message and outcome, so a crash between recording
    and answering cannot make two."""
    digest = hashlib.sha256(f"{record.id}\x00{kind}".encode()).hexdigest()[:24]
    return f"evt_{digest}"


def dispatch_all(dispatcher: Dispatcher, *, rounds: int = 100) -> list[TickReport]:
    """Tick until a tick finds nothing to do (tests and the CLI's ``tick``)."""
    reports = []
    for _ in range(rounds):
        report = dispatcher.tick()
        reports.append(report)
        if not report.planned and not report.enrolled:
            break
    return reports
