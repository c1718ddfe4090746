"""Helpers for the flow tests: carts, consent, facts, and a small dispatcher loop.

``World`` is an in-test simulation of what the dispatcher will do: plan each active
enrolment, carry out what is due at ``now`` (a send is recorded in the prospect's
history at ``now``), and plan again, until nothing is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cartback._models import (
    Activity,
    Cart,
    CartContext,
    ConsentEvent,
    ConsentSource,
    Contact,
    MessageRecord,
    PushDevice,
    SocialRecipient,
)
from cartback._types import MESSAGE_CHANNELS, CartStatus, ConsentAction, MessageChannel
from cartback.consent import ConsentDecision, decide_consent
from cartback.flows import (
    DEFAULT_GUARDS,
    Enrolment,
    Flow,
    Guards,
    Plan,
    ProspectFacts,
    enrol,
    plan_next,
)

T0 = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
"""A Monday, 10:00 in Los Angeles (PST), 18:00 in London."""

EMAIL = "ava@example.com"


def make_cart(
    *,
    cart_id: str = "cart-1",
    email: str | None = EMAIL,
    phone: str | None = "+14155550100",
    country: str | None = "US",
    value: str | None = "80",
    currency: str = "USD",
    status: CartStatus = "open",
    created: datetime = T0,
    form_id: str = "checkout",
    product_id: str | None = None,
    **extra: Any,
) -> Cart:
    return Cart(
        id=cart_id,
        status=status,
        created_at=created,
        updated_at=extra.pop("updated_at", created),
        contact=Contact(
            email=email,
            phone=phone,
            phone_e164=True if phone else None,
            country=country,
        ),
        context=CartContext(
            form_id=form_id,
            product_id=product_id,
            cart_value=None if value is None else Decimal(value),
            currency=currency,
        ),
        **extra,
    )


def consent_event(
    channel: MessageChannel,
    action: ConsentAction = "granted",
    at: datetime = T0 - timedelta(days=30),
    prospect: str = EMAIL,
) -> ConsentEvent:
    return ConsentEvent(
        prospect=prospect, channel=channel, action=action, at=at, source=ConsentSource(kind="api")
    )


def decisions(
    events: Iterable[ConsentEvent], at: datetime
) -> dict[MessageChannel, ConsentDecision]:
    listed = list(events)
    return {channel: decide_consent(listed, channel, at) for channel in MESSAGE_CHANNELS}


def granted(*channels: MessageChannel) -> dict[MessageChannel, ConsentDecision]:
    """Decisions with ``channels`` granted (email keeps its default otherwise)."""
    return decisions([consent_event(channel) for channel in channels], T0)


def withdrawn(*channels: MessageChannel) -> dict[MessageChannel, ConsentDecision]:
    events = [consent_event(channel) for channel in channels]
    events += [consent_event(channel, "withdrawn", T0) for channel in channels]
    return decisions(events, T0)


def device(prospect: str = EMAIL, *, invalidated: bool = False) -> PushDevice:
    return PushDevice(
        prospect=prospect,
        platform="ios",
        token="token-" + prospect,
        app_id="shop.app",
        registered_at=T0 - timedelta(days=60),
        invalidated_at=T0 if invalidated else None,
    )


def recipient(platform: str, prospect: str = EMAIL) -> SocialRecipient:
    return SocialRecipient(
        prospect=prospect,
        platform=platform,
        page_id="page-1",
        recipient_id="psid-" + prospect,
        opted_in_at=T0 - timedelta(days=30),
    )


def sent(
    channel: MessageChannel,
    at: datetime,
    *,
    cart_id: str = "other-cart",
    prospect: str = EMAIL,
    template: str | None = None,
    step_id: str | None = None,
    flow: tuple[str, int] | None = None,
    status: str = "sent",
) -> MessageRecord:
    return MessageRecord(
        id=f"m-{channel}-{at.isoformat()}-{cart_id}-{step_id}",
        cart_id=cart_id,
        prospect=prospect,
        channel=channel,
        status=status,
        at=at,
        flow_id=flow[0] if flow else None,
        flow_version=flow[1] if flow else None,
        step_id=step_id,
        template=template,
    )


def facts(cart: Cart, **values: Any) -> ProspectFacts:
    return ProspectFacts(cart=cart, **values)


def plan(
    flow: Flow,
    cart: Cart,
    *,
    now: datetime,
    enrolment: Enrolment | None = None,
    guards: Guards = DEFAULT_GUARDS,
    **values: Any,
) -> Plan:
    current = enrolment or enrol(cart, flow, guards=guards)
    return plan_next(flow, current, facts(cart, **values), now=now, guards=guards)


# -- the simulated dispatcher ----------------------------------------------------------


@dataclass
class World:
    """Carts, enrolments and the facts about each prospect, and the messages so far."""

    flows: Mapping[tuple[str, int], Flow]
    guards: Guards = DEFAULT_GUARDS
    carts: dict[str, Cart] = field(default_factory=dict)
    enrolments: dict[str, Enrolment] = field(default_factory=dict)
    consent: list[ConsentEvent] = field(default_factory=list)
    history: list[MessageRecord] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list)
    devices: list[PushDevice] = field(default_factory=list)
    recipients: list[SocialRecipient] = field(default_factory=list)
    replied: dict[str, datetime] = field(default_factory=dict)
    plans: list[tuple[datetime, Plan]] = field(default_factory=list)
    crash_after_send: set[int] = field(default_factory=set)
    """Numbers of sends after which the enrolment is not advanced (a crash between send
    and record): the next plan must see the message in the history."""

    def add(self, cart: Cart, flow: Flow) -> Enrolment:
        self.carts[cart.id] = cart
        enrolment = enrol(cart, flow, guards=self.guards)
        self.enrolments[cart.id] = enrolment
        return enrolment

    def facts(self, cart: Cart, now: datetime) -> ProspectFacts:
        prospect = cart.contact.prospect_key
        assert prospect is not None
        return ProspectFacts(
            cart=cart,
            consent=decisions([e for e in self.consent if e.prospect == prospect], now),
            history=tuple(r for r in self.history if r.prospect == prospect),
            activity=tuple(a for a in self.activity if a.prospect == prospect),
            devices=tuple(d for d in self.devices if d.prospect == prospect),
            recipients=tuple(r for r in self.recipients if r.prospect == prospect),
            earlier_abandonments=tuple(
                other.created_at
                for other in self.carts.values()
                if other.contact.prospect_key == prospect and other.created_at < cart.created_at
            ),
            replied_at=self.replied.get(prospect),
        )

    def plan(self, cart_id: str, now: datetime) -> Plan:
        enrolment = self.enrolments[cart_id]
        flow = self.flows[(enrolment.flow_id, enrolment.flow_version)]
        cart = self.carts[cart_id]
        return plan_next(flow, enrolment, self.facts(cart, now), now=now, guards=self.guards)

    def dispatch(self, now: datetime) -> None:
        """Carry out everything due at ``now``, planning again after each action."""
        for cart_id in sorted(self.enrolments):
            for _ in range(100):
                enrolment = self.enrolments[cart_id]
                if enrolment.finished:
                    break
                plan = self.plan(cart_id, now)
                if not plan.due_at(now) or plan.kind == "pause":
                    break
                self.plans.append((now, plan))
                self.carry_out(cart_id, plan, now)
            else:  # pragma: no cover - a failure message, not a branch
                raise AssertionError("the plan never stops being due")

    def carry_out(self, cart_id: str, plan: Plan, now: datetime) -> None:
        enrolment = self.enrolments[cart_id]
        if plan.kind in ("send", "skip"):
            assert plan.step is not None
            self.history.append(
                MessageRecord(
                    id=f"msg-{len(self.history)}",
                    cart_id=cart_id,
                    prospect=enrolment.prospect,
                    channel=plan.step.channel,
                    status="sent" if plan.kind == "send" else "skipped",
                    at=now,
                    flow_id=enrolment.flow_id,
                    flow_version=enrolment.flow_version,
                    step_id=plan.step.id,
                    variant=plan.message_variant,
                    template=plan.step.template,
                    reason=plan.reason,
                )
            )
            sends = sum(1 for record in self.history if record.status == "sent")
            if plan.kind == "send" and sends in self.crash_after_send:
                return
        self.enrolments[cart_id] = enrolment.after(plan, at=now)

    def next_due(self, now: datetime) -> datetime | None:
        times = []
        for cart_id, enrolment in self.enrolments.items():
            if enrolment.finished:
                continue
            plan = self.plan(cart_id, now)
            if plan.at is not None:
                times.append(max(plan.at, now))
        return min(times) if times else None

    def drain(self, now: datetime, *, until: datetime | None = None) -> datetime:
        """Run the dispatcher at every due time until nothing is due (or ``until``)."""
        for _ in range(1000):
            self.dispatch(now)
            due = self.next_due(now)
            if due is None or (until is not None and due > until):
                return now
            now = due
        raise AssertionError("the flows never finish")  # pragma: no cover

    def sent(self) -> list[MessageRecord]:
        return [record for record in self.history if record.status == "sent"]


def timeline(world: World, start: datetime = T0) -> list[tuple[str, str, str]]:
    """The messages sent, as (offset from ``start``, channel, template)."""
    return [
        (_offset(record.at - start), record.channel, record.template or "")
        for record in world.sent()
    ]


def _offset(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    minutes = int(delta.total_seconds() % 3600 // 60)
    days, hours = divmod(hours, 24)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "")
    return text + (f"{minutes}m" if minutes else "") or "0h"
