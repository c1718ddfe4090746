"""Ticket triggers: declarative rules that turn abandoned carts into sales tasks, and
the tickets' life (open, assigned, closed) with notes.

    rules = load_ticket_rules(path.read_text())
    drafts = evaluate_ticket_rules(rules, cart, history=earlier, consent=decisions, now=now)

Pure: the store keeps tickets unique by ``dedupe_key``; the outbox delivers a
``ticket.created`` event for each new one. See docs/tickets.md.
"""

from cartback.tickets._evaluate import (
    AbandonedCart,
    AbandonmentHistory,
    CartSummary,
    ChannelConsent,
    TicketDraft,
    consent_by_channel,
    evaluate_ticket_rules,
)
from cartback.tickets._rules import (
    AbandonmentsCondition,
    AnyOfCondition,
    CartValueCondition,
    ConsentCondition,
    DedupeScope,
    FormCondition,
    PhoneCondition,
    ProductCondition,
    SegmentCondition,
    TicketCondition,
    TicketKind,
    TicketPriority,
    TicketRule,
    TicketRuleError,
    TicketRuleSet,
    call_prospect_rule,
    important_lead_rule,
    load_ticket_rules,
    repeated_abandonments_rule,
)
from cartback.tickets._ticket import (
    Ticket,
    TicketNote,
    TicketNotFoundError,
    TicketResolution,
    TicketStatus,
    add_note,
    assign_ticket,
    close_ticket,
    new_ticket_id,
    open_ticket,
    reopen_ticket,
    unassign_ticket,
)

__all__ = [
    "AbandonedCart",
    "AbandonmentHistory",
    "AbandonmentsCondition",
    "AnyOfCondition",
    "CartSummary",
    "CartValueCondition",
    "ChannelConsent",
    "ConsentCondition",
    "DedupeScope",
    "FormCondition",
    "PhoneCondition",
    "ProductCondition",
    "SegmentCondition",
    "Ticket",
    "TicketCondition",
    "TicketDraft",
    "TicketKind",
    "TicketNotFoundError",
    "TicketNote",
    "TicketPriority",
    "TicketResolution",
    "TicketRule",
    "TicketRuleError",
    "TicketRuleSet",
    "TicketStatus",
    "add_note",
    "assign_ticket",
    "call_prospect_rule",
    "close_ticket",
    "consent_by_channel",
    "evaluate_ticket_rules",
    "important_lead_rule",
    "load_ticket_rules",
    "new_ticket_id",
    "open_ticket",
    "reopen_ticket",
    "repeated_abandonments_rule",
    "unassign_ticket",
]
