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

Exactly once: a step's message has an id derived from the cart, the flow version and the
step, recorded as ``sending`` before the provider is called and as ``sent``, ``failed``
or ``skipped`` after, for up to ``send_batch`` messages per transaction. The ``sending``
records are written only after the live carts and consent are read again in the same
transaction: an order or a withdrawal that arrived while the tick was sending stops
every later batch's sends. A crash in between leaves ``sending``: the step is planned
again and sent again under the same id, which is what the provider sees (Message-ID,
``apns-id``, ...; docs/senders.md says what each provider does with it). A retryable
failure waits (the provider's ``Retry-After``, else a growing delay) and is given up
after ``max_attempts``; a permanent one is recorded and never retried, and a dead push
token is invalidated.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from cartback._errors import ConfigurationError, MessageRefusedError
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
from cartback.reports import in_control_group
from cartback.senders import OutgoingMessage, Sender, SendResult
from cartback.store import (
    CartQuery,
    Changes,
    ProspectData,
    ReadTransaction,
    Scheduled,
    Settlement,
)

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
    send_batch: int = 10
    """Messages whose ``sending`` records are committed together before they are handed
    over, and whose outcomes are committed together after: two commits per batch rather
    than two per message. The price of a larger batch:
    an order or a withdrawal that arrives while a batch is being handed over does not
    stop the rest of that batch (the live cart and consent are checked once, as its
    ``sending`` records are committed), and a crash in the middle of a batch re-sends
    its handed-over messages under the same ids. ``1`` checks the live cart right before
    every single send."""

    def __post_init__(self) -> None:
        if self.send_batch < 1:
            raise ConfigurationError("send_batch must be at least 1", setting="send_batch")


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
        """Enrol new carts, then carry out what is due now.

        What the planner reads is loaded for every leased enrolment at once (a few
        queries, whatever the number due); skips, deferrals and the enrolments' new
        positions are written together at the end. Only a send is recorded on its own,
        before and after the provider is called.
        """
        report = TickReport()
        now = self.cartback.now()
        self._read_outbox(now, report)
        claimed = self.store.claim_enrolments(
            owner=self.owner, now=now, limit=self.settings.batch, lease=self.settings.lease
        )
        if not claimed:
            return report
        carts = self.store.get_carts({enrolment.cart_id for enrolment in claimed})
        prospects = {c.contact.prospect_key for c in carts.values() if c.contact.prospect_key}
        data = self.store.prospect_data(prospects)
        tick = _Tick()
        work: list[_Work] = []
        for enrolment in claimed:
            report.planned += 1
            cart = carts.get(enrolment.cart_id)
            if cart is None:
                continue  # erased: its enrolment went with it
            try:
                facts = self.facts(cart, data.get(enrolment.prospect), now=now)
            except Exception as exc:  # one enrolment's problem never stops the others
                log.error("enrolment failed to advance: %s", type(exc).__name__)
                tick.save(enrolment, now + timedelta(minutes=5))
                continue
            work.append(_Work(enrolment, cart, facts))
        while work:  # walks on after each round of sends, until every enrolment waits
            walking: list[_Work] = []
            ready: list[_Ready] = []
            for item in work:
                try:
                    found = self._advance(item, now, report, tick)
                except Exception as exc:  # one enrolment's problem never stops the others
                    log.error("enrolment failed to advance: %s", type(exc).__name__)
                    tick.save(item.enrolment, now + timedelta(minutes=5))
                    continue
                if found is not None:
                    ready.append(found)
                if len(ready) >= self.settings.send_batch:
                    walking += self._send_all(ready, now, report, tick)
                    ready = []
            work = walking + self._send_all(ready, now, report, tick)
        self.store.write(lambda tx: tx.apply(tick.changes()))
        return report

    def _read_outbox(self, now: datetime, report: TickReport) -> None:
        deliveries = self.store.claim(FLOWS_CONSUMER, owner=self.owner, now=now, limit=500)
        if not deliveries:
            return
        captured = {d.cart_id for d in deliveries if d.event.type == "cart.captured" and d.cart_id}
        nudged = {d.cart_id for d in deliveries if d.event.type in _NUDGES and d.cart_id}
        consent_ids = [
            getattr(d.event, "consent_id", None)
            for d in deliveries
            if d.event.type == "consent.changed"
        ]
        tick = _Tick()
        carts = self.store.get_carts(captured)  # an erased cart is not found
        earlier = self.store.prospect_enrolments(
            {p for cart in carts.values() if (p := cart.contact.prospect_key)}
        )
        for cart in carts.values():
            if self._enrol(cart, now, tick, earlier.get(cart.contact.prospect_key or "", [])):
                report.enrolled += 1
        prospects = {
            event.prospect
            for consent_id in consent_ids
            if consent_id and (event := self.store.consent_event(consent_id)) is not None
        }
        self._nudge(nudged - tick.cart_ids(), prospects, now, tick)
        self.store.write(lambda tx: tx.apply(tick.changes()))
        self.store.settle(FLOWS_CONSUMER, [Settlement.done(d.seq) for d in deliveries], now=now)

    def _enrol(self, cart: Cart, now: datetime, tick: _Tick, earlier: Sequence[Enrolment]) -> bool:
        if cart.status == "ordered" or any(e.cart_id == cart.id for e in earlier):
            return False
        flow = choose_flow(cart, self.settings.assignments)
        if flow is None:
            return False
        enrolment = enrol(cart, flow, guards=self.settings.guards)
        if self._held_out(enrolment, earlier):
            tick.save(enrolment.hold_out(now), None)
        else:
            tick.save(enrolment, now)  # due at once: planning it decides the first wait
        return True

    def _held_out(self, enrolment: Enrolment, earlier: Sequence[Enrolment]) -> bool:
        """Whether the prospect is in the flow's control group: decided once per prospect
        and flow (an earlier cart's enrolment in the flow decides), else drawn now."""
        assignments = self.settings.assignments
        share = assignments.control.get(enrolment.flow_id, 0.0)
        before = [e for e in earlier if e.flow_id == enrolment.flow_id]
        if before:
            first = min(before, key=lambda e: (e.started_at, e.cart_id))
            return first.exit_reason == "control_group"
        salt = assignments.control_salt
        return bool(share) and in_control_group(enrolment.prospect, enrolment.flow_id, share, salt)

    def _nudge(self, cart_ids: set[str], prospects: set[str], now: datetime, tick: _Tick) -> None:
        """Make these carts' and prospects' enrolments due now (re-planned this tick)."""
        wanted = set(cart_ids)
        for prospect in prospects:
            wanted |= {record.cart_id for record in self.store.messages(prospect=prospect)}
            page = self.cartback.list_carts(CartQuery(email=prospect), limit=100)
            wanted |= {cart.id for cart in page.items}
        for cart_id in sorted(wanted - tick.cart_ids()):
            scheduled = self.store.enrolment(cart_id)
            if scheduled is None or scheduled.enrolment.finished:
                continue
            if scheduled.due_at is None or scheduled.due_at > now:
                tick.save(scheduled.enrolment, now)

    # -- one enrolment -------------------------------------------------------------

    def facts(
        self, cart: Cart, data: ProspectData | None = None, *, now: datetime | None = None
    ) -> ProspectFacts:
        """What the planner reads about ``cart``'s prospect: from ``data`` when loaded for
        the tick, else read now."""
        prospect = cart.contact.prospect_key or ""
        if data is None:
            data = self.store.prospect_data([prospect]).get(prospect, ProspectData())
        consents = self.cartback.consents_for(cart, at=now, events=data.consent)
        return ProspectFacts(
            cart=cart,
            consent={
                channel: decision
                for channel, decision in consents.items()
                if channel in ("email", "sms", "push", "messenger", "instagram")
            },
            history=data.messages,
            activity=data.activities,
            devices=data.devices,
            recipients=data.recipients,
            earlier_abandonments=tuple(
                other.created_at
                for other in data.carts
                if other.id != cart.id and other.created_at < cart.created_at
            ),
            replied_at=data.last_reply_at,
        )

    def _advance(
        self, item: _Work, now: datetime, report: TickReport, tick: _Tick
    ) -> _Ready | None:
        """Walk ``item``'s flow until a message is ready to hand over (returned), or the
        enrolment waits, pauses or ends (saved in ``tick``)."""
        enrolment, cart, facts = item.enrolment, item.cart, item.facts
        try:
            flow = self.settings.assignments.pinned(enrolment)
        except FlowNotFoundError:
            log.warning("an enrolment's flow version is no longer configured")
            tick.save(enrolment, None)
            return None
        while item.steps < _MAX_STEPS:  # a flow walks at most this many steps in one tick
            item.steps += 1
            plan = plan_next(flow, enrolment, facts, now=now, guards=self.settings.guards)
            if plan.kind == "exit":
                report.exited += 1
                report.count(plan.reason)
                tick.save(enrolment.after(plan, at=now), None)
                return None
            if plan.kind == "pause":
                report.count(plan.reason)
                tick.save(enrolment, plan.at)
                return None
            if not plan.due_at(now):
                if plan.kind == "send" and plan.deferred:
                    self._record_deferral(enrolment, plan, cart, facts, now, report, tick)
                tick.save(enrolment, plan.at)
                return None
            if plan.kind == "skip":
                record = self._record(enrolment, plan, cart, now, "skipped", reason=plan.reason)
                tick.record(record)
                facts = _with(facts, record)
                report.skipped += 1
                report.count(plan.reason)
                enrolment = enrolment.after(plan, at=now)
                continue
            ready = self._prepare(enrolment, plan, cart, facts, now, report, tick)
            if isinstance(ready, _Ready):
                ready.steps = item.steps
                return ready
            enrolment, facts = ready
        tick.save(enrolment, now)
        return None

    # -- sending -------------------------------------------------------------------

    def _prepare(
        self,
        enrolment: Enrolment,
        plan: Plan,
        cart: Cart,
        facts: ProspectFacts,
        now: datetime,
        report: TickReport,
        tick: _Tick,
    ) -> _Ready | tuple[Enrolment, ProspectFacts]:
        """Build a send step's message: ready to hand over, or skipped (recorded in
        ``tick``; the enrolment and facts after the skip)."""
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
        skipped: str | None = None
        try:
            built = self._build(step.channel, step.template, request, facts)
        except MessageRefusedError as refused:
            skipped = refused.reason
        sender = self.senders.get(step.channel)
        if skipped is None and sender is None:
            skipped = "no_sender"
        if skipped is not None or sender is None:
            record = self._record(enrolment, plan, cart, now, "skipped", reason=skipped)
            tick.record(record)
            report.skipped += 1
            report.count(skipped)
            return enrolment.after(plan, at=now, outcome="skipped"), _with(facts, record)
        code = coupon.code if coupon else None
        return _Ready(enrolment, plan, cart, facts, built, sender, msg_id, attempts, code)

    def _send_all(
        self, ready: Sequence[_Ready], now: datetime, report: TickReport, tick: _Tick
    ) -> list[_Work]:
        """Hand every ready message over; what walks on afterwards.

        The ``sending`` records of all of them (``send_batch`` at most) are stored in
        one transaction before any provider is called (after a crash, each is sent again
        under the same id rather than lost), and their outcomes in one transaction after
        the last hand-over.
        """
        if not ready:
            return []
        cleared = self._record_sending(ready, now)
        kept = {id(item) for item in cleared}
        for item in ready:
            if id(item) not in kept:
                report.count("changed_before_send")
                tick.save(item.enrolment, now)  # planned again from what is true now
        outcomes: list[tuple[MessageRecord, Cart]] = []
        after: list[_Work] = []
        for item in cleared:
            try:
                outcome = self._hand_over(item.sender, item.built, item.msg_id)
            except Exception as exc:  # one enrolment's problem never stops the others
                log.error("enrolment failed to advance: %s", type(exc).__name__)
                tick.save(item.enrolment, now + timedelta(minutes=5))
                continue
            record, walk_on = self._finish(item, outcome, now, report, tick)
            outcomes.append((record, item.cart))
            if walk_on is not None:
                after.append(walk_on)
        self._write(outcomes)
        return after

    def _finish(
        self, item: _Ready, outcome: SendResult, now: datetime, report: TickReport, tick: _Tick
    ) -> tuple[MessageRecord, _Work | None]:
        """The record of a hand-over's outcome, and the enrolment walking on (``None``
        when it waits for a retry: saved in ``tick``)."""
        enrolment, plan, cart, attempts = item.enrolment, item.plan, item.cart, item.attempts
        code = item.code
        if outcome.outcome == "accepted":
            record = self._record(enrolment, plan, cart, now, "sent", attempts=attempts,
                                  provider_id=outcome.provider_id, coupon_code=code)  # fmt: skip
            report.sent += 1
            walked = _Work(enrolment.after(plan, at=now), cart, _with(item.facts, record))
            walked.steps = item.steps
            return record, walked
        if outcome.outcome == "retry" and attempts < self.settings.max_attempts:
            delay = _RETRY_DELAYS[min(attempts, len(_RETRY_DELAYS)) - 1]
            if outcome.retry_after is not None:
                delay = max(delay, timedelta(seconds=min(outcome.retry_after, 86_400)))
            record = self._record(enrolment, plan, cart, now, "deferred", attempts=attempts,
                                  reason=outcome.error or "retry", coupon_code=code)  # fmt: skip
            report.deferred += 1
            report.count(outcome.error or "retry")
            tick.save(enrolment, now + delay)
            return record, None
        reason = outcome.error or "failed"
        if outcome.outcome == "retry":
            reason = f"gave_up:{reason}"[:64]
        record = self._record(enrolment, plan, cart, now, "failed", attempts=attempts,
                              reason=reason, coupon_code=code)  # fmt: skip
        report.failed += 1
        report.count(reason)
        walked = _Work(enrolment.after(plan, at=now, outcome="failed"), cart,
                       _with(item.facts, record))  # fmt: skip
        walked.steps = item.steps
        return record, walked

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
    ) -> MessageRecord:
        step = plan.step
        assert step is not None
        return MessageRecord(
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

    def _write(self, records: Sequence[tuple[MessageRecord, Cart]]) -> None:
        """Store records in one transaction, with their ``message.sent`` or
        ``message.failed`` events (and each texted number, so a reply finds the
        prospect)."""
        if not records:
            return
        messages: list[MessageRecord] = []
        events: list[DomainEvent] = []
        numbers: list[tuple[str, str, datetime]] = []
        for record, cart in records:
            texted = record.status == "sent" and record.channel == "sms"
            changes = _record_changes(record, cart.contact.phone if texted else None)
            messages += changes.messages
            events += changes.events
            numbers += changes.sms_numbers
        batch = Changes(messages=tuple(messages), events=tuple(events), sms_numbers=tuple(numbers))
        self.store.write(lambda tx: tx.apply(batch))

    def _record_sending(self, ready: Sequence[_Ready], now: datetime) -> list[_Ready]:
        """Store the ``sending`` records of ``ready``, except for carts ordered (or
        erased) or whose channel's consent is gone since the tick read them; the messages
        still to hand over. The live carts and consent are read in the same transaction,
        and writes are serialized, so an order recorded before it is seen."""

        def work(tx: ReadTransaction) -> list[_Ready]:
            live = tx.carts({item.cart.id for item in ready})
            prospects = {c.contact.prospect_key for c in live.values() if c.contact.prospect_key}
            ledgers = tx.consent_events(prospects) if prospects else {}
            cleared: list[_Ready] = []
            records: list[MessageRecord] = []
            for item in ready:
                cart = live.get(item.cart.id)
                if cart is None or (
                    self.settings.guards.exit_on_order and cart.status == "ordered"
                ):
                    continue
                prospect = cart.contact.prospect_key
                if prospect:
                    events = ledgers.get(prospect, [])
                    channel = item.plan.step.channel if item.plan.step is not None else None
                    decisions = self.cartback.consents_for(cart, at=now, events=events)
                    decision = decisions.get(channel) if channel is not None else None
                    if decision is not None and not decision.allowed:
                        continue
                cleared.append(item)
                records.append(
                    self._record(
                        item.enrolment,
                        item.plan,
                        item.cart,
                        now,
                        "sending",
                        attempts=item.attempts,
                        coupon_code=item.code,
                    )
                )
            if records:
                tx.apply(Changes(messages=tuple(records)))
            return cleared

        return self.store.write(work)

    def _record_deferral(
        self,
        enrolment: Enrolment,
        plan: Plan,
        cart: Cart,
        facts: ProspectFacts,
        now: datetime,
        report: TickReport,
        tick: _Tick,
    ) -> None:
        reason = plan.deferred[0] if plan.deferred else "deferred"
        step = plan.step
        assert step is not None
        msg_id = message_id(enrolment, step.id)
        previous = next((r for r in facts.history if r.id == msg_id), None)
        if previous is not None and previous.status == "deferred" and previous.reason == reason:
            return  # already recorded for this reason
        tick.record(self._record(enrolment, plan, cart, now, "deferred", reason=reason,
                                 attempts=previous.attempts if previous else 0))  # fmt: skip
        report.deferred += 1
        report.count(reason)


_MAX_STEPS: Final = 64
"""Steps one enrolment walks at most in one tick."""


@dataclass
class _Work:
    """An enrolment walking its flow this tick, with what the planner reads."""

    enrolment: Enrolment
    cart: Cart
    facts: ProspectFacts
    steps: int = 0
    """Steps walked so far this tick."""


@dataclass
class _Ready:
    """A send step's message, built, waiting for its hand-over."""

    enrolment: Enrolment
    plan: Plan
    cart: Cart
    facts: ProspectFacts
    built: OutgoingMessage | tuple[PushMessage, ...]
    sender: Sender
    msg_id: str
    attempts: int
    code: str | None
    steps: int = 0


class _Tick:
    """What one tick writes at its end: enrolments' new positions, skips, deferrals."""

    def __init__(self) -> None:
        self._enrolments: dict[str, Scheduled] = {}
        self._records: dict[str, MessageRecord] = {}

    def save(self, enrolment: Enrolment, due_at: datetime | None) -> None:
        self._enrolments[enrolment.cart_id] = Scheduled(
            enrolment, None if enrolment.finished else due_at
        )

    def record(self, record: MessageRecord) -> None:
        self._records[record.id] = record

    def cart_ids(self) -> set[str]:
        return set(self._enrolments)

    def changes(self) -> Changes:
        events = tuple(e for r in self._records.values() for e in _record_changes(r, None).events)
        return Changes(
            enrolments=tuple(self._enrolments.values()),
            messages=tuple(self._records.values()),
            events=events,
        )


def _with(facts: ProspectFacts, record: MessageRecord) -> ProspectFacts:
    """``facts`` with ``record`` in the history (the next step planned this tick sees it)."""
    history = [r for r in facts.history if r.id != record.id]
    return replace(facts, history=(*history, record))


def _record_changes(record: MessageRecord, phone: str | None) -> Changes:
    events: tuple[DomainEvent, ...] = ()
    if record.status == "sent":
        events = (
            MessageSent(
                event_id=_event_id(record, "sent"),
                occurred_at=record.at,
                message_id=record.id,
                cart_id=record.cart_id,
                channel=record.channel,
                flow_id=record.flow_id,
                step_id=record.step_id,
                variant=record.variant,
            ),
        )
    elif record.status == "failed":
        events = (
            MessageFailed(
                event_id=_event_id(record, "failed"),
                occurred_at=record.at,
                message_id=record.id,
                cart_id=record.cart_id,
                channel=record.channel,
                reason=record.reason or "failed",
            ),
        )
    numbers = ((phone, record.prospect, record.at),) if phone else ()
    return Changes(messages=(record,), events=events, sms_numbers=numbers)


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
