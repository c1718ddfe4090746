"""Charts as SVG text, drawn on the server: no script, no external resource.

Every chart is responsive (a ``viewBox``, no fixed size: it takes the width of its
container), follows the page's text colour (``currentColor``) and switches its bar and
line colours in dark mode (a ``prefers-color-scheme`` block inside the SVG, scoped to
``.cb-chart``). A page restyles them by setting ``--cb-bar``, ``--cb-line``,
``--cb-area`` and ``--cb-grid`` on any ancestor. Each is an image to assistive
technology (``role="img"``) named by its ``<title>`` and described by a ``<desc>`` that
holds every number, so the chart is never the only place a figure is written.

Labels may come from prospects (a product name is whatever the page said), so every
label and title is escaped for XML, and characters XML cannot hold are replaced.
Embed the text inline in HTML (``currentColor`` then follows the page); as an ``<img>``
its text is black.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Final

from cartback._errors import InvalidInputError

__all__ = ["ValueFormat", "bar_chart", "format_count", "format_percent", "line_chart", "sparkline"]

ValueFormat = Callable[[float], str]
"""Turns a value into the text a chart shows (``format_count``, ``format_percent``)."""

_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHART_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_WIDTH: Final = 480
_CHAR: Final = 7.0  # average width of a 12px system-ui character, in viewBox units
_LABEL_CHARS: Final = 24
_LIMIT: Final = 1e15  # values beyond are drawn at the limit (the description says so too)

_STYLE: Final = (
    "<style>"
    ".cb-chart{font:12px system-ui,-apple-system,'Segoe UI',sans-serif}"
    ".cb-chart text{fill:currentColor}"
    ".cb-chart .cb-muted{opacity:.7}"
    ".cb-chart .cb-bar{fill:var(--cb-bar,#2563eb)}"
    ".cb-chart .cb-line{fill:none;stroke:var(--cb-line,#2563eb);stroke-width:2;"
    "stroke-linejoin:round;stroke-linecap:round}"
    ".cb-chart .cb-dot{fill:var(--cb-line,#2563eb)}"
    ".cb-chart .cb-area{fill:var(--cb-area,rgba(37,99,235,.15))}"
    ".cb-chart .cb-grid{stroke:var(--cb-grid,rgba(127,127,127,.35));stroke-width:1}"
    ".cb-chart .cb-value{font-variant-numeric:tabular-nums}"
    "@media (prefers-color-scheme:dark){"
    ".cb-chart .cb-bar{fill:var(--cb-bar,#60a5fa)}"
    ".cb-chart .cb-line{stroke:var(--cb-line,#93c5fd)}"
    ".cb-chart .cb-dot{fill:var(--cb-line,#93c5fd)}"
    ".cb-chart .cb-area{fill:var(--cb-area,rgba(147,197,253,.22))}}"
    "</style>"
)


def format_count(value: float) -> str:
    """``1,234`` (one decimal when the value is not whole: ``2.5``)."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def format_percent(value: float) -> str:
    """A rate from 0 to 1 as ``12.5%``."""
    return f"{value * 100:.1f}%" if math.isfinite(value) else "n/a"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _escape(text: str) -> str:
    """``text`` safe inside an XML element or a double- or single-quoted attribute."""
    return (
        _clean(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
        .replace("\r", "&#13;")  # a raw CR would be read back as LF
    )


def _short(text: str, limit: int) -> str:
    text = " ".join(_clean(text).split())
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "\u2026"


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _finite(value: float | None) -> float | None:
    """The value as a float, within what a chart can draw; ``None`` for NaN or infinity."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return max(-_LIMIT, min(_LIMIT, number))


def _chart_id(chart_id: str | None, *parts: object) -> str:
    if chart_id is not None:
        if not _CHART_ID.fullmatch(chart_id):
            raise InvalidInputError(
                "a chart id is a letter then up to 63 letters, digits, '-' or '_'",
                field="chart_id",
                reason="invalid",
            )
        return chart_id
    digest = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return "cb-" + digest[:12]


def _open(kind: str, chart_id: str, height: float, title: str, desc: str, width: int) -> str:
    # As wide as the container, up to 40rem for a chart (its text then stays between
    # about 8px on a phone and 16px) and 8rem for a sparkline, which sits in a line.
    size = "8rem;vertical-align:middle" if kind == "sparkline" else "40rem"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cb-chart cb-{kind}" '
        f'viewBox="0 0 {width} {_n(height)}" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'style="width:100%;height:auto;max-width:{size}">'
        f'<title id="{chart_id}-title">{_escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{_escape(desc)}</desc>{_STYLE}'
    )


def _describe(description: str | None, items: Sequence[tuple[str, str]]) -> str:
    values = "; ".join(f"{label}: {value}" for label, value in items) if items else "no data"
    lead = description.strip() if description else ""
    return f"{lead} Values: {values}." if lead else f"Values: {values}."


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    if not raw > 0:  # an empty span, or one so small it underflows
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def _domain(values: Sequence[float]) -> tuple[float, float, float]:
    """``(low, high, step)``: a range from zero (or below) to a round top, and its ticks."""
    low = min(0.0, *values) if values else 0.0
    high = max(0.0, *values) if values else 0.0
    if high == low:
        high = low + 1
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _empty(kind: str, chart_id: str, title: str, description: str | None) -> str:
    return (
        _open(kind, chart_id, 80, title, _describe(description, []), _WIDTH)
        + f'<text class="cb-muted" x="{_WIDTH // 2}" y="44" text-anchor="middle">No data</text>'
        + "</svg>"
    )


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    description: str | None = None,
    horizontal: bool | None = None,
    value_format: ValueFormat = format_count,
    chart_id: str | None = None,
) -> str:
    """Counts by category as bars, in the given order.

    ``horizontal`` draws one row per bar with its label on the left (``None``: when a
    label is longer than 10 characters or there are more than 12 bars), which suits
    product names; otherwise bars stand on a labelled axis. Long labels are shortened on
    the chart and kept whole in each bar's tooltip and in the description.
    """
    chart_id = _chart_id(chart_id, "bar", title, description, list(bars))
    items = [(str(label), _finite(value) or 0.0) for label, value in bars]
    if not items:
        return _empty("bar", chart_id, title, description)
    desc = _describe(description, [(label, value_format(value)) for label, value in items])
    if horizontal is None:
        horizontal = len(items) > 12 or any(len(label) > 10 for label, _ in items)
    low, high, step = _domain([value for _, value in items])
    if horizontal:
        return _horizontal(items, chart_id, title, desc, value_format, low, high)
    return _vertical(items, chart_id, title, desc, value_format, (low, high, step))


def _horizontal(
    items: list[tuple[str, float]],
    chart_id: str,
    title: str,
    desc: str,
    value_format: ValueFormat,
    low: float,
    high: float,
) -> str:
    row, top = 28.0, 8.0
    longest = max(len(_short(label, _LABEL_CHARS)) for label, _ in items)
    label_width = min(_LABEL_CHARS, max(4, longest)) * _CHAR + 12
    value_width = max(len(value_format(value)) for _, value in items) * _CHAR + 12
    left, right = label_width, _WIDTH - value_width
    scale = (right - left) / (high - low)
    zero = left + (0 - low) * scale
    height = top * 2 + row * len(items)
    parts = [_open("bar", chart_id, height, title, desc, _WIDTH)]
    parts.append(
        f'<line class="cb-grid" x1="{_n(zero)}" y1="{_n(top)}" x2="{_n(zero)}" '
        f'y2="{_n(height - top)}"/>'
    )
    for index, (label, value) in enumerate(items):
        y = top + index * row
        start, end = sorted((zero, zero + value * scale))
        text = value_format(value)
        parts.append(
            f'<g class="cb-item"><title>{_escape(label)}: {_escape(text)}</title>'
            f'<text x="{_n(left - 8)}" y="{_n(y + row / 2 + 4)}" text-anchor="end">'
            f"{_escape(_short(label, _LABEL_CHARS))}</text>"
            f'<rect class="cb-bar" x="{_n(start)}" y="{_n(y + 5)}" '
            f'width="{_n(max(end - start, 0))}" height="{_n(row - 10)}" rx="2"/>'
            f'<text class="cb-value" x="{_n(max(end, zero) + 6)}" y="{_n(y + row / 2 + 4)}">'
            f"{_escape(text)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _vertical(
    items: list[tuple[str, float]],
    chart_id: str,
    title: str,
    desc: str,
    value_format: ValueFormat,
    domain: tuple[float, float, float],
) -> str:
    low, high, step = domain
    height, top, bottom = 260.0, 16.0, 36.0
    ticks = [low + step * index for index in range(round((high - low) / step) + 1)]
    left = max(len(value_format(tick)) for tick in ticks) * _CHAR + 12
    plot_width = _WIDTH - left - 8
    scale = (height - top - bottom) / (high - low)

    def y_of(value: float) -> float:
        return height - bottom - (value - low) * scale

    parts = [_open("bar", chart_id, height, title, desc, _WIDTH)]
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line class="cb-grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(_WIDTH - 8)}" '
            f'y2="{_n(y)}"/><text class="cb-muted cb-value" x="{_n(left - 6)}" '
            f'y="{_n(y + 4)}" text-anchor="end">{_escape(value_format(tick))}</text>'
        )
    slot = plot_width / len(items)
    limit = max(3, int(slot / _CHAR))
    for index, (label, value) in enumerate(items):
        x = left + slot * index
        top_y, bottom_y = sorted((y_of(value), y_of(0)))
        text = value_format(value)
        parts.append(
            f'<g class="cb-item"><title>{_escape(label)}: {_escape(text)}</title>'
            f'<rect class="cb-bar" x="{_n(x + slot * 0.15)}" y="{_n(top_y)}" '
            f'width="{_n(slot * 0.7)}" height="{_n(max(bottom_y - top_y, 0))}" rx="2"/>'
            f'<text x="{_n(x + slot / 2)}" y="{_n(height - bottom + 16)}" '
            f'text-anchor="middle">{_escape(_short(label, limit))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _label_indices(count: int, most: int = 6) -> list[int]:
    if count <= most:
        return list(range(count))
    return sorted({round(index * (count - 1) / (most - 1)) for index in range(most)})


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The unbroken runs of points with a value (a ``None`` breaks the line)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _path(run: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in run)


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    description: str | None = None,
    area: bool = True,
    value_format: ValueFormat = format_count,
    chart_id: str | None = None,
) -> str:
    """A time series as a line (and the area under it), one point per bucket, in order.

    A ``None`` value (a rate of an empty bucket) breaks the line instead of dropping to
    zero. At most six x-axis labels are drawn; every point's label and value are in its
    tooltip and in the description.
    """
    chart_id = _chart_id(chart_id, "line", title, description, list(points), area)
    items = [(str(label), _finite(value)) for label, value in points]
    if not items:
        return _empty("line", chart_id, title, description)
    desc = _describe(
        description,
        [(label, "n/a" if value is None else value_format(value)) for label, value in items],
    )
    values = [value for _, value in items if value is not None]
    low, high, step = _domain(values)
    height, top, bottom = 260.0, 16.0, 32.0
    ticks = [low + step * index for index in range(round((high - low) / step) + 1)]
    left = max(len(value_format(tick)) for tick in ticks) * _CHAR + 12
    right = _WIDTH - 16
    scale = (height - top - bottom) / (high - low)
    spacing = (right - left) / (len(items) - 1) if len(items) > 1 else 0.0

    def x_of(index: int) -> float:
        return left + spacing * index if len(items) > 1 else (left + right) / 2

    def y_of(value: float) -> float:
        return height - bottom - (value - low) * scale

    parts = [_open("line", chart_id, height, title, desc, _WIDTH)]
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line class="cb-grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" '
            f'y2="{_n(y)}"/><text class="cb-muted cb-value" x="{_n(left - 6)}" '
            f'y="{_n(y + 4)}" text-anchor="end">{_escape(value_format(tick))}</text>'
        )
    coordinates = [
        (x_of(index), None if value is None else y_of(value))
        for index, (_, value) in enumerate(items)
    ]
    base = y_of(max(low, 0.0))
    for run in _runs(coordinates):
        if area and len(run) > 1:
            parts.append(
                f'<path class="cb-area" d="{_path(run)} L{_n(run[-1][0])} {_n(base)} '
                f'L{_n(run[0][0])} {_n(base)} Z"/>'
            )
        if len(run) > 1:
            parts.append(f'<path class="cb-line" d="{_path(run)}"/>')
    for index, (label, value) in enumerate(items):
        if value is None:
            continue
        parts.append(
            f'<circle class="cb-dot" cx="{_n(x_of(index))}" cy="{_n(y_of(value))}" r="2.5">'
            f"<title>{_escape(label)}: {_escape(value_format(value))}</title></circle>"
        )
    limit = max(4, int((right - left) / 6 / _CHAR))
    for index in _label_indices(len(items)):
        anchor = "start" if index == 0 and len(items) > 1 else "middle"
        if index == len(items) - 1 and len(items) > 1:
            anchor = "end"
        parts.append(
            f'<text class="cb-muted" x="{_n(x_of(index))}" y="{_n(height - bottom + 18)}" '
            f'text-anchor="{anchor}">{_escape(_short(items[index][0], limit))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(
    values: Sequence[float | None],
    *,
    title: str,
    value_format: ValueFormat = format_count,
    chart_id: str | None = None,
) -> str:
    """A small headline trend: the line alone and a dot on the latest value, no axes.
    The values are in the description, oldest first."""
    chart_id = _chart_id(chart_id, "spark", title, list(values))
    numbers = [_finite(value) for value in values]
    width, height, pad = 120, 32.0, 3.0
    desc = _describe(
        None,
        [
            (str(index + 1), "n/a" if value is None else value_format(value))
            for index, value in enumerate(numbers)
        ],
    )
    parts = [_open("sparkline", chart_id, height, title, desc, width)]
    known = [value for value in numbers if value is not None]
    if known:
        low, high = min(known), max(known)
        span = high - low or 1.0
        spacing = (width - 2 * pad) / (len(numbers) - 1) if len(numbers) > 1 else 0.0
        coordinates = [
            (
                pad + spacing * index if len(numbers) > 1 else width / 2,
                None if value is None else height - pad - (value - low) / span * (height - 2 * pad),
            )
            for index, value in enumerate(numbers)
        ]
        for run in _runs(coordinates):
            if len(run) > 1:
                parts.append(f'<path class="cb-line" d="{_path(run)}"/>')
        last = next((point for point in reversed(coordinates) if point[1] is not None), None)
        if last is not None and last[1] is not None:
            parts.append(f'<circle class="cb-dot" cx="{_n(last[0])}" cy="{_n(last[1])}" r="2.5"/>')
    parts.append("</svg>")
    return "".join(parts)
