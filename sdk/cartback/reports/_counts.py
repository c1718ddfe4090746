"""Where carts are abandoned: counts by product, order form, local hour and weekday, and
abandonment diagnostics (the furthest step, the last field touched, payment failures).

Both counters read carts one at a time and keep one row per key, so memory grows with
the number of products, forms and field names, never with the number of carts. Keys
come from the page (a prospect can make up a product id or a field name), so each table
keeps at most ``max_keys`` keys and counts the rest together as ``others``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, Self

from cartback._models import Cart
from cartback._types import PaymentFailureReason
from cartback.reports._time import TimeZoneLike, resolve_zone

__all__ = [
    "PAYMENT_FAILURE_REASONS",
    "AbandonmentCounter",
    "AbandonmentCounts",
    "CountRow",
    "CountTable",
    "Diagnostics",
    "DiagnosticsCounter",
    "DiagnosticsReport",
]

PAYMENT_FAILURE_REASONS: Final[tuple[PaymentFailureReason, ...]] = (
    "authentication_timeout",
    "card_declined",
    "insufficient_funds",
    "other",
)


@dataclass(frozen=True, slots=True)
class CountRow:
    """Carts under one key."""

    key: str | None
    """The product or form id (``None``: carts without a product id)."""
    label: str | None
    """The product's name as last captured, when known."""
    carts: int
    """Carts counted."""
    ordered: int
    """Of those, the ordered ones."""


@dataclass(frozen=True, slots=True)
class CountTable:
    """Rows by key, most carts first (then by key)."""

    rows: tuple[CountRow, ...]
    """At most ``max_keys`` rows."""
    others: int
    """Carts under keys past ``max_keys`` (first come, first kept)."""
    others_ordered: int
    """Of those, the ordered ones."""


@dataclass(frozen=True, slots=True)
class AbandonmentCounts:
    """The counts of a set of carts."""

    time_zone: str
    """The zone hours and weekdays are counted in."""
    carts: int
    """Carts counted."""
    ordered: int
    """Of those, the ordered ones."""
    by_product: CountTable
    """Per product id."""
    by_form: CountTable
    """Per order form id."""
    by_hour: tuple[int, ...]
    """24 counts: carts captured in each local hour, midnight first."""
    by_weekday: tuple[int, ...]
    """7 counts: carts captured on each local weekday, Monday first."""


class _Keys:
    __slots__ = ("counts", "labels", "max_keys", "others", "others_ordered")

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.counts: dict[str | None, list[int]] = {}
        self.labels: dict[str | None, tuple[datetime, str]] = {}
        self.others = self.others_ordered = 0

    def add(self, key: str | None, ordered: bool, label: str | None, at: datetime) -> None:
        row = self.counts.get(key)
        if row is None:
            if len(self.counts) >= self.max_keys:
                self.others += 1
                self.others_ordered += ordered
                return
            row = self.counts[key] = [0, 0]
        row[0] += 1
        row[1] += ordered
        if label is not None:
            known = self.labels.get(key)
            if known is None or at >= known[0]:
                self.labels[key] = (at, label)

    def table(self) -> CountTable:
        rows = [
            CountRow(key, self.labels[key][1] if key in self.labels else None, carts, ordered)
            for key, (carts, ordered) in self.counts.items()
        ]
        rows.sort(key=lambda row: (-row.carts, row.key is None, row.key or ""))
        return CountTable(tuple(rows), self.others, self.others_ordered)


def _zone_name(time_zone: TimeZoneLike) -> str:
    return time_zone if isinstance(time_zone, str) else str(time_zone)


class AbandonmentCounter:
    """Counts carts by product, form, local hour and weekday, one cart at a time."""

    def __init__(self, time_zone: TimeZoneLike = "UTC", *, max_keys: int = 10_000) -> None:
        self._zone = resolve_zone(time_zone)
        self._zone_name = _zone_name(time_zone)
        self._products = _Keys(max_keys)
        self._forms = _Keys(max_keys)
        self._hours = [0] * 24
        self._weekdays = [0] * 7
        self._carts = self._ordered = 0

    def add(self, cart: Cart) -> None:
        """Count one cart (in the hour and weekday of its capture)."""
        ordered = cart.status == "ordered"
        context = cart.context
        self._carts += 1
        self._ordered += ordered
        self._products.add(context.product_id, ordered, context.product_name, cart.created_at)
        self._forms.add(context.form_id, ordered, None, cart.created_at)
        local = cart.created_at.astimezone(self._zone)
        self._hours[local.hour] += 1
        self._weekdays[local.weekday()] += 1

    def add_all(self, carts: Iterable[Cart]) -> Self:
        """``add`` every cart; returns the counter."""
        for cart in carts:
            self.add(cart)
        return self

    def counts(self) -> AbandonmentCounts:
        """The counts so far."""
        return AbandonmentCounts(
            time_zone=self._zone_name,
            carts=self._carts,
            ordered=self._ordered,
            by_product=self._products.table(),
            by_form=self._forms.table(),
            by_hour=tuple(self._hours),
            by_weekday=tuple(self._weekdays),
        )


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """Where prospects stopped, for one order form or one product. Field names and step
    numbers only: never a value the prospect typed."""

    dimension: Literal["form", "product"]
    """What ``key`` is."""
    key: str | None
    """The form or product id (``None``: carts without a product id)."""
    carts: int
    """Carts counted."""
    steps: tuple[tuple[int | None, int], ...]
    """Carts by the furthest step reached (1-based), in step order; ``None`` (last):
    the page did not report a step."""
    last_fields: tuple[tuple[str | None, int], ...]
    """Carts by the name of the field touched last, most first; ``None``: not reported."""
    other_fields: int
    """Carts whose last field is past the table's ``max_fields`` names."""
    payment_failures: tuple[tuple[PaymentFailureReason, int], ...]
    """Failed payment attempts by reason (every reason, in a fixed order)."""
    carts_with_failures: int
    """Carts with at least one failed payment attempt."""

    def reached(self, step: int) -> int:
        """Carts that reached ``step`` or a later one (a funnel's bar)."""
        return sum(count for number, count in self.steps if number is not None and number >= step)


@dataclass(frozen=True, slots=True)
class DiagnosticsReport:
    """Diagnostics per order form and per product."""

    forms: tuple[Diagnostics, ...]
    """Per form, most carts first."""
    products: tuple[Diagnostics, ...]
    """Per product, most carts first."""
    others: int
    """Carts left out of a table that was full (``max_keys``), counted once per table."""


class _Diagnosis:
    __slots__ = ("carts", "failed_carts", "failures", "fields", "other_fields", "steps")

    def __init__(self) -> None:
        self.carts = self.failed_carts = self.other_fields = 0
        self.steps: dict[int | None, int] = {}
        self.fields: dict[str | None, int] = {}
        self.failures = dict.fromkeys(PAYMENT_FAILURE_REASONS, 0)

    def add(self, cart: Cart, max_fields: int) -> None:
        context = cart.context
        self.carts += 1
        self.steps[context.step] = self.steps.get(context.step, 0) + 1
        name = context.last_field
        if name in self.fields:
            self.fields[name] += 1
        elif len(self.fields) < max_fields:
            self.fields[name] = 1
        else:
            self.other_fields += 1
        if cart.payment_failures:
            self.failed_carts += 1
            for failure in cart.payment_failures:
                self.failures[failure.reason] = self.failures.get(failure.reason, 0) + 1

    def result(self, dimension: Literal["form", "product"], key: str | None) -> Diagnostics:
        steps = sorted(self.steps.items(), key=lambda item: (item[0] is None, item[0] or 0))
        fields = sorted(
            self.fields.items(), key=lambda item: (-item[1], item[0] is None, item[0] or "")
        )
        return Diagnostics(
            dimension=dimension,
            key=key,
            carts=self.carts,
            steps=tuple(steps),
            last_fields=tuple(fields),
            other_fields=self.other_fields,
            payment_failures=tuple(self.failures.items()),
            carts_with_failures=self.failed_carts,
        )


class DiagnosticsCounter:
    """Abandonment diagnostics, one cart at a time.

    Ordered carts are left out unless ``include_ordered``: the diagnostics say where
    prospects who did not buy stopped.
    """

    def __init__(
        self, *, include_ordered: bool = False, max_keys: int = 1_000, max_fields: int = 100
    ) -> None:
        self._include_ordered = include_ordered
        self._max_keys = max_keys
        self._max_fields = max_fields
        self._forms: dict[str | None, _Diagnosis] = {}
        self._products: dict[str | None, _Diagnosis] = {}
        self._others = 0

    def _entry(self, table: dict[str | None, _Diagnosis], key: str | None) -> _Diagnosis | None:
        found = table.get(key)
        if found is None:
            if len(table) >= self._max_keys:
                self._others += 1
                return None
            found = table[key] = _Diagnosis()
        return found

    def add(self, cart: Cart) -> None:
        """Count one cart (skipped when ordered, unless ``include_ordered``)."""
        if cart.status == "ordered" and not self._include_ordered:
            return
        for table, key in (
            (self._forms, cart.context.form_id),
            (self._products, cart.context.product_id),
        ):
            entry = self._entry(table, key)
            if entry is not None:
                entry.add(cart, self._max_fields)

    def add_all(self, carts: Iterable[Cart]) -> Self:
        """``add`` every cart; returns the counter."""
        for cart in carts:
            self.add(cart)
        return self

    def report(self) -> DiagnosticsReport:
        """The diagnostics so far."""

        def ordered(items: list[Diagnostics]) -> tuple[Diagnostics, ...]:
            items.sort(key=lambda item: (-item.carts, item.key is None, item.key or ""))
            return tuple(items)

        return DiagnosticsReport(
            forms=ordered([entry.result("form", key) for key, entry in self._forms.items()]),
            products=ordered(
                [entry.result("product", key) for key, entry in self._products.items()]
            ),
            others=self._others,
        )
