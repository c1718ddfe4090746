"""The SDK's write transactions: read through the store's transaction, decide, apply.

Each function here runs inside ``Store.write``. The deciding is pure (``decide_*``: values
in, ``Changes`` out, testable without a database); the store only reads what the
decision needs and applies what it returns, so every backend behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cartback._engagement_writes import click_engaged
from cartback._ids import new_id
from cartback._merge import (
    changed_fields,
    filled_fields,
    is_diagnostic_update,
    merge_into,
    new_cart,
)
from cartback._models import (
    Cart,
    ConsentEvent,
    ConsentSource,
    MessageRecord,
    PaymentFailure,
    PushDevice,
    SocialRecipient,
)
from cartback._types import PaymentFailureReason
from cartback.capture import CapturePlan
from cartback.consent import ledger_changes
from cartback.events import (
    CartCaptured,
    CartOrdered,
    CartPaymentFailed,
    CartRecovered,
    CartReopened,
    CartSubmitted,
    CartUpdated,
    ConsentChanged,
    DomainEvent,
    LinkClicked,
)
from cartback.messages._links import utm_content
from cartback.store._protocol import (
    CartKey,
    Changes,
    Click,
    OrderClosure,
    ReadTransaction,
    Receipt,
    SaveOutcome,
    SaveStatus,
)

__all__ = [
    "CaptureState",
    "append_consent",
    "close_carts",
    "decide_captures",
    "decide_closures",
    "invalidate_devices",
    "mark_submitted",
    "record_click",
    "record_payment_failure",
    "recovery_credit",
    "register_device",
    "register_social",
    "reopen_stale_submissions",
    "save_captures",
]

IdFactory = Callable[[str], str]
"""Makes a new id with a prefix (``new_id`` in production, predictable in tests)."""


@dataclass(frozen=True, slots=True)
class CaptureState:
    """What deciding a batch of captures needs to know from the store."""

    open_carts: Mapping[CartKey, Cart] = field(default_factory=dict)
    """The open or submitted cart of each ``(prospect, form_id)`` in the batch."""
    receipts: Mapping[str, Receipt] = field(default_factory=dict)
    """Receipts of the batch's ``event_id``\\ s that were saved before."""
    receipt_carts: Mapping[str, Cart] = field(default_factory=dict)
    """The carts those receipts name, by id."""
    ledgers: Mapping[str, Sequence[ConsentEvent]] = field(default_factory=dict)
    """The consent ledger of each prospect in the batch that ticked or unticked a box."""
    ordered_in_session: Mapping[tuple[CartKey, str], Cart] = field(default_factory=dict)
    """The ordered cart of a ``(prospect, form_id)`` and browser session, for the keys of
    the batch without an open cart: a capture arriving late from the session that bought
    changes nothing (it opens no second cart to recover)."""


def _key(plan: CapturePlan) -> CartKey:
    if plan.contact is None or plan.context is None or plan.contact.prospect_key is None:
        from cartback._errors import InvalidInputError

        raise InvalidInputError(
            "only an eligible capture can be saved", field="plan", reason="not_eligible"
        )
    return plan.contact.prospect_key, plan.context.form_id


def _cart_key(cart: Cart) -> CartKey:
    return cart.contact.prospect_key or "", cart.context.form_id


def _consent_event(event: ConsentEvent, cart_id: str | None, ids: IdFactory) -> ConsentChanged:
    return ConsentChanged(
        event_id=ids("evt_"),
        occurred_at=event.at,
        consent_id=event.id,
        channel=event.channel,
        action=event.action,
        source=event.source.kind,
        cart_id=cart_id,
    )


def decide_captures(
    plans: Sequence[CapturePlan], state: CaptureState, *, ids: IdFactory = new_id
) -> tuple[Changes, list[SaveOutcome]]:
    """What saving ``plans`` in order writes, and what each one did.

    A later plan sees the carts and ledger entries the earlier ones produced. A plan
    whose ``event_id`` was saved before (a retried request) writes nothing and reports
    what the first save did.
    """
    carts: dict[CartKey, Cart] = dict(state.open_carts)
    by_id: dict[str, Cart] = {**state.receipt_carts, **{c.id: c for c in carts.values()}}
    receipts: dict[str, Receipt] = dict(state.receipts)
    ledgers: dict[str, list[ConsentEvent]] = {p: list(e) for p, e in state.ledgers.items()}
    written: dict[str, Cart] = {}  # id -> newest state of every cart this batch writes
    created: set[str] = set()
    sessions: dict[tuple[str, str], None] = {}
    consent: list[ConsentEvent] = []
    new_receipts: list[Receipt] = []
    events: list[DomainEvent] = []
    outcomes: list[SaveOutcome] = []

    for plan in plans:
        key = _key(plan)
        receipt = receipts.get(plan.event_id) if plan.event_id else None
        retried = by_id.get(receipt.cart_id) if receipt is not None else None
        # The same id on another prospect's or form's capture is a page's bug, not a retry.
        if receipt is not None and retried is not None and _cart_key(retried) == key:
            outcomes.append(SaveOutcome(status=receipt.status, cart=retried, duplicate=True))
            continue
        existing = carts.get(key)
        status: SaveStatus
        bought = state.ordered_in_session.get((key, plan.session_id or ""))
        if existing is None and bought is not None:
            outcomes.append(SaveOutcome(status="unchanged", cart=bought))
            continue
        if existing is None:
            cart = new_cart(plan, ids("cart_"))
            status = "stored"
            created.add(cart.id)
            events.append(
                CartCaptured(
                    event_id=ids("evt_"),
                    occurred_at=plan.captured_at,
                    cart_id=cart.id,
                    form_id=cart.context.form_id,
                    product_id=cart.context.product_id,
                    cart_value=cart.context.cart_value,
                    currency=cart.context.currency,
                    fields=filled_fields(cart),
                )
            )
        else:
            merged = merge_into(existing, plan)
            if merged is None:
                cart, status = existing, "unchanged"
            elif is_diagnostic_update(existing, merged):
                cart, status = merged, "updated"  # stored, without a cart.updated
            else:
                cart, status = merged, "updated"
                events.append(
                    CartUpdated(
                        event_id=ids("evt_"),
                        occurred_at=plan.captured_at,
                        cart_id=cart.id,
                        form_id=cart.context.form_id,
                        changed=changed_fields(existing, merged),
                    )
                )
        if status != "unchanged":
            written[cart.id] = cart
        carts[key] = by_id[cart.id] = cart
        if plan.session_id and (existing is None or existing.session_id != plan.session_id):
            sessions[(plan.session_id, cart.id)] = None

        recorded = 0
        if plan.consents:
            ledger = ledgers.setdefault(key[0], [])
            for event in ledger_changes(ledger, plan.consents):
                ledger.append(event)
                consent.append(event)
                events.append(_consent_event(event, cart.id, ids))
                recorded += 1
        if recorded and status == "unchanged":
            status = "updated"  # the cart as it was, its prospect's consent changed
        if plan.event_id and plan.event_id not in receipts:
            receipt = Receipt(
                event_id=plan.event_id, cart_id=cart.id, status=status, at=plan.captured_at
            )
            receipts[plan.event_id] = receipt
            new_receipts.append(receipt)
        outcomes.append(SaveOutcome(status=status, cart=cart, consents_recorded=recorded))

    changes = Changes(
        new_carts=tuple(cart for cart_id, cart in written.items() if cart_id in created),
        updated_carts=tuple(cart for cart_id, cart in written.items() if cart_id not in created),
        sessions=tuple(sessions),
        consent=tuple(consent),
        receipts=tuple(new_receipts),
        events=tuple(events),
    )
    return changes, outcomes


def _ordered_in_session(
    tx: ReadTransaction, plans: Sequence[CapturePlan], open_carts: Mapping[CartKey, Cart]
) -> dict[tuple[CartKey, str], Cart]:
    sessions = {
        plan.session_id for plan in plans if plan.session_id and _key(plan) not in open_carts
    }
    if not sessions:
        return {}
    found: dict[tuple[CartKey, str], Cart] = {}
    for session_id, carts in tx.ordered_in_sessions(sessions).items():
        for cart in carts:
            if cart.contact.prospect_key is not None:
                found[((cart.contact.prospect_key, cart.context.form_id), session_id)] = cart
    return found


def save_captures(tx: ReadTransaction, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
    """Save eligible captures in order: read what deciding needs, decide, apply."""
    keys = {_key(plan) for plan in plans}
    event_ids = {plan.event_id for plan in plans if plan.event_id}
    prospects = {_key(plan)[0] for plan in plans if plan.consents}
    open_carts, receipts, ledgers = tx.capture_state(keys, event_ids, prospects)
    receipt_carts = tx.carts({r.cart_id for r in receipts.values()}) if receipts else {}
    state = CaptureState(
        open_carts=open_carts,
        receipts=receipts,
        receipt_carts=receipt_carts,
        ledgers=ledgers,
        ordered_in_session=_ordered_in_session(tx, plans, open_carts),
    )
    changes, outcomes = decide_captures(plans, state)
    if changes:
        tx.apply(changes)
    return outcomes


def _from_click(record: MessageRecord, click: Click) -> bool:
    """Whether ``click`` came from a link of ``record`` (its UTM parameters name the
    message's channel, flow and step)."""
    utm = click.utm
    if utm.get("utm_medium") not in (None, record.channel):
        return False
    if record.flow_id is not None and utm.get("utm_campaign") not in (None, record.flow_id):
        return False
    if record.step_id is not None and "utm_content" in utm:
        return utm["utm_content"] == utm_content(record.step_id, record.variant)
    return True


def recovery_credit(
    messages: Sequence[MessageRecord], clicks: Sequence[Click], at: datetime
) -> tuple[bool, MessageRecord | None]:
    """Whether an order at ``at`` recovered the cart, and the message credited.

    Recovered when a recovery message was sent or a recovery link clicked before the
    order. Credit goes to the last click (the latest message sent before it whose links
    the click's UTM parameters name, else the latest sent before it); without a click,
    to the last message sent.
    """
    sent = [record for record in messages if record.status == "sent" and record.at <= at]
    clicked = [click for click in clicks if click.at <= at]
    if not sent and not clicked:
        return False, None
    if not clicked:
        return True, sent[-1]
    last = clicked[-1]
    before = [record for record in sent if record.at <= last.at]
    matching = [record for record in before if _from_click(record, last)]
    if matching:
        return True, matching[-1]
    return True, before[-1] if before else None


def decide_closures(
    carts: Sequence[Cart],
    closure: OrderClosure,
    *,
    ids: IdFactory = new_id,
    messages: Mapping[str, Sequence[MessageRecord]] | None = None,
    clicks: Mapping[str, Sequence[Click]] | None = None,
) -> tuple[Changes, list[Cart]]:
    """Close ``carts`` with the order: each becomes ``ordered`` with a ``cart.ordered``
    event, followed by ``cart.recovered`` when a recovery message was sent (``messages``
    of each cart) or a recovery link clicked (``clicks``) before the order, crediting
    ``recovery_credit``'s message."""
    closed = [
        cart.model_copy(
            update={
                "status": "ordered",
                "order_id": closure.order_id,
                "revenue": closure.revenue,
                "ordered_at": closure.at,
            }
        )
        for cart in carts
    ]
    events: list[DomainEvent] = []
    for cart in closed:
        events.append(
            CartOrdered(
                event_id=ids("evt_"),
                occurred_at=closure.at,
                cart_id=cart.id,
                form_id=cart.context.form_id,
                order_id=closure.order_id,
                revenue=closure.revenue,
                currency=cart.context.currency,
            )
        )
        recovered, credited = recovery_credit(
            (messages or {}).get(cart.id, ()), (clicks or {}).get(cart.id, ()), closure.at
        )
        if recovered:
            events.append(
                CartRecovered(
                    event_id=ids("evt_"),
                    occurred_at=closure.at,
                    cart_id=cart.id,
                    form_id=cart.context.form_id,
                    order_id=closure.order_id,
                    revenue=closure.revenue,
                    currency=cart.context.currency,
                    message_id=credited.id if credited is not None else None,
                    channel=credited.channel if credited is not None else None,
                )
            )
    return Changes(updated_carts=tuple(closed), events=tuple(events)), closed


def close_carts(
    tx: ReadTransaction,
    closure: OrderClosure,
    *,
    prospect: str | None,
    session_id: str | None,
    form_id: str | None,
) -> list[Cart]:
    """Close the open carts of a prospect or a browser session with an order."""
    carts = tx.carts_to_close(prospect=prospect, session_id=session_id, form_id=form_id)
    ids = [cart.id for cart in carts]
    messages = tx.messages_of(ids) if ids else {}
    clicks = tx.clicks_of(ids) if ids else {}
    changes, closed = decide_closures(carts, closure, messages=messages, clicks=clicks)
    if changes:
        tx.apply(changes)
    return closed


def append_consent(
    tx: ReadTransaction, events: Sequence[ConsentEvent], *, ids: IdFactory = new_id
) -> list[ConsentEvent]:
    """Append ledger entries as given (an API call is recorded even when it repeats
    what is in force: it is the shop's statement of that moment)."""
    changes = Changes(
        consent=tuple(events), events=tuple(_consent_event(e, None, ids) for e in events)
    )
    if changes:
        tx.apply(changes)
    return list(events)


def record_click(
    tx: ReadTransaction,
    cart_id: str,
    at: datetime,
    utm: Mapping[str, str],
    *,
    ids: IdFactory = new_id,
) -> Click:
    """Record a recovery-link click with its UTM parameters (and, when it came from a
    sent message, that message's ``clicked`` engagement)."""
    if cart_id not in tx.carts([cart_id]):
        from cartback._errors import CartNotFoundError

        raise CartNotFoundError("no such cart", cart_id=cart_id)
    click = Click(cart_id=cart_id, at=at, utm=dict(utm))
    engagement = click_engaged(tx, cart_id, at, utm)
    tx.apply(
        Changes(
            clicks=(click,),
            events=(
                LinkClicked(event_id=ids("evt_"), occurred_at=at, cart_id=cart_id, utm=dict(utm)),
            ),
            engagements=() if engagement is None else (engagement,),
        )
    )
    return click


def _grant_once(
    tx: ReadTransaction, event: ConsentEvent, ids: IdFactory
) -> tuple[tuple[ConsentEvent, ...], tuple[DomainEvent, ...]]:
    """``event`` and its ``consent.changed``, unless the grant is already in force."""
    ledger = tx.consent_events([event.prospect]).get(event.prospect, [])
    kept = tuple(ledger_changes(ledger, [event]))
    return kept, tuple(_consent_event(e, None, ids) for e in kept)


def register_device(
    tx: ReadTransaction, device: PushDevice, *, ids: IdFactory = new_id
) -> PushDevice:
    """Register (or re-register) a push device; its operating system's opt-in is a push
    grant in the ledger. A token registered again for another prospect moves to them."""
    grant = ConsentEvent(
        prospect=device.prospect,
        channel="push",
        action="granted",
        at=device.registered_at,
        source=ConsentSource(kind="device", ref=device.platform),
    )
    consent, events = _grant_once(tx, grant, ids)
    tx.apply(Changes(devices=(device,), consent=consent, events=events))
    return device


def invalidate_devices(
    tx: ReadTransaction, tokens: Sequence[tuple[str, str]], at: datetime
) -> list[PushDevice]:
    """Mark the devices with these ``(platform, token)`` pairs unusable (the provider said
    the token is unregistered); they are never used again. Returns those that changed."""
    found = tx.devices(tokens)
    changed = [
        device.model_copy(update={"invalidated_at": at})
        for device in found.values()
        if device.invalidated_at is None
    ]
    if changed:
        tx.apply(Changes(devices=tuple(changed)))
    return changed


def register_social(
    tx: ReadTransaction,
    recipient: SocialRecipient,
    *,
    text_version: str | None = None,
    ids: IdFactory = new_id,
) -> SocialRecipient:
    """Register a Messenger or Instagram recipient; the platform's opt-in is a grant on
    that channel in the ledger."""
    grant = ConsentEvent(
        prospect=recipient.prospect,
        channel=recipient.platform,
        action="granted",
        at=recipient.opted_in_at,
        source=ConsentSource(kind="platform", ref=recipient.page_id),
        text_version=text_version,
    )
    consent, events = _grant_once(tx, grant, ids)
    tx.apply(Changes(social=(recipient,), consent=consent, events=events))
    return recipient


def record_payment_failure(
    tx: ReadTransaction,
    reason: PaymentFailureReason,
    at: datetime,
    *,
    prospect: str | None,
    session_id: str | None,
    form_id: str | None,
    ids: IdFactory = new_id,
) -> list[Cart]:
    """Record a failed payment on the prospect's (or session's) open carts: each keeps
    the reason and stays open (a submitted cart is open again), with a
    ``cart.payment_failed`` event."""
    carts = tx.carts_to_close(prospect=prospect, session_id=session_id, form_id=form_id)
    failure = PaymentFailure(reason=reason, at=at)
    failed = [
        cart.model_copy(
            update={
                "status": "open",
                "submitted_at": None,
                "payment_failures": (*cart.payment_failures, failure)[-20:],
                "updated_at": max(at, cart.updated_at),
            }
        )
        for cart in carts
    ]
    events = tuple(
        CartPaymentFailed(
            event_id=ids("evt_"),
            occurred_at=at,
            cart_id=cart.id,
            form_id=cart.context.form_id,
            reason=reason,
        )
        for cart in failed
    )
    if failed:
        tx.apply(Changes(updated_carts=tuple(failed), events=events))
    return failed


def mark_submitted(
    tx: ReadTransaction,
    at: datetime,
    *,
    session_id: str,
    form_id: str | None,
    ids: IdFactory = new_id,
) -> list[Cart]:
    """The browser saw the order form submitted: the session's open carts await the
    shop's confirmation (``cart.submitted``); an order or a payment failure settles
    them, and ``reopen_stale_submissions`` opens them again if neither comes."""
    carts = [
        cart
        for cart in tx.carts_to_close(prospect=None, session_id=session_id, form_id=form_id)
        if cart.status == "open"
    ]
    submitted = [
        cart.model_copy(
            update={
                "status": "submitted",
                "submitted_at": at,
                "updated_at": max(at, cart.updated_at),
            }
        )
        for cart in carts
    ]
    events = tuple(
        CartSubmitted(
            event_id=ids("evt_"), occurred_at=at, cart_id=cart.id, form_id=cart.context.form_id
        )
        for cart in submitted
    )
    if submitted:
        tx.apply(Changes(updated_carts=tuple(submitted), events=events))
    return submitted


def reopen_stale_submissions(
    tx: ReadTransaction,
    before: datetime,
    at: datetime,
    *,
    limit: int = 500,
    ids: IdFactory = new_id,
) -> list[Cart]:
    """Submitted carts neither confirmed nor failed since ``before`` are open again
    (``cart.reopened``): the order did not go through."""
    stale = tx.submitted_before(before, limit=limit)
    reopened = [cart.model_copy(update={"status": "open", "submitted_at": None}) for cart in stale]
    events = tuple(
        CartReopened(
            event_id=ids("evt_"), occurred_at=at, cart_id=cart.id, form_id=cart.context.form_id
        )
        for cart in reopened
    )
    if reopened:
        tx.apply(Changes(updated_carts=tuple(reopened), events=events))
    return reopened
