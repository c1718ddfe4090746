"""Recovery figures in one pass over journeys: messages, engagement rates, attributed
orders and revenue, overall and per channel, flow, step and A/B variant.

Definitions (every rate keeps its numerator and denominator):

- ``sent``: messages the provider accepted (status ``sent``); ``failed``: status
  ``failed``.
- ``delivered``: sent messages with a ``delivered`` receipt (channels without receipts
  report none).
- open rate: sent emails with an ``opened`` engagement, over emails sent since
  ``pixel_since``; n/a without the pixel and on every other channel.
- click-through rate: sent messages with a click, over sent messages.
- reply rate: sent messages with a reply, over sent messages that can be replied to
  (every channel but push).
- unsubscribe rate: sent messages with an ``unsubscribed`` engagement, over sent
  messages.
- ``contacted``: carts with at least one sent message in the group.
- conversion rate (the main figure): orders attributed to the group's messages, over
  carts contacted in the group.
- recovered revenue: the revenue of those orders (``linear`` shares split it).

An engagement counts once per message and kind, and only when it is dated at or after
its message was sent, and the message is in the journey.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Final, Self

from cartback._models import MessageRecord
from cartback._types import MessageChannel
from cartback.reports._attribution import Credit, attribute
from cartback.reports._groups import ALL, Dimension, Group, groups_for
from cartback.reports._journey import Journey
from cartback.reports._rates import Rate
from cartback.reports._settings import DEFAULT_SETTINGS, ReportSettings

__all__ = ["GroupFigures", "RecoveryFigures", "RecoveryReport", "recovery_figures"]

_DELIVERED: Final = 1
_OPENED: Final = 2
_CLICKED: Final = 4
_REPLIED: Final = 8
_UNSUBSCRIBED: Final = 16
_BITS: Final = {
    "delivered": _DELIVERED,
    "opened": _OPENED,
    "clicked": _CLICKED,
    "replied": _REPLIED,
    "unsubscribed": _UNSUBSCRIBED,
}
_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """The figures of one group (see the module for each definition)."""

    group: Group
    """Which messages: all, a channel, a flow, a step or a variant."""
    sent: int
    """Messages the provider accepted."""
    failed: int
    """Messages that could not be sent."""
    delivered: int
    """Sent messages with a delivery receipt."""
    opened: int
    """Sent emails with the pixel that were opened."""
    clicked: int
    """Sent messages with at least one click."""
    replied: int
    """Sent messages with at least one reply."""
    unsubscribed: int
    """Sent messages through which the prospect unsubscribed."""
    contacted: int
    """Carts with at least one sent message in the group."""
    orders: Fraction
    """Orders attributed to the group's messages (shares under ``linear``)."""
    revenue: Decimal
    """Their revenue in the report's currency."""
    open_rate: Rate
    """``opened`` / emails sent with the pixel."""
    click_rate: Rate
    """``clicked`` / ``sent``."""
    reply_rate: Rate
    """``replied`` / sent messages that can be replied to."""
    unsubscribe_rate: Rate
    """``unsubscribed`` / ``sent``."""
    conversion_rate: Rate
    """``orders`` / ``contacted``: the main figure."""


@dataclass(frozen=True, slots=True)
class RecoveryFigures:
    """A report's figures: the totals, then every group of each breakdown."""

    settings: ReportSettings
    """The settings the figures were counted with."""
    currency: str | None
    """The currency of every revenue figure (``None``: no order had revenue)."""
    carts: int
    """Journeys (carts) in the report."""
    contacted: int
    """Carts with at least one sent message."""
    orders: int
    """Ordered carts, recovered or not."""
    attributed_orders: int
    """Orders with at least one message in their window: recovered by messages."""
    unattributed_orders: int
    """Orders with no message in their window (not recovered by messages)."""
    attributed_revenue: Decimal
    """Revenue of the attributed orders (recovered revenue)."""
    unattributed_revenue: Decimal
    """Revenue of the other orders."""
    other_currency_orders: int
    """Orders whose revenue is in another currency, left out of every revenue sum."""
    recovery_rate: Rate
    """``attributed_orders`` / ``carts``."""
    overall: GroupFigures
    """Every message."""
    channels: tuple[GroupFigures, ...]
    """Per channel."""
    flows: tuple[GroupFigures, ...]
    """Per flow."""
    steps: tuple[GroupFigures, ...]
    """Per flow step."""
    variants: tuple[GroupFigures, ...]
    """Per A/B variant of a flow."""

    def breakdown(self, dimension: Dimension) -> tuple[GroupFigures, ...]:
        """The groups of one dimension (``all`` gives the overall group alone)."""
        if dimension == "all":
            return (self.overall,)
        return {
            "channel": self.channels,
            "flow": self.flows,
            "step": self.steps,
            "variant": self.variants,
        }[dimension]


class _Tally:
    """Additive counters of one message key (channel, flow, step, variant), or of a group
    once the keys are summed."""

    __slots__ = (
        "clicked",
        "delivered",
        "failed",
        "opened",
        "orders",
        "orders_shared",
        "pixel_sent",
        "replied",
        "replyable",
        "revenue",
        "sent",
        "unsubscribed",
    )

    def __init__(self) -> None:
        self.sent = self.failed = self.delivered = self.pixel_sent = self.opened = 0
        self.clicked = self.replyable = self.replied = self.unsubscribed = self.orders = 0
        self.orders_shared = Fraction(0)
        self.revenue = _ZERO

    def absorb(self, other: _Tally) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def figures(self, group: Group, contacted: int) -> GroupFigures:
        orders = self.orders + self.orders_shared
        return GroupFigures(
            group=group,
            sent=self.sent,
            failed=self.failed,
            delivered=self.delivered,
            opened=self.opened,
            clicked=self.clicked,
            replied=self.replied,
            unsubscribed=self.unsubscribed,
            contacted=contacted,
            orders=Fraction(orders),
            revenue=self.revenue,
            open_rate=Rate.of(self.opened, self.pixel_sent, otherwise="no_pixel"),
            click_rate=Rate.of(self.clicked, self.sent, otherwise="nothing_sent"),
            reply_rate=Rate.of(
                self.replied,
                self.replyable,
                otherwise="cannot_reply" if self.sent else "nothing_sent",
            ),
            unsubscribe_rate=Rate.of(self.unsubscribed, self.sent, otherwise="nothing_sent"),
            conversion_rate=Rate.of(orders, contacted, otherwise="nothing_sent"),
        )


_Key = tuple[MessageChannel, str | None, str | None, str | None]
_MAX_COMBINATIONS: Final = 4096


class RecoveryReport:
    """Recovery figures built one journey at a time, in memory bounded by the number of
    groups (channels, flows, steps, variants), never by the number of carts.

    ``add`` each journey (for instance from ``journeys(...)`` over rows read in
    batches), then read ``figures()``; ``add`` returns the order's credits, for the
    caller to record as ``ordered`` engagements.
    """

    def __init__(self, settings: ReportSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self._tallies: dict[_Key, _Tally] = {}
        self._group_index: dict[Group, int] = {}
        self._contacted_by: list[int] = []
        self._combinations: dict[frozenset[_Key], tuple[int, ...]] = {}
        self._currency = settings.currency
        self._pixel_since: datetime | None = settings.pixel_since
        self._carts = self._contacted = self._orders = self._attributed = 0
        self._other_currency = 0
        self._attributed_revenue = _ZERO
        self._unattributed_revenue = _ZERO

    def _tally(self, key: _Key) -> _Tally:
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        return tally

    def _revenue(self, journey: Journey) -> Decimal | None:
        """The order's revenue when it counts in this report's currency."""
        revenue = journey.revenue
        if revenue is None or not revenue.is_finite():
            return None
        currency = journey.currency
        if currency is not None:
            if self._currency is None:
                self._currency = currency
            elif currency != self._currency:
                self._other_currency += 1
                return None
        return revenue

    def _count_contacted(self, keys: set[_Key]) -> None:
        """One more contacted cart in every group its sent messages' keys fall in."""
        self._contacted += 1
        combination = frozenset(keys)
        indices = self._combinations.get(combination)
        if indices is None:
            found = {group for key in keys for group in groups_for(*key) if group != ALL}
            for group in found:
                if group not in self._group_index:
                    self._group_index[group] = len(self._contacted_by)
                    self._contacted_by.append(0)
            indices = tuple(self._group_index[group] for group in found)
            if len(self._combinations) < _MAX_COMBINATIONS:
                self._combinations[combination] = indices
        contacted = self._contacted_by
        for index in indices:
            contacted[index] += 1

    def add(self, journey: Journey) -> tuple[Credit, ...]:
        """Count one journey; return its order's credits (``()`` when unattributed)."""
        self._carts += 1
        pixel_since = self._pixel_since
        sent: dict[str, tuple[MessageRecord, _Tally]] = {}
        keys: set[_Key] = set()
        for message in journey.messages:
            status = message.status
            if status == "sent":
                key = (message.channel, message.flow_id, message.step_id, message.variant)
                tally = self._tally(key)
                sent[message.id] = (message, tally)
                keys.add(key)
                tally.sent += 1
                if message.channel == "push":
                    continue
                tally.replyable += 1
                if (
                    message.channel == "email"
                    and pixel_since is not None
                    and message.at >= pixel_since
                ):
                    tally.pixel_sent += 1
            elif status == "failed":
                key = (message.channel, message.flow_id, message.step_id, message.variant)
                self._tally(key).failed += 1
        if keys:
            self._count_contacted(keys)
        flags: dict[str, int] = {}
        for engagement in journey.engagements:
            entry = sent.get(engagement.message_id)
            bit = _BITS.get(engagement.kind)
            if entry is None or bit is None or engagement.at < entry[0].at:
                continue
            flags[engagement.message_id] = flags.get(engagement.message_id, 0) | bit
        for message_id, bits in flags.items():
            message, tally = sent[message_id]
            if bits & _DELIVERED:
                tally.delivered += 1
            if (
                bits & _OPENED
                and message.channel == "email"
                and pixel_since is not None
                and message.at >= pixel_since
            ):
                tally.opened += 1
            if bits & _CLICKED:
                tally.clicked += 1
            if bits & _REPLIED and message.channel != "push":
                tally.replied += 1
            if bits & _UNSUBSCRIBED:
                tally.unsubscribed += 1
        if journey.ordered_at is None:
            return ()
        self._orders += 1
        revenue = self._revenue(journey)
        credits = attribute(journey, self.settings)
        if not credits:
            if revenue is not None:
                self._unattributed_revenue += revenue
            return credits
        self._attributed += 1
        if revenue is not None:
            self._attributed_revenue += revenue
        for credit in credits:
            tally = sent[credit.message.id][1]
            if credit.share == 1:
                tally.orders += 1
            else:
                tally.orders_shared += credit.share
            if revenue is not None and credit.revenue is not None:
                tally.revenue += credit.revenue
        return credits

    def add_all(self, journeys: Iterable[Journey]) -> Self:
        """``add`` every journey; returns the report."""
        for journey in journeys:
            self.add(journey)
        return self

    def figures(self) -> RecoveryFigures:
        """The figures so far (the report can keep counting after)."""
        sums: dict[Group, _Tally] = {ALL: _Tally()}
        for key, tally in self._tallies.items():
            for group in groups_for(*key):
                total = sums.get(group)
                if total is None:
                    total = sums[group] = _Tally()
                total.absorb(tally)
        by_dimension: dict[Dimension, list[GroupFigures]] = {
            "channel": [],
            "flow": [],
            "step": [],
            "variant": [],
        }
        for group in sorted(sums, key=lambda group: group.sort_key):
            if group.dimension != "all":
                index = self._group_index.get(group)
                contacted = 0 if index is None else self._contacted_by[index]
                by_dimension[group.dimension].append(sums[group].figures(group, contacted))
        return RecoveryFigures(
            settings=self.settings,
            currency=self._currency,
            carts=self._carts,
            contacted=self._contacted,
            orders=self._orders,
            attributed_orders=self._attributed,
            unattributed_orders=self._orders - self._attributed,
            attributed_revenue=self._attributed_revenue,
            unattributed_revenue=self._unattributed_revenue,
            other_currency_orders=self._other_currency,
            recovery_rate=Rate.of(self._attributed, self._carts, otherwise="no_carts"),
            overall=sums[ALL].figures(ALL, self._contacted),
            channels=tuple(by_dimension["channel"]),
            flows=tuple(by_dimension["flow"]),
            steps=tuple(by_dimension["step"]),
            variants=tuple(by_dimension["variant"]),
        )


def recovery_figures(
    journeys: Iterable[Journey], settings: ReportSettings = DEFAULT_SETTINGS
) -> RecoveryFigures:
    """The figures of ``journeys`` (a stream: memory stays flat in their number)."""
    return RecoveryReport(settings).add_all(journeys).figures()
