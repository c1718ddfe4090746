"""What recovery earned, read from the store: the headline figures, the full insights of
a period, and the carts of a segment.

The pure reports (``cartback.reports``) count; this module feeds them the store's rows
a page at a time (``Store.report_batches``), so memory stays flat in the number of
carts. The headline takes a shorter path: the database counts carts, contacts and
control groups, and only ordered carts are read, for attribution and revenue.

A period is ``since`` (inclusive) to ``until`` (exclusive), by the carts' capture time:
a cart counts in the period it was abandoned in, whenever it was recovered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

from pydantic import ValidationError

from cartback._errors import InvalidInputError
from cartback._models import Cart, ConsentEvent
from cartback._types import Channel
from cartback.consent import ConsentDecision
from cartback.flows._enrolment import Enrolment
from cartback.reports import (
    AbandonmentCounter,
    AbandonmentCounts,
    AllSegment,
    BucketSize,
    ControlTally,
    DiagnosticsCounter,
    DiagnosticsReport,
    FormSegment,
    Journey,
    Lift,
    ProductSegment,
    Rate,
    RecoveryFigures,
    RecoveryReport,
    RecoverySeries,
    ReportSettings,
    Segment,
    SegmentContext,
    TimeZoneLike,
    attribute,
    bucket_start,
    parse_segment,
    resolve_zone,
)
from cartback.store._protocol import CartQuery, ReportBatch, Store

__all__ = [
    "FlowLift",
    "Headline",
    "Insights",
    "build_headline",
    "build_insights",
    "read_segment",
    "segment_batches",
]

_ZERO: Final = Decimal(0)
_TICK: Final = timedelta(microseconds=1)

ConsentReader = Callable[[Cart, Sequence[ConsentEvent]], Mapping[Channel, ConsentDecision]]
"""The consent decision per channel of a cart's prospect now, from their ledger."""


@dataclass(frozen=True, slots=True)
class FlowLift:
    """One flow's incremental lift against its control group."""

    flow_id: str
    """The flow."""
    treated: int
    """Carts of the period that entered the flow and could receive its messages."""
    control: int
    """Carts of the period held out in its control group."""
    lift: Lift
    """Conversion with and without the flow, the difference and its interval, and the
    revenue it added (``lift.status`` says when the samples are too small)."""


@dataclass(frozen=True, slots=True)
class Headline:
    """The figures a shop owner reads first, for one period."""

    since: datetime
    """The period's start (inclusive, UTC)."""
    until: datetime
    """The period's end (exclusive, UTC)."""
    abandoned: int
    """Carts captured (abandoned) in the period, whatever became of them."""
    contacted: int
    """Of those, carts at least one recovery message was sent about."""
    orders: int
    """Of those, carts that were ordered, recovered or not."""
    recovered: int
    """Orders credited to a recovery message (``ReportSettings``' attribution window)."""
    recovery_rate: Rate
    """``recovered / abandoned``."""
    recovered_revenue: Decimal
    """The recovered orders' revenue, in ``currency``."""
    currency: str | None
    """The currency of ``recovered_revenue`` (orders in another are left out of it)."""
    lifts: tuple[FlowLift, ...]
    """Per flow that held carts out in a control group this period, by flow id."""


@dataclass(frozen=True, slots=True)
class Insights:
    """Everything the dashboard shows for one period, from one pass over its carts."""

    since: datetime
    """The period's start (inclusive, UTC)."""
    until: datetime
    """The period's end (exclusive, UTC)."""
    abandoned: int
    """Carts captured in the period."""
    contacted: int
    """Of those, carts at least one recovery message was sent about."""
    orders: int
    """Of those, ordered carts, recovered or not."""
    recovered: int
    """Orders credited to a recovery message."""
    recovery_rate: Rate
    """``recovered / abandoned``."""
    recovered_revenue: Decimal
    """The recovered orders' revenue, in ``currency``."""
    currency: str | None
    """The currency of every revenue figure."""
    lifts: tuple[FlowLift, ...]
    """Per flow with a control group this period."""
    figures: RecoveryFigures
    """Sent, delivered, open, click, reply, unsubscribe and conversion rates, orders and
    revenue: overall and per channel, flow, step and A/B variant."""
    series: RecoverySeries
    """Abandoned and recovered carts per day (or week) of the period."""
    counts: AbandonmentCounts
    """Abandonments by product, order form, hour of day and weekday."""
    diagnostics: DiagnosticsReport
    """Where prospects who did not buy stopped: the step reached, the last field
    touched, the payment failures (per form and product)."""

    @property
    def headline(self) -> Headline:
        """The headline figures (equal to ``build_headline``'s for the same period)."""
        return Headline(
            since=self.since,
            until=self.until,
            abandoned=self.abandoned,
            contacted=self.contacted,
            orders=self.orders,
            recovered=self.recovered,
            recovery_rate=self.recovery_rate,
            recovered_revenue=self.recovered_revenue,
            currency=self.currency,
            lifts=self.lifts,
        )


def _period(since: datetime, until: datetime) -> CartQuery:
    if since >= until:
        raise InvalidInputError("since must come before until", field="since", reason="invalid")
    return CartQuery(start=since, end=until - _TICK)


class _Lifts:
    """Control tallies per flow; the treated revenue kept per currency until the
    report's currency is known."""

    def __init__(self) -> None:
        self.tallies: dict[str, ControlTally] = {}
        self.revenue: dict[tuple[str, str | None], Decimal] = {}

    def add(self, enrolment: Enrolment | None, cart: Cart) -> None:
        if enrolment is None:
            return
        tally = self.tallies.get(enrolment.flow_id)
        if tally is None:
            tally = self.tallies[enrolment.flow_id] = ControlTally()
        held = enrolment.exit_reason == "control_group"
        ordered = cart.status == "ordered"
        tally.add(in_control=held, converted=ordered)
        if ordered and not held and cart.revenue is not None and cart.revenue.is_finite():
            key = (enrolment.flow_id, cart.context.currency)
            self.revenue[key] = self.revenue.get(key, _ZERO) + cart.revenue

    def lifts(self, currency: str | None) -> tuple[FlowLift, ...]:
        found = []
        for flow_id, tally in sorted(self.tallies.items()):
            if not tally.control_total:
                continue
            tally.treated_revenue = sum(
                (
                    amount
                    for (flow, unit), amount in self.revenue.items()
                    if flow == flow_id and unit in (None, currency)
                ),
                _ZERO,
            )
            found.append(
                FlowLift(
                    flow_id=flow_id,
                    treated=tally.treated_total,
                    control=tally.control_total,
                    lift=tally.lift(),
                )
            )
        return tuple(found)


def _journey(batch: ReportBatch, cart: Cart) -> Journey:
    return Journey.of(cart, batch.messages.get(cart.id, ()), batch.engagements.get(cart.id, ()))


def build_insights(
    store: Store,
    since: datetime,
    until: datetime,
    *,
    settings: ReportSettings,
    time_zone: TimeZoneLike = "UTC",
    bucket: BucketSize = "day",
) -> Insights:
    """Every figure of the period, in one pass over its carts."""
    query = _period(since, until)
    zone = resolve_zone(time_zone)
    report = RecoveryReport(settings)
    counter = AbandonmentCounter(zone)
    diagnostics = DiagnosticsCounter()
    series: dict[date, tuple[int, int, Decimal]] = {}
    lifts = _Lifts()
    for batch in store.report_batches(query):
        for cart in batch.carts:
            credits = report.add(_journey(batch, cart))
            counter.add(cart)
            diagnostics.add(cart)
            lifts.add(batch.enrolments.get(cart.id), cart)
            day = bucket_start(cart.created_at, zone, bucket)
            abandoned, recovered, revenue = series.get(day, (0, 0, _ZERO))
            if credits:
                recovered += 1
                revenue += sum((c.revenue for c in credits if c.revenue is not None), _ZERO)
            series[day] = (abandoned + 1, recovered, revenue)
    figures = report.figures()
    last_day = (until - _TICK).astimezone(zone).date()
    return Insights(
        since=since,
        until=until,
        abandoned=figures.carts,
        contacted=figures.contacted,
        orders=figures.orders,
        recovered=figures.attributed_orders,
        recovery_rate=figures.recovery_rate,
        recovered_revenue=figures.attributed_revenue,
        currency=figures.currency,
        lifts=lifts.lifts(figures.currency),
        figures=figures,
        series=RecoverySeries.from_counts(
            series, start=since.astimezone(zone).date(), end=last_day, size=bucket
        ),
        counts=counter.counts(),
        diagnostics=diagnostics.report(),
    )


def build_headline(
    store: Store, since: datetime, until: datetime, *, settings: ReportSettings
) -> Headline:
    """The headline figures of the period: counted by the database, with only the
    ordered carts read (for attribution and revenue)."""
    query = _period(since, until)
    counts = store.headline_counts(query)
    currency = settings.currency
    orders = recovered = 0
    revenue = _ZERO
    conversions: dict[tuple[str, bool], int] = {}
    treated_revenue: dict[str, Decimal] = {}
    ordered = CartQuery(start=query.start, end=query.end, status="ordered")
    for batch in store.report_batches(ordered):
        for cart in batch.carts:
            orders += 1
            credits = attribute(_journey(batch, cart), settings)
            counts_here = cart.revenue is not None and cart.revenue.is_finite()
            cart_currency = cart.context.currency
            if counts_here and cart_currency is not None:
                currency = currency or cart_currency
                counts_here = cart_currency == currency
            if credits:
                recovered += 1
                if counts_here and cart.revenue is not None:
                    revenue += cart.revenue
            enrolment = batch.enrolments.get(cart.id)
            if enrolment is not None:
                held = enrolment.exit_reason == "control_group"
                key = (enrolment.flow_id, held)
                conversions[key] = conversions.get(key, 0) + 1
                if not held and counts_here and cart.revenue is not None:
                    flow = enrolment.flow_id
                    treated_revenue[flow] = treated_revenue.get(flow, _ZERO) + cart.revenue
    lifts = []
    for flow_id in sorted({flow for flow, held in counts.flow_groups if held}):
        tally = ControlTally()
        tally.treated_total = counts.flow_groups.get((flow_id, False), 0)
        tally.control_total = counts.flow_groups.get((flow_id, True), 0)
        tally.treated_conversions = conversions.get((flow_id, False), 0)
        tally.control_conversions = conversions.get((flow_id, True), 0)
        tally.treated_revenue = treated_revenue.get(flow_id, _ZERO)
        lifts.append(
            FlowLift(
                flow_id=flow_id,
                treated=tally.treated_total,
                control=tally.control_total,
                lift=tally.lift(),
            )
        )
    return Headline(
        since=since,
        until=until,
        abandoned=counts.abandoned,
        contacted=counts.contacted,
        orders=orders,
        recovered=recovered,
        recovery_rate=Rate.of(recovered, counts.abandoned, otherwise="no_carts"),
        recovered_revenue=revenue,
        currency=currency,
        lifts=tuple(lifts),
    )


def as_segment(segment: Segment | str | Mapping[str, object]) -> Segment:
    """A segment from itself, its JSON or a mapping; ``InvalidInputError`` (``field``
    naming where in the segment) for anything else."""
    if not isinstance(segment, str | bytes | Mapping):
        return segment
    try:
        return parse_segment(segment)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "segment"
        raise InvalidInputError(
            f"the segment is not valid: {first['msg']}", field=f"segment.{where}",
            reason=first["type"],
        ) from None  # fmt: skip


def _narrowed(segment: Segment) -> CartQuery:
    """The cart query that holds every cart of ``segment`` (the database narrows by
    product or form when the segment requires one; the rest is matched in Python)."""
    parts = list(segment.segments) if isinstance(segment, AllSegment) else [segment]
    product = next((p.product_id for p in parts if isinstance(p, ProductSegment)), None)
    form = next((p.form_id for p in parts if isinstance(p, FormSegment)), None)
    return CartQuery(product_id=product, form_id=form)


def segment_context(
    batch: ReportBatch, cart: Cart, *, now: datetime, consents: ConsentReader
) -> SegmentContext:
    """What segments read about ``cart`` beyond the cart, from its report page."""
    prospect = cart.contact.prospect_key or ""
    enrolment = batch.enrolments.get(cart.id)
    sent = [m.at for m in batch.messages.get(cart.id, ()) if m.status == "sent"]
    return SegmentContext(
        now=now,
        consent=consents(cart, batch.consent.get(prospect, ())) if prospect else {},
        other_abandonments=tuple(
            created
            for cart_id, created, _ in batch.prospect_carts.get(prospect, ())
            if cart_id != cart.id
        ),
        enrolment=enrolment,
        control_flow=(
            enrolment.flow_id
            if enrolment is not None and enrolment.exit_reason == "control_group"
            else None
        ),
        first_message_at=min(sent) if sent else None,
    )


def segment_batches(
    store: Store, segment: Segment, *, now: datetime, consents: ConsentReader
) -> Iterator[list[tuple[Cart, SegmentContext]]]:
    """The segment's carts, newest first, a page at a time with their contexts."""
    for batch in store.report_batches(_narrowed(segment), prospects=True):
        page = []
        for cart in batch.carts:
            context = segment_context(batch, cart, now=now, consents=consents)
            if segment.matches(cart, context):
                page.append((cart, context))
        if page:
            yield page


def read_segment(
    store: Store,
    segment: Segment,
    *,
    now: datetime,
    consents: ConsentReader,
    limit: int,
    offset: int,
) -> tuple[list[Cart], int]:
    """One page of the segment's carts (newest first) and how many it holds."""
    if not 1 <= limit <= 500:
        raise InvalidInputError("limit must be 1-500", field="limit", reason="out_of_range")
    if offset < 0:
        raise InvalidInputError("offset must be 0 or more", field="offset", reason="invalid")
    page: list[Cart] = []
    total = 0
    for matches in segment_batches(store, segment, now=now, consents=consents):
        for cart, _ in matches:
            if offset <= total < offset + limit:
                page.append(cart)
            total += 1
    return page, total
