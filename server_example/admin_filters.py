"""The dashboard's filter forms, read from query parameters and checked.

Every parser returns what it could use and the problems it found, as sentences a shop
owner can act on; a page with problems answers 400 and shows them above the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final, Literal

from cartback import CartQuery, CartStatus, InvalidInputError
from cartback.export import CsvStyle, csv_format
from cartback.store import TicketQuery
from cartback.tickets import TicketStatus

__all__ = [
    "EARLIEST_DAY",
    "LATEST_DAY",
    "MAX_EMAIL_FILTER",
    "MAX_PAGE",
    "PERIOD_CHOICES",
    "STATUS_FILTERS",
    "TICKET_STATUS_FILTERS",
    "DashboardFilters",
    "Period",
    "PeriodChoice",
    "StatusFilter",
    "TicketFilters",
    "TicketStatusFilter",
    "parse_filters",
    "parse_format",
    "parse_period",
    "parse_ticket_filters",
]

MAX_EMAIL_FILTER: Final = 254
"""Longest accepted email filter (the longest possible email address)."""
MAX_PAGE: Final = 100_000
"""Highest page number accepted."""
MAX_PERSON: Final = 128
"""Longest accepted assignee filter."""
EARLIEST_DAY: Final = date(2000, 1, 1)
"""The earliest day a date filter accepts."""
LATEST_DAY: Final = date(2999, 12, 31)
"""The latest day a date filter accepts."""

StatusFilter = Literal["all", "open", "submitted", "ordered"]
"""The status choice of the carts filter: a cart status, or ``all``."""
STATUS_FILTERS: Final[tuple[StatusFilter, ...]] = ("all", "open", "submitted", "ordered")
"""The status choices, in the order the form offers them."""

TicketStatusFilter = Literal["open", "assigned", "closed", "all"]
"""The status choice of the tickets filter."""
TICKET_STATUS_FILTERS: Final[tuple[TicketStatusFilter, ...]] = (
    "open",
    "assigned",
    "closed",
    "all",
)
"""The ticket status choices, in the order the form offers them."""

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class DashboardFilters:
    """The carts filter form's values, checked."""

    start: date | None = None
    """First day (UTC), inclusive."""
    end: date | None = None
    """Last day (UTC), inclusive."""
    email: str = ""
    """Part of an email address, case-insensitive."""
    status: StatusFilter = "all"
    """A cart status, or ``all``."""
    page: int = 1
    """1-based page number."""

    @property
    def active(self) -> bool:
        """Whether any filter narrows the carts (the page number aside)."""
        return bool(self.start or self.end or self.email or self.status != "all")

    def query(self) -> CartQuery:
        """The store query these filters stand for."""
        status: CartStatus | None = None if self.status == "all" else self.status
        return CartQuery(
            start=self.start, end=self.end, email_contains=self.email or None, status=status
        )

    def params(self, **changes: str | int) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), with ``changes``."""
        values: dict[str, str | int] = {
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
            "email": self.email,
            "status": "" if self.status == "all" else self.status,
            "page": "" if self.page == 1 else self.page,
        }
        values.update(changes)
        return {name: str(value) for name, value in values.items() if value not in ("", 1)}


def _parse_day(text: str, label: str, errors: list[str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label} is not a date: use the form YYYY-MM-DD.")
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        errors.append(f"{label} must be between {EARLIEST_DAY} and {LATEST_DAY}.")
        return None
    return day


def _page(params: Mapping[str, str], errors: list[str]) -> int:
    text = params.get("page", "").strip() or "1"
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PAGE:
        return int(text)
    errors.append(f"The page must be a whole number from 1 to {MAX_PAGE}.")
    return 1


def parse_filters(params: Mapping[str, str]) -> tuple[DashboardFilters, list[str]]:
    """The carts filters in ``params`` and the problems found (readable sentences).

    When there are problems, the returned filters hold only the values that were valid.
    """
    errors: list[str] = []
    start = _parse_day(params.get("start", ""), "The start date", errors)
    end = _parse_day(params.get("end", ""), "The end date", errors)
    if start and end and start > end:
        errors.append("The start date is after the end date.")
    email = params.get("email", "").strip()
    if len(email) > MAX_EMAIL_FILTER or _CONTROL.search(email):
        errors.append(f"The email filter must be at most {MAX_EMAIL_FILTER} printable characters.")
        email = ""
    status_text = params.get("status", "") or "all"
    status: StatusFilter = "all"
    for known in STATUS_FILTERS:
        if status_text == known:
            status = known
            break
    else:
        errors.append("The status must be open, submitted, ordered or all.")
    page = _page(params, errors)
    return DashboardFilters(start=start, end=end, email=email, status=status, page=page), errors


def parse_format(params: Mapping[str, str], errors: list[str]) -> CsvStyle:
    """The CSV format asked for (``spreadsheet`` when none): ``spreadsheet`` or
    ``tools``, and their old names ``excel`` and ``rfc4180``."""
    try:
        return csv_format(params.get("format", "") or "spreadsheet")
    except InvalidInputError:
        errors.append("The export format must be spreadsheet or tools.")
        return "spreadsheet"


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """The tickets filter form's values, checked."""

    status: TicketStatusFilter = "open"
    """A ticket status, or ``all``."""
    assignee: str = ""
    """One salesperson's tickets (exact name); empty for everyone's."""
    page: int = 1
    """1-based page number."""

    def query(self) -> TicketQuery:
        """The store query these filters stand for."""
        status: TicketStatus | None = None if self.status == "all" else self.status
        return TicketQuery(status=status, assignee=self.assignee or None)

    def params(self, **changes: str | int) -> dict[str, str]:
        """The filters as query parameters (the assignee and page only when set)."""
        values: dict[str, str | int] = {
            "status": self.status,
            "assignee": self.assignee,
            "page": "" if self.page == 1 else self.page,
        }
        values.update(changes)
        return {name: str(value) for name, value in values.items() if value not in ("", 1)}


def parse_ticket_filters(params: Mapping[str, str]) -> tuple[TicketFilters, list[str]]:
    """The tickets filters in ``params`` and the problems found."""
    errors: list[str] = []
    status_text = params.get("status", "") or "open"
    status: TicketStatusFilter = "open"
    for known in TICKET_STATUS_FILTERS:
        if status_text == known:
            status = known
            break
    else:
        errors.append("The status must be open, assigned, closed or all.")
    assignee = params.get("assignee", "").strip()
    if len(assignee) > MAX_PERSON or _CONTROL.search(assignee):
        errors.append(f"The assignee filter must be at most {MAX_PERSON} printable characters.")
        assignee = ""
    page = _page(params, errors)
    return TicketFilters(status=status, assignee=assignee, page=page), errors


PeriodChoice = Literal["7d", "30d", "90d", "custom"]
"""The overview's periods: the last 7, 30 or 90 days (today included), or chosen days."""
PERIOD_CHOICES: Final[Mapping[PeriodChoice, str]] = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Chosen days",
}
"""The period choices as the picker offers them."""
MAX_PERIOD_DAYS: Final = 3660
"""The longest period accepted (ten years)."""


@dataclass(frozen=True, slots=True)
class Period:
    """A period of whole local days, and its instants."""

    choice: PeriodChoice
    """How it was chosen."""
    first_day: date
    """Its first day (local), inclusive."""
    last_day: date
    """Its last day (local), inclusive."""
    since: datetime
    """The first day's local midnight (aware)."""
    until: datetime
    """The local midnight after the last day (aware, exclusive)."""

    @property
    def days(self) -> int:
        """How many days it covers."""
        return (self.last_day - self.first_day).days + 1

    @property
    def label(self) -> str:
        """The period in words: ``Last 30 days (2026-10-24 to 2026-11-22)``."""
        span = f"{self.first_day} to {self.last_day}"
        if self.choice == "custom":
            return span if self.days > 1 else str(self.first_day)
        return f"{PERIOD_CHOICES[self.choice]} ({span})"

    def params(self) -> dict[str, str]:
        """The period as query parameters."""
        if self.choice == "custom":
            return {
                "period": "custom",
                "from": self.first_day.isoformat(),
                "to": self.last_day.isoformat(),
            }
        return {"period": self.choice}


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def parse_period(
    params: Mapping[str, str], *, now: datetime, zone: tzinfo
) -> tuple[Period, list[str]]:
    """The period in ``params`` (``period``; ``from`` and ``to`` for chosen days, local
    dates, inclusive) in the shop's ``zone``; the last 30 days by default, and when the
    chosen days cannot be used (with the problems found)."""
    errors: list[str] = []
    today = now.astimezone(zone).date()
    text = params.get("period", "") or "30d"
    choice: PeriodChoice = "30d"
    for known in PERIOD_CHOICES:
        if text == known:
            choice = known
            break
    else:
        errors.append("The period must be 7d, 30d, 90d or custom.")
    if choice == "custom":
        first = _parse_day(params.get("from", ""), "The first day", errors)
        last = _parse_day(params.get("to", ""), "The last day", errors)
        if not errors and (first is None or last is None):
            errors.append("Choose the first and the last day of the period.")
        elif first and last and first > last:
            errors.append("The first day is after the last day.")
        elif first and last and (last - first).days >= MAX_PERIOD_DAYS:
            errors.append(f"A period covers {MAX_PERIOD_DAYS} days at most.")
        if not errors and first is not None and last is not None:
            return Period(
                "custom", first, last, _midnight(first, zone),
                _midnight(last + timedelta(days=1), zone),
            ), errors  # fmt: skip
        choice = "30d"
    days = int(choice.removesuffix("d"))
    first = today - timedelta(days=days - 1)
    period = Period(
        choice, first, today, _midnight(first, zone), _midnight(today + timedelta(days=1), zone)
    )
    return period, errors
