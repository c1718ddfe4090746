"""What the dashboard's pages show, computed from the SDK's values (pure: no I/O).

- ``when`` and ``short_when``: times as the pages write them (UTC).
- ``consent_summary``: one line per channel saying what the prospect chose: granted,
  withdrawn, the form's box left unticked, or no choice recorded (with what the default
  then allows).
- ``CartRow`` and ``CartListing``: the carts table.
- ``STATUS_HEADINGS``, ``STATUS_INTROS``, ``STATUS_LABELS``: what the carts page is
  called, says it lists and offers, for each status filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from cartback import Cart, Channel, ConsentDecision
from server_example.admin_filters import StatusFilter

__all__ = [
    "ALWAYS_SHOWN",
    "STATUS_HEADINGS",
    "STATUS_INTROS",
    "STATUS_LABELS",
    "CartListing",
    "CartRow",
    "ConsentLine",
    "ConsentState",
    "ConsentSummary",
    "consent_summary",
    "short_when",
    "when",
]

ConsentState = Literal["granted", "withdrawn", "left_unticked", "no_choice"]
"""What decided a channel: a grant, a withdrawal, the form's box sent unticked (known for
the newsletter box only), or nothing recorded (the channel's default applies)."""

ALWAYS_SHOWN: Final[tuple[Channel, ...]] = ("email", "sms", "push", "newsletter")
"""The channels an order form can ask about; Messenger and Instagram consent comes from
the platforms' own opt-in, so they are shown only once something was recorded."""

STATUS_HEADINGS: Final[Mapping[StatusFilter, str]] = {
    "all": "Carts",
    "open": "Abandoned carts",
    "submitted": "Submitted carts",
    "ordered": "Ordered carts",
}
"""The carts page's heading for each status filter: it names what is listed."""

STATUS_LABELS: Final[Mapping[StatusFilter, str]] = {
    "all": "Any status",
    "open": "Abandoned",
    "submitted": "Submitted, awaiting the order",
    "ordered": "Ordered",
}
"""The status filter's choices as the form offers them."""

STATUS_INTROS: Final[Mapping[StatusFilter, str]] = {
    "all": (
        "Every cart captured on an order form, newest first: abandoned ones, ones "
        "submitted and waiting for the order, and ordered ones (recovered sales among them)."
    ),
    "open": (
        "Carts whose prospect entered their contact details and has not ordered, newest first."
    ),
    "submitted": (
        "Carts whose order form was submitted; the shop has not confirmed the order yet. "
        "Without a confirmation they count as abandoned again."
    ),
    "ordered": "Carts an order closed, newest first: recovered sales among them.",
}
"""The sentence under the carts page's heading: what the list holds."""

_SOURCES: Final[Mapping[str, str]] = {
    "form": "on the order form",
    "api": "through the shop's backend",
    "unsubscribe_link": "through an unsubscribe link",
    "snippet_optout": "with the form's \u201cNo thanks\u201d",
    "device": "by allowing notifications on a device",
    "platform": "through the platform's opt-in",
    "reply": "by reply",
}


def when(value: datetime | None) -> str:
    """A time in full, as the pages write it: ``2026-11-22 12:00:00 UTC``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def short_when(value: datetime | None) -> str:
    """A time in a table cell, to the minute (the column says UTC): ``2026-11-22 12:00``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


@dataclass(frozen=True, slots=True)
class ConsentLine:
    """What one channel's consent stands on, for a page."""

    channel: Channel
    """The channel."""
    state: ConsentState
    """What decided it."""
    allowed: bool
    """Whether the prospect may be contacted on it now."""
    since: datetime | None = None
    """When the deciding choice was made (``None`` when nothing was recorded, or for a
    box left unticked, which records no event)."""
    source: str | None = None
    """How the choice was made, in words (``"on the order form"``)."""

    @property
    def label(self) -> str:
        """The state in words."""
        if self.state == "granted":
            return "granted"
        if self.state == "withdrawn":
            return "withdrawn"
        if self.state == "left_unticked":
            return "box left unticked"
        return "allowed by default" if self.allowed else "no choice recorded"


@dataclass(frozen=True, slots=True)
class ConsentSummary:
    """Every channel's consent, with the channels nothing was recorded for gathered."""

    lines: tuple[ConsentLine, ...]
    """Channels with a recorded choice, or allowed by default (email, usually)."""
    unrecorded: tuple[Channel, ...]
    """Channels the prospect may not be contacted on, with no choice recorded."""


def consent_summary(
    decisions: Mapping[Channel, ConsentDecision], newsletter_opt_in: bool | None
) -> ConsentSummary:
    """The consent of a cart's prospect per channel, as a page shows it.

    The ledger only records changes: a form's box sent unticked while nothing was
    granted records no event. The cart keeps the newsletter box as it was sent
    (``newsletter_opt_in``), so "box left unticked" is told apart from "no choice" for
    the newsletter; for the other channels the stored data cannot tell them apart, and
    the page says "no choice recorded" rather than guess that nobody asked.
    """
    lines: list[ConsentLine] = []
    unrecorded: list[Channel] = []
    for channel, decision in decisions.items():
        event = decision.event
        if decision.basis != "default" and event is not None:
            state: ConsentState = "granted" if decision.basis == "granted" else "withdrawn"
            lines.append(
                ConsentLine(
                    channel=channel,
                    state=state,
                    allowed=decision.allowed,
                    since=event.at,
                    source=_SOURCES.get(event.source.kind, event.source.kind),
                )
            )
        elif channel == "newsletter" and newsletter_opt_in is False:
            lines.append(
                ConsentLine(
                    channel=channel,
                    state="left_unticked",
                    allowed=decision.allowed,
                    source="on the order form",
                )
            )
        elif decision.allowed:
            lines.append(ConsentLine(channel=channel, state="no_choice", allowed=True))
        elif channel in ALWAYS_SHOWN:
            unrecorded.append(channel)
    return ConsentSummary(lines=tuple(lines), unrecorded=tuple(unrecorded))


@dataclass(frozen=True, slots=True)
class CartRow:
    """One row of the carts table."""

    cart: Cart
    """The cart."""
    consent: ConsentSummary
    """Its prospect's consent per channel."""


@dataclass(frozen=True, slots=True)
class CartListing:
    """One page of the carts table, with the counts of every matching cart."""

    rows: tuple[CartRow, ...]
    """The carts on this page, newest first."""
    total: int
    """How many carts match the filters."""
    by_product: list[tuple[str | None, int]]
    """Matching carts per product id, most first."""
    by_form: list[tuple[str | None, int]]
    """Matching carts per order form, most first."""
