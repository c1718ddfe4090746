"""A ticket's life: opened, assigned, noted, closed, reopened."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from cartback import InvalidInputError
from cartback.tickets import (
    Ticket,
    TicketDraft,
    TicketRuleSet,
    add_note,
    assign_ticket,
    call_prospect_rule,
    close_ticket,
    evaluate_ticket_rules,
    new_ticket_id,
    open_ticket,
    reopen_ticket,
    unassign_ticket,
)
from tests.tickets.support import NOW, cart


def draft() -> TicketDraft:
    rules = TicketRuleSet(rules=(call_prospect_rule(Decimal("100")),))
    [made] = evaluate_ticket_rules(rules, cart(), now=NOW)
    return made


def test_a_ticket_goes_from_open_to_assigned_to_closed_and_back() -> None:
    ticket = open_ticket(draft(), ticket_id="tkt_1", at=NOW)
    assert (ticket.status, ticket.assignee, ticket.notes) == ("open", None, ())
    assert ticket.dedupe_key == "call-prospect:cart:c_1"

    ticket = assign_ticket(ticket, "maria", at=NOW + timedelta(minutes=1))
    assert (ticket.status, ticket.assignee) == ("assigned", "maria")
    ticket = add_note(
        ticket, author="maria", text="Voicemail, calling back at 3", at=NOW + timedelta(minutes=2)
    )
    ticket = add_note(
        ticket, author="maria", text="Card declined; sent the link", at=NOW + timedelta(minutes=3)
    )
    assert [note.text for note in ticket.notes] == [
        "Voicemail, calling back at 3",
        "Card declined; sent the link",
    ]
    ticket = close_ticket(ticket, resolution="won", at=NOW + timedelta(minutes=4))
    assert (ticket.status, ticket.resolution, ticket.assignee) == ("closed", "won", "maria")
    assert ticket.closed_at == ticket.updated_at == NOW + timedelta(minutes=4)

    ticket = reopen_ticket(ticket, at=NOW + timedelta(minutes=5))
    assert (ticket.status, ticket.assignee, ticket.closed_at, ticket.resolution) == (
        "assigned",
        "maria",
        None,
        None,
    )
    ticket = unassign_ticket(ticket, at=NOW + timedelta(minutes=6))
    assert (ticket.status, ticket.assignee) == ("open", None)
    assert ticket.created_at == NOW
    assert len(ticket.notes) == 2


def test_an_open_ticket_reopens_as_open_and_notes_go_on_closed_ones() -> None:
    ticket = close_ticket(
        open_ticket(draft(), ticket_id="tkt_1", at=NOW), resolution="unreachable", at=NOW
    )
    noted = add_note(ticket, author="sam", text="Number disconnected", at=NOW)
    assert noted.status == "closed"
    assert reopen_ticket(noted, at=NOW).status == "open"


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (
            lambda t: assign_ticket(close_ticket(t, resolution="lost", at=NOW), "sam", at=NOW),
            "ticket_closed",
        ),
        (
            lambda t: close_ticket(
                close_ticket(t, resolution="lost", at=NOW), resolution="won", at=NOW
            ),
            "ticket_closed",
        ),
        (lambda t: reopen_ticket(t, at=NOW), "ticket_not_closed"),
        (lambda t: unassign_ticket(t, at=NOW), "ticket_not_assigned"),
    ],
)
def test_steps_that_make_no_sense_are_refused(step: object, reason: str) -> None:
    ticket = open_ticket(draft(), ticket_id="tkt_1", at=NOW)
    with pytest.raises(InvalidInputError) as caught:
        step(ticket)  # type: ignore[operator]
    assert (caught.value.field, caught.value.reason) == ("status", reason)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "assigned"},
        {"status": "open", "assignee": "sam"},
        {"status": "closed"},
        {"status": "open", "resolution": "won"},
    ],
)
def test_a_ticket_cannot_hold_an_inconsistent_state(changes: dict[str, object]) -> None:
    ticket = open_ticket(draft(), ticket_id="tkt_1", at=NOW)
    with pytest.raises(ValidationError):
        Ticket.model_validate({**ticket.model_dump(), **changes})


def test_notes_and_assignees_are_bounded() -> None:
    ticket = open_ticket(draft(), ticket_id="tkt_1", at=NOW)
    with pytest.raises(ValidationError):
        add_note(ticket, author="sam", text="", at=NOW)
    with pytest.raises(ValidationError):
        assign_ticket(ticket, "x" * 129, at=NOW)


def test_new_ticket_ids_are_unique_and_sort_by_creation() -> None:
    ids = [new_ticket_id() for _ in range(50)]
    assert all(one.startswith("tkt_") for one in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_a_ticket_round_trips_through_json() -> None:
    ticket = add_note(
        assign_ticket(open_ticket(draft(), ticket_id="tkt_1", at=NOW), "maria", at=NOW),
        author="maria",
        text="Called",
        at=NOW,
    )
    assert Ticket.model_validate_json(ticket.model_dump_json()) == ticket
