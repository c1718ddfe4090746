"""A sales ticket's life: opened from a draft, assigned, noted, closed, reopened.

Tickets are frozen values; every step returns a new ticket (the store saves it), so a
dashboard request that lost a race never edits a ticket behind another one's back.
Steps that make no sense (assigning a closed ticket, closing it twice) raise
``InvalidInputError`` with ``field="status"`` and a stable reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from cartback._clock import ensure_utc
from cartback._errors import CartbackError, InvalidInputError
from cartback._ids import new_id
from cartback.tickets._evaluate import TicketDraft

__all__ = [
    "Ticket",
    "TicketNotFoundError",
    "TicketNote",
    "TicketResolution",
    "TicketStatus",
    "add_note",
    "assign_ticket",
    "close_ticket",
    "new_ticket_id",
    "open_ticket",
    "reopen_ticket",
    "unassign_ticket",
]

TicketStatus = Literal["open", "assigned", "closed"]
"""``open`` until someone takes it; ``assigned`` while a salesperson works on it;
``closed`` once done."""

TicketResolution = Literal["won", "lost", "unreachable", "duplicate", "other"]
"""How a closed ticket ended: the prospect bought; declined; could not be reached; the
ticket repeated another; something else (say what in a note)."""

_FROZEN: Final = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

Person = Annotated[str, Field(min_length=1, max_length=128)]


class TicketNote(BaseModel):
    """One note a staff member added."""

    model_config = _FROZEN

    author: Person
    """Who wrote it (a staff login or name)."""
    at: datetime
    """When (UTC)."""
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    """What they wrote (may hold personal data: never log it)."""


class Ticket(BaseModel):
    """A sales task about one cart."""

    model_config = _FROZEN

    id: Annotated[str, Field(min_length=1, max_length=64)]
    """Opaque ticket id."""
    status: TicketStatus
    """``open``, ``assigned`` or ``closed``."""
    draft: TicketDraft
    """What the trigger drafted: rule, reasons, contact, cart, history, consent, link."""
    assignee: Person | None = None
    """The salesperson on it; set while ``assigned``, kept when closed."""
    notes: tuple[TicketNote, ...] = ()
    """Notes, oldest first."""
    created_at: datetime
    """When it was opened (UTC)."""
    updated_at: datetime
    """When it last changed (UTC)."""
    closed_at: datetime | None = None
    """When it was closed (UTC), while ``closed``."""
    resolution: TicketResolution | None = None
    """How it ended, while ``closed``."""

    @model_validator(mode="after")
    def _consistent(self) -> Ticket:
        if self.status == "assigned" and self.assignee is None:
            raise PydanticCustomError("assignee_missing", "an assigned ticket has an assignee")
        if self.status == "open" and self.assignee is not None:
            raise PydanticCustomError("assignee_on_open", "an open ticket has no assignee")
        closed = self.status == "closed"
        if closed != (self.closed_at is not None) or closed != (self.resolution is not None):
            raise PydanticCustomError(
                "closing_fields", "closed_at and resolution are set exactly when closed"
            )
        return self

    @property
    def dedupe_key(self) -> str:
        """The draft's dedupe key (at most one ticket per key)."""
        return self.draft.dedupe_key


def new_ticket_id() -> str:
    """A new ticket id (sorts by creation)."""
    return new_id("tkt_")


def _refuse(reason: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, field="status", reason=reason)


def open_ticket(draft: TicketDraft, *, ticket_id: str, at: datetime) -> Ticket:
    """A new open ticket from a draft."""
    at = ensure_utc(at, name="at")
    return Ticket(id=ticket_id, status="open", draft=draft, created_at=at, updated_at=at)


def assign_ticket(ticket: Ticket, assignee: str, *, at: datetime) -> Ticket:
    """Give the ticket to ``assignee`` (or to someone else). A closed ticket is reopened
    first."""
    if ticket.status == "closed":
        raise _refuse("ticket_closed", "a closed ticket cannot be assigned; reopen it")
    return Ticket.model_validate(
        {
            **ticket.model_dump(),
            "status": "assigned",
            "assignee": assignee,
            "updated_at": ensure_utc(at, name="at"),
        }
    )


def unassign_ticket(ticket: Ticket, *, at: datetime) -> Ticket:
    """Put an assigned ticket back in the open pile."""
    if ticket.status != "assigned":
        raise _refuse("ticket_not_assigned", "only an assigned ticket can be unassigned")
    return ticket.model_copy(
        update={"status": "open", "assignee": None, "updated_at": ensure_utc(at, name="at")}
    )


def add_note(ticket: Ticket, *, author: str, text: str, at: datetime) -> Ticket:
    """Append a note (closed tickets take notes too)."""
    at = ensure_utc(at, name="at")
    note = TicketNote(author=author, at=at, text=text)
    return ticket.model_copy(update={"notes": (*ticket.notes, note), "updated_at": at})


def close_ticket(ticket: Ticket, *, resolution: TicketResolution, at: datetime) -> Ticket:
    """Close the ticket with how it ended."""
    if ticket.status == "closed":
        raise _refuse("ticket_closed", "the ticket is already closed")
    at = ensure_utc(at, name="at")
    return Ticket.model_validate(
        {
            **ticket.model_dump(),
            "status": "closed",
            "closed_at": at,
            "resolution": resolution,
            "updated_at": at,
        }
    )


def reopen_ticket(ticket: Ticket, *, at: datetime) -> Ticket:
    """Reopen a closed ticket: assigned again to its last assignee, if it had one."""
    if ticket.status != "closed":
        raise _refuse("ticket_not_closed", "only a closed ticket can be reopened")
    return ticket.model_copy(
        update={
            "status": "assigned" if ticket.assignee else "open",
            "closed_at": None,
            "resolution": None,
            "updated_at": ensure_utc(at, name="at"),
        }
    )


class TicketNotFoundError(CartbackError, LookupError):
    """No ticket with the given id exists (it may have been erased with its prospect)."""

    def __init__(self, message: str, *, ticket_id: str) -> None:
        super().__init__(message)
        self.ticket_id = ticket_id
