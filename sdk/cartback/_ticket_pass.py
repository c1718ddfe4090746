"""Ticket triggers against the store: on capture (the outbox consumer ``tickets`` of
``cart.captured`` and ``cart.updated``) and on a schedule (a pass over every open cart,
so "abandoned three times this month" fires even without a new capture).

Creating is one write transaction per cart: read the cart, the prospect's other carts
and their consent ledger, evaluate the rules (pure), keep the drafts whose dedupe key no
ticket holds, and write them with one ``ticket.created`` event each. Write transactions
are serialized and the store keeps dedupe keys unique, so two workers evaluating the
same cart at once make one ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cartback._ids import new_id
from cartback._models import Cart, ConsentEvent
from cartback._types import CHANNELS, Channel
from cartback.client import Cartback
from cartback.consent import ConsentDecision, decide_consent
from cartback.events import TicketCreated
from cartback.store import Changes, ReadTransaction, Settlement
from cartback.tickets import Ticket, TicketDraft, TicketRuleSet, evaluate_ticket_rules, open_ticket

__all__ = ["TICKETS_CONSUMER", "TicketPass", "TicketPassReport", "create_tickets"]

log = logging.getLogger("cartback.tickets")

TICKETS_CONSUMER: Final = "tickets"
"""The outbox consumer name the ticket pass reads as."""


@dataclass
class TicketPassReport:
    """What one pass did (counts only)."""

    evaluated: int = 0
    """Carts the rules looked at."""
    created: int = 0
    """Tickets created."""


def create_tickets(
    tx: ReadTransaction,
    drafts: Sequence[TicketDraft],
    at: datetime,
    *,
    ids: Callable[[str], str] = new_id,
) -> list[Ticket]:
    """Open a ticket for each draft whose dedupe key no ticket holds yet, each with a
    ``ticket.created`` event; returns the new tickets."""
    taken = tx.tickets_by_key([draft.dedupe_key for draft in drafts])
    tickets: list[Ticket] = []
    for draft in drafts:
        if draft.dedupe_key in taken:
            continue
        ticket = open_ticket(draft, ticket_id=ids("tkt_"), at=at)
        taken[draft.dedupe_key] = ticket
        tickets.append(ticket)
    if tickets:
        tx.apply(
            Changes(
                tickets=tuple(tickets),
                events=tuple(
                    TicketCreated(
                        event_id=ids("evt_"),
                        occurred_at=at,
                        ticket_id=ticket.id,
                        rule=ticket.draft.rule_id,
                        cart_id=ticket.draft.cart.cart_id,
                    )
                    for ticket in tickets
                ),
            )
        )
    return tickets


class TicketPass:
    """Evaluates ``rules`` against the carts of ``cartback``'s store.

    ``recovery_url`` turns a recovery token into the link a ticket carries (the
    receiver: ``{public_url}/r/{token}``); without it, or without a ``LinkSigner`` on
    ``cartback``, tickets carry no link (the dashboard makes a fresh one when shown).
    """

    def __init__(
        self,
        cartback: Cartback,
        rules: TicketRuleSet,
        *,
        owner: str,
        recovery_url: Callable[[str], str] | None = None,
        schedule_every: timedelta = timedelta(minutes=15),
        batch: int = 500,
    ) -> None:
        self.cartback = cartback
        self.store = cartback.store
        self.rules = rules
        self.owner = owner
        self.recovery_url = recovery_url
        self.schedule_every = schedule_every
        self.batch = batch
        self._last_schedule: datetime | None = None
        if rules.rules:  # without rules nothing is read (and nothing holds the outbox back)
            self.store.register_consumer(
                TICKETS_CONSUMER, types={"cart.captured", "cart.updated"}, start="now"
            )

    # -- one cart -------------------------------------------------------------------

    def _consent(
        self, cart: Cart, events: Mapping[str, Sequence[ConsentEvent]], at: datetime
    ) -> dict[Channel, ConsentDecision]:
        prospect = cart.contact.prospect_key or ""
        ledger = events.get(prospect, [])
        defaults = self.cartback._defaults(cart, at)  # the jurisdiction's defaults
        return {
            channel: decide_consent(ledger, channel, at, defaults=defaults) for channel in CHANNELS
        }

    def _link(self, cart_id: str) -> str | None:
        if self.recovery_url is None or self.cartback.links is None:
            return None
        token = self.cartback.links.recovery_token(cart_id, now=self.cartback.now())
        return self.recovery_url(token)

    def evaluate(self, cart_ids: Sequence[str]) -> TicketPassReport:
        """Evaluate these carts now and create the tickets they call for."""
        report = TicketPassReport()
        if not self.rules.rules:
            return report
        now = self.cartback.now()
        for cart_id in dict.fromkeys(cart_ids):

            def work(tx: ReadTransaction, cart_id: str = cart_id) -> tuple[int, int]:
                cart = tx.carts([cart_id]).get(cart_id)
                prospect = cart.contact.prospect_key if cart is not None else None
                if cart is None or prospect is None or cart.status != "open":
                    return 0, 0
                history = tx.carts_of([prospect]).get(prospect, [])
                consent = self._consent(cart, tx.consent_events([prospect]), now)
                enrolment, messages = None, []
                if self.rules.reads_segments:
                    enrolment = tx.enrolments([cart.id]).get(cart.id)
                    messages = tx.messages_of([cart.id]).get(cart.id, [])
                drafts = evaluate_ticket_rules(
                    self.rules,
                    cart,
                    history=history,
                    consent=consent,
                    now=now,
                    enrolment=enrolment,
                    messages=messages,
                )
                if not drafts:
                    return 1, 0
                link = self._link(cart.id)
                if link is not None:
                    drafts = [draft.with_recovery_link(link) for draft in drafts]
                return 1, len(create_tickets(tx, drafts, now))

            evaluated, created = self.store.write(work)
            report.evaluated += evaluated
            report.created += created
        return report

    # -- the two triggers -------------------------------------------------------------

    def on_capture(self) -> TicketPassReport:
        """Evaluate the carts captured or updated since the last call."""
        if not self.rules.rules:
            return TicketPassReport()
        now = self.cartback.now()
        deliveries = self.store.claim(TICKETS_CONSUMER, owner=self.owner, now=now, limit=500)
        if not deliveries:
            return TicketPassReport()
        report = self.evaluate([d.cart_id for d in deliveries if d.cart_id])
        self.store.settle(TICKETS_CONSUMER, [Settlement.done(d.seq) for d in deliveries], now=now)
        return report

    def scheduled(self) -> TicketPassReport:
        """Evaluate every open cart (in pages; each cart in a short transaction)."""
        report = TicketPassReport()
        if not self.rules.rules:
            return report
        after: str | None = None
        while True:
            page = self.store.open_cart_page(after=after, limit=self.batch)
            if not page:
                return report
            one = self.evaluate([cart.id for cart in page])
            report.evaluated += one.evaluated
            report.created += one.created
            after = page[-1].id

    def tick(self) -> TicketPassReport:
        """``on_capture``, and ``scheduled`` when ``schedule_every`` has passed since the
        last scheduled pass of this object."""
        report = self.on_capture()
        now = self.cartback.now()
        if self._last_schedule is None or now - self._last_schedule >= self.schedule_every:
            self._last_schedule = now
            scheduled = self.scheduled()
            report.evaluated += scheduled.evaluated
            report.created += scheduled.created
        if report.created:
            log.info("ticket triggers created %d tickets", report.created)
        return report
