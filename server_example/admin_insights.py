"""What the overview and flows pages show of ``Cartback.insights`` (pure: no I/O).

- ``headline_cards``: the figures a shop owner reads first.
- ``lift_view``: one flow's lift against its control group, in sentences, or why there
  is not enough data yet.
- ``overview_charts``: the charts, drawn on the server with ``cartback.reports``' SVG
  functions (their labels are escaped there: product names and form ids come from pages).
- ``figure_rows``: the per-channel, per-flow, per-step and per-variant figures as rows.

Every figure says what it counts among (docs/insights.md); a rate that does not exist
shows "n/a", never 0%.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final

from cartback import FlowLift, Insights
from cartback.reports import (
    GroupFigures,
    Lift,
    LiftProblem,
    Rate,
    bar_chart,
    format_count,
    format_percent,
    line_chart,
)

__all__ = [
    "MAX_BARS",
    "Card",
    "Chart",
    "FigureRow",
    "LiftView",
    "figure_rows",
    "headline_cards",
    "lift_view",
    "money",
    "overview_charts",
]

MAX_BARS: Final = 10
"""Most products, forms or fields a chart shows (the rest are summed as "others")."""
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_PROBLEMS: Final[dict[LiftProblem, str]] = {
    "treated_too_small": "fewer than 100 carts received the flow",
    "control_too_small": "fewer than 100 carts were held out",
    "too_few_conversions": "fewer than 10 orders in both groups together",
}
_REASONS: Final = {
    "authentication_timeout": "3-D Secure timed out",
    "card_declined": "card declined",
    "insufficient_funds": "insufficient funds",
    "other": "other",
}


def money(value: Decimal | None, currency: str | None) -> str:
    """``1,234.50 USD`` (``n/a`` for ``None``)."""
    if value is None:
        return "n/a"
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def _count(value: int | Fraction) -> str:
    """A count; a fraction (orders shared by linear attribution) to one decimal."""
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{float(value):,.1f}"
    return f"{int(value):,}"


def _points(value: float) -> str:
    """A difference of rates in percentage points: ``+4.0 points``."""
    return f"{value * 100:+.1f} points"


@dataclass(frozen=True, slots=True)
class Card:
    """One headline figure."""

    key: str
    """A stable name (``abandoned``), for the page's markup."""
    label: str
    """What it is."""
    value: str
    """The figure."""
    detail: str
    """What it counts among, in a few words."""


def headline_cards(insights: Insights) -> tuple[Card, ...]:
    """Abandoned, contacted, recovered, recovery rate and recovered revenue."""
    abandoned = insights.abandoned
    contacted = Rate.of(insights.contacted, abandoned, otherwise="no_carts")
    return (
        Card("abandoned", "Abandoned", f"{abandoned:,}", "carts captured in the period"),
        Card(
            "contacted",
            "Contacted",
            f"{insights.contacted:,}",
            f"{contacted.percent()} of them got a recovery message",
        ),
        Card(
            "recovered",
            "Recovered",
            f"{insights.recovered:,}",
            f"orders credited to a message, of {insights.orders:,} orders in all",
        ),
        Card(
            "recovery_rate",
            "Recovery rate",
            insights.recovery_rate.percent(),
            "recovered orders per abandoned cart",
        ),
        Card(
            "recovered_revenue",
            "Recovered revenue",
            money(insights.recovered_revenue, insights.currency),
            "what the recovered orders brought in",
        ),
    )


@dataclass(frozen=True, slots=True)
class LiftView:
    """One flow's lift, as sentences."""

    flow_id: str
    """The flow."""
    status: str
    """``ok``, ``too_small`` or ``no_treated``."""
    headline: str
    """The lift in one line, or "Not enough data yet"."""
    lines: tuple[str, ...]
    """What it rests on."""


def lift_view(flow: FlowLift, currency: str | None) -> LiftView:
    """``flow``'s lift in words, its interval when there is one."""
    result: Lift = flow.lift
    groups = (
        f"{flow.treated:,} carts could receive the flow's messages and {flow.control:,} "
        "were held out."
    )
    rates = ""
    if result.treated_rate is not None and result.control_rate is not None:
        rates = (
            f"With the flow {format_percent(result.treated_rate)} of carts were ordered, "
            f"without it {format_percent(result.control_rate)}."
        )
    if result.status == "no_treated":
        return LiftView(flow.flow_id, "no_treated", "No cart received the flow", (groups,))
    if result.status != "ok" or result.absolute_interval is None or result.absolute is None:
        reasons = "; ".join(_PROBLEMS[p] for p in result.problems) or "the samples are too small"
        lines = [groups, f"An interval needs more: {reasons}."]
        if rates:
            lines.append(f"So far: {rates[0].lower()}{rates[1:]}")
        return LiftView(flow.flow_id, "too_small", "Not enough data yet", tuple(lines))
    interval = result.absolute_interval
    headline = (
        f"{_points(result.absolute)} (95% interval {_points(interval.low)} to "
        f"{_points(interval.high)})"
    )
    lines = [groups, rates]
    if interval.excludes_zero:
        lines.append("The interval excludes zero: the flow does add orders.")
    else:
        lines.append("The interval includes zero: the data cannot yet tell the flow from no flow.")
    revenue = result.incremental_revenue_interval
    if result.incremental_revenue is not None and revenue is not None:
        lines.append(
            f"Revenue it added: {money(result.incremental_revenue, currency)} "
            f"(likely {money(revenue.low, currency)} to {money(revenue.high, currency)})."
        )
    return LiftView(flow.flow_id, "ok", headline, tuple(lines))


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of a page."""

    id: str
    """Its element id (and the SVG's)."""
    heading: str
    """The heading above it."""
    svg: str
    """The SVG, drawn and escaped by ``cartback.reports``."""
    note: str = ""
    """A sentence under it: what it counts."""


def _top(rows: Iterable[tuple[str, float]], others: float) -> list[tuple[str, float]]:
    ranked = list(rows)
    shown = ranked[:MAX_BARS]
    rest = others + sum(value for _, value in ranked[MAX_BARS:])
    if rest:
        shown.append(("others", rest))
    return shown


def overview_charts(insights: Insights) -> tuple[Chart, ...]:
    """Recovery over time, conversion per channel, abandonments by hour and weekday,
    top products and forms, where prospects stop and the payment failures."""
    points = insights.series.points
    unit = "week of " if insights.series.size == "week" else ""
    charts = [
        Chart(
            "chart-recovery",
            "Recovery rate over time",
            line_chart(
                [(f"{unit}{point.start.isoformat()}", point.rate.value) for point in points],
                title="Recovery rate over time",
                description="Recovered carts per abandoned cart, by the day it was abandoned.",
                value_format=format_percent,
                chart_id="svg-recovery",
            ),
            "A cart counts on the day it was abandoned, so recent days keep rising as late "
            "orders come in.",
        ),
        Chart(
            "chart-abandoned",
            "Abandoned carts over time",
            line_chart(
                [(f"{unit}{point.start.isoformat()}", point.abandoned) for point in points],
                title="Abandoned carts over time",
                chart_id="svg-abandoned",
            ),
        ),
        Chart(
            "chart-channels",
            "Conversion rate per channel",
            bar_chart(
                [
                    (group.group.label, rate)
                    for group in insights.figures.channels
                    if (rate := group.conversion_rate.value) is not None
                ],
                title="Conversion rate per channel",
                description="Orders credited to the channel's messages per cart it contacted.",
                value_format=format_percent,
                chart_id="svg-channels",
            ),
            "Orders credited to a channel's messages, per cart the channel contacted.",
        ),
        Chart(
            "chart-hours",
            "Abandonments by hour of the day",
            bar_chart(
                [(f"{hour:02d}", count) for hour, count in enumerate(insights.counts.by_hour)],
                title="Abandonments by hour of the day",
                horizontal=False,
                chart_id="svg-hours",
            ),
            f"In the shop's time zone ({insights.counts.time_zone}).",
        ),
        Chart(
            "chart-weekdays",
            "Abandonments by weekday",
            bar_chart(
                list(zip(WEEKDAYS, insights.counts.by_weekday, strict=True)),
                title="Abandonments by weekday",
                horizontal=False,
                chart_id="svg-weekdays",
            ),
        ),
    ]
    products = insights.counts.by_product
    charts.append(
        Chart(
            "chart-products",
            "Most abandoned products",
            bar_chart(
                _top(
                    ((row.label or row.key or "(no product)", row.carts) for row in products.rows),
                    products.others,
                ),
                title="Most abandoned products",
                horizontal=True,
                chart_id="svg-products",
            ),
        )
    )
    forms = insights.counts.by_form
    charts.append(
        Chart(
            "chart-forms",
            "Most abandoned order forms",
            bar_chart(
                _top(((row.key or "(none)", row.carts) for row in forms.rows), forms.others),
                title="Most abandoned order forms",
                horizontal=True,
                chart_id="svg-forms",
            ),
        )
    )
    charts.extend(_stops(insights))
    return tuple(charts)


def _stops(insights: Insights) -> list[Chart]:
    """Where prospects who did not buy stopped: per order form (the three with most
    carts), the furthest step and the last field; the payment failures of every form."""
    charts = []
    failures: dict[str, int] = dict.fromkeys(_REASONS, 0)
    for diagnosis in insights.diagnostics.forms:
        for reason, count in diagnosis.payment_failures:
            failures[reason] = failures.get(reason, 0) + count
    for index, diagnosis in enumerate(insights.diagnostics.forms[:3], start=1):
        name = diagnosis.key or "(none)"
        charts.append(
            Chart(
                f"chart-steps-{index}",
                f"Furthest step reached on {name}",
                bar_chart(
                    [
                        ("not reported" if step is None else f"step {step}", count)
                        for step, count in diagnosis.steps
                    ],
                    title=f"Furthest step reached on {name}",
                    horizontal=True,
                    chart_id=f"svg-steps-{index}",
                ),
                f"{diagnosis.carts:,} carts not ordered.",
            )
        )
        charts.append(
            Chart(
                f"chart-fields-{index}",
                f"Last field touched on {name}",
                bar_chart(
                    _top(
                        (
                            (field or "not reported", count)
                            for field, count in diagnosis.last_fields
                        ),
                        diagnosis.other_fields,
                    ),
                    title=f"Last field touched on {name}",
                    horizontal=True,
                    chart_id=f"svg-fields-{index}",
                ),
                "The field names only: never what a prospect typed.",
            )
        )
    attempts = sum(failures.values())
    charts.append(
        Chart(
            "chart-payments",
            "Payment failures by reason",
            bar_chart(
                [(_REASONS.get(reason, reason), count) for reason, count in failures.items()]
                if attempts
                else [],
                title="Payment failures by reason",
                horizontal=True,
                chart_id="svg-payments",
            ),
            "Failed payment attempts the order platform reported, for carts not ordered.",
        )
    )
    return charts


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One line of a figures table."""

    label: str
    """The channel, flow, step or variant."""
    sent: str
    """Messages sent."""
    delivered: str
    """Of those, delivered (where the channel reports it)."""
    open_rate: str
    """Opened emails per email sent with the pixel."""
    click_rate: str
    """Messages clicked per message sent."""
    reply_rate: str
    """Messages replied to per message that can be."""
    unsubscribe_rate: str
    """Unsubscribes per message sent."""
    contacted: str
    """Carts contacted."""
    orders: str
    """Orders credited."""
    conversion_rate: str
    """Orders credited per cart contacted (the main figure)."""
    revenue: str
    """Revenue of the orders credited."""


def figure_rows(groups: Sequence[GroupFigures], currency: str | None) -> tuple[FigureRow, ...]:
    """``groups`` as table rows."""
    return tuple(
        FigureRow(
            label=group.group.label,
            sent=format_count(group.sent),
            delivered=format_count(group.delivered),
            open_rate=group.open_rate.percent(),
            click_rate=group.click_rate.percent(),
            reply_rate=group.reply_rate.percent(),
            unsubscribe_rate=group.unsubscribe_rate.percent(),
            contacted=format_count(group.contacted),
            orders=_count(group.orders),
            conversion_rate=group.conversion_rate.percent(),
            revenue=money(group.revenue, currency),
        )
        for group in groups
    )
