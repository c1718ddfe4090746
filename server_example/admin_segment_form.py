"""The segment builder's form: query parameters in, a ``cartback.reports`` segment out,
and back (pure: no I/O).

The form has one group of inputs per segment type; each group that is filled in is a
condition, optionally negated ("not"), and the conditions combine with ``all`` (AND) or
``any`` (OR). Several product ids or order forms, comma-separated, mean any of them. A
segment the form cannot show (nested ``all``/``any``, a fixed period) travels as its
JSON in the ``json`` parameter, which wins over the groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, get_args

from pydantic import ValidationError

from cartback import CHANNELS
from cartback.reports import (
    AllSegment,
    AnySegment,
    CartValueSegment,
    ConsentSegment,
    FlowOutcome,
    FlowOutcomeSegment,
    FormSegment,
    NotSegment,
    ProductSegment,
    RepeatAbandonerSegment,
    Segment,
    parse_segment,
    segment_json,
)

__all__ = [
    "FLOW_OUTCOMES",
    "PERIODS",
    "SegmentForm",
    "built",
    "form_of",
    "parse_segment_form",
]

PERIODS: Final[Mapping[str, timedelta | None]] = {
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "365d": timedelta(days=365),
    "all": None,
}
"""The repeat-abandoner periods the form offers (rolling, ending now)."""

FLOW_OUTCOMES: Final[tuple[FlowOutcome, ...]] = get_args(FlowOutcome)
"""The flow outcomes, in the order the form offers them."""

MAX_IDS: Final = 20
"""Most product ids or order forms in one condition."""
MAX_JSON: Final = 20_000
"""Longest accepted segment JSON, in characters."""

Combine = Literal["all", "any"]
Kind = Literal["product", "form", "repeat", "consent", "value", "outcome"]
_KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
Basis = Literal["granted", "withdrawn", "default"]
_BASES: Final[Mapping[str, Basis | None]] = {
    "": None,
    "granted": "granted",
    "withdrawn": "withdrawn",
    "default": "default",
}
_DEFAULTS: Final[Mapping[str, str]] = {
    "combine": "all",
    "repeat_within": "30d",
    "consent_allowed": "yes",
}


@dataclass(frozen=True, slots=True)
class SegmentForm:
    """The builder's fields as typed (text, so the form shows back what was entered)."""

    combine: Combine = "all"
    """``all``: every condition; ``any``: at least one."""
    products: str = ""
    """Product ids, comma-separated (any of them)."""
    forms: str = ""
    """Order form ids, comma-separated (any of them)."""
    repeat_at_least: str = ""
    """Abandoned at least this many times..."""
    repeat_within: str = "30d"
    """...in this rolling period (a ``PERIODS`` key)."""
    consent_channel: str = ""
    """A channel, for a consent condition."""
    consent_allowed: str = "yes"
    """``yes``: may be contacted on it; ``no``: may not."""
    consent_basis: str = ""
    """``granted``, ``withdrawn``, ``default`` or any (empty)."""
    value_at_least: str = ""
    """Cart value from (inclusive)."""
    value_below: str = ""
    """Cart value below (exclusive)."""
    value_currency: str = ""
    """Cart value currency (ISO 4217), or any."""
    outcome: str = ""
    """A ``FLOW_OUTCOMES`` value, for a flow outcome condition."""
    outcome_flow: str = ""
    """The flow, or any."""
    negated: frozenset[Kind] = frozenset()
    """The conditions to negate."""
    json: str = ""
    """A segment's JSON; when set, it is the segment and the groups are ignored."""

    def params(self) -> dict[str, str | list[str]]:
        """The form as query parameters (empty fields left out)."""
        found: dict[str, str | list[str]] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "negated":
                if value:
                    found["not"] = sorted(value)
            elif value and value != _DEFAULTS.get(item.name):
                found[item.name] = value
        return found


def _ids(text: str, label: str, errors: list[str]) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if len(ids) > MAX_IDS:
        errors.append(f"{label}: at most {MAX_IDS}, comma-separated.")
        return ids[:MAX_IDS]
    return ids


def _any_of(segments: list[Segment]) -> Segment:
    return segments[0] if len(segments) == 1 else AnySegment(segments=tuple(segments))


def _amount(text: str, label: str, errors: list[str]) -> Decimal | None:
    if not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        errors.append(f"{label} is not an amount: write it like 49.90.")
        return None
    if not value.is_finite() or value < 0:
        errors.append(f"{label} must be a positive amount.")
        return None
    return value


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if not isinstance(part, int))
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _condition(kind: Kind, form: SegmentForm, errors: list[str]) -> Segment | None:
    """The condition of one group, or ``None`` when the group is empty."""
    if kind == "product":
        ids = _ids(form.products, "Products", errors)
        return _any_of([ProductSegment(product_id=i) for i in ids]) if ids else None
    if kind == "form":
        ids = _ids(form.forms, "Order forms", errors)
        return _any_of([FormSegment(form_id=i) for i in ids]) if ids else None
    if kind == "repeat":
        text = form.repeat_at_least.strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 10_000):
            errors.append("Abandoned at least: a whole number from 1 to 10000.")
            return None
        if form.repeat_within not in PERIODS:
            errors.append("Choose a period for the repeated abandonments.")
            return None
        return RepeatAbandonerSegment(at_least=int(text), within=PERIODS[form.repeat_within])
    if kind == "consent":
        if not form.consent_channel:
            return None
        channel = next((c for c in CHANNELS if c == form.consent_channel), None)
        if channel is None or form.consent_basis not in _BASES:
            errors.append("Choose a consent channel and what decided it from the lists.")
            return None
        return ConsentSegment(
            channel=channel,
            allowed=form.consent_allowed != "no",
            basis=_BASES[form.consent_basis],
        )
    if kind == "value":
        low = _amount(form.value_at_least, "Cart value from", errors)
        high = _amount(form.value_below, "Cart value below", errors)
        currency = form.value_currency.strip().upper() or None
        if low is None and high is None:
            return None
        try:
            return CartValueSegment(at_least=low, below=high, currency=currency)
        except ValidationError as exc:
            errors.append("Cart value: " + _problem(exc) + ".")
            return None
    if not form.outcome:
        return None
    outcome = next((o for o in FLOW_OUTCOMES if o == form.outcome), None)
    if outcome is None:
        errors.append("Choose a flow outcome from the list.")
        return None
    try:
        return FlowOutcomeSegment(outcome=outcome, flow_id=form.outcome_flow.strip() or None)
    except ValidationError as exc:
        errors.append("Flow outcome: " + _problem(exc) + ".")
        return None


def _text(params: Mapping[str, str], name: str, default: str = "", limit: int = 512) -> str:
    return params.get(name, default)[:limit]


def parse_segment_form(
    params: Mapping[str, str], negated: list[str]
) -> tuple[SegmentForm, Segment | None, list[str]]:
    """The form in ``params`` (``negated``: the values of the repeated ``not``
    parameter), the segment it builds (``None`` when it builds none) and the problems
    found, as sentences."""
    errors: list[str] = []
    form = SegmentForm(
        combine="any" if params.get("combine") == "any" else "all",
        products=_text(params, "products", limit=4000),
        forms=_text(params, "forms", limit=4000),
        repeat_at_least=_text(params, "repeat_at_least", limit=16),
        repeat_within=_text(params, "repeat_within", "30d", 16),
        consent_channel=_text(params, "consent_channel", limit=16),
        consent_allowed="no" if params.get("consent_allowed") == "no" else "yes",
        consent_basis=_text(params, "consent_basis", limit=16),
        value_at_least=_text(params, "value_at_least", limit=32),
        value_below=_text(params, "value_below", limit=32),
        value_currency=_text(params, "value_currency", limit=8),
        outcome=_text(params, "outcome", limit=16),
        outcome_flow=_text(params, "outcome_flow", limit=200),
        negated=frozenset(kind for kind in _KINDS if kind in negated),
        json=params.get("json", "").strip(),
    )
    if form.json:
        if len(form.json) > MAX_JSON:
            return form, None, [f"The segment JSON must be at most {MAX_JSON} characters."]
        try:
            return form, parse_segment(form.json), []
        except ValidationError as exc:
            return form, None, ["The segment JSON is not a segment: " + _problem(exc) + "."]
    conditions: list[Segment] = []
    for kind in _KINDS:
        condition = _condition(kind, form, errors)
        if condition is not None:
            conditions.append(NotSegment(segment=condition) if kind in form.negated else condition)
    if errors or not conditions:
        return form, None, errors
    if len(conditions) == 1:
        return form, conditions[0], []
    combined = AllSegment if form.combine == "all" else AnySegment
    return form, combined(segments=tuple(conditions)), []


def _fill(form: SegmentForm, segment: Segment) -> SegmentForm | None:
    """``form`` with one condition's group filled from ``segment``, or ``None``."""
    inner, negate = segment, False
    if isinstance(segment, NotSegment):
        inner, negate = segment.segment, True
    ids: list[str] = []
    parts = inner.segments if isinstance(inner, AnySegment) else (inner,)
    if all(isinstance(part, ProductSegment) for part in parts):
        ids = [part.product_id for part in parts if isinstance(part, ProductSegment)]
        kind: Kind = "product"
        filled = replace(form, products=", ".join(ids)) if not form.products else None
    elif all(isinstance(part, FormSegment) for part in parts):
        ids = [part.form_id for part in parts if isinstance(part, FormSegment)]
        kind = "form"
        filled = replace(form, forms=", ".join(ids)) if not form.forms else None
    elif isinstance(inner, RepeatAbandonerSegment):
        kind = "repeat"
        period = next((k for k, v in PERIODS.items() if v == inner.within), None)
        if period is None or inner.start or inner.end or form.repeat_at_least:
            return None
        filled = replace(form, repeat_at_least=str(inner.at_least), repeat_within=period)
    elif isinstance(inner, ConsentSegment):
        kind = "consent"
        filled = (
            None
            if form.consent_channel
            else replace(
                form,
                consent_channel=inner.channel,
                consent_allowed="yes" if inner.allowed else "no",
                consent_basis=inner.basis or "",
            )
        )
    elif isinstance(inner, CartValueSegment):
        kind = "value"
        filled = (
            None
            if (form.value_at_least or form.value_below)
            else replace(
                form,
                value_at_least="" if inner.at_least is None else str(inner.at_least),
                value_below="" if inner.below is None else str(inner.below),
                value_currency=inner.currency or "",
            )
        )
    elif isinstance(inner, FlowOutcomeSegment) and inner.exit_reason is None:
        kind = "outcome"
        filled = (
            None
            if form.outcome
            else replace(form, outcome=inner.outcome, outcome_flow=inner.flow_id or "")
        )
    else:
        return None
    if filled is None:
        return None
    return replace(filled, negated=filled.negated | {kind}) if negate else filled


def form_of(segment: Segment) -> SegmentForm:
    """The form that builds ``segment``: its groups filled when the segment fits them,
    else the segment's JSON (so every segment can be shown and changed)."""
    candidates: list[tuple[Combine, tuple[Segment, ...]]] = [("all", (segment,))]
    if isinstance(segment, AllSegment):
        candidates.append(("all", segment.segments))
    elif isinstance(segment, AnySegment):
        candidates.append(("any", segment.segments))
    for combine, parts in candidates:
        form: SegmentForm | None = SegmentForm(combine=combine)
        for part in parts:
            form = _fill(form, part) if form is not None else None
        if form is not None and _same(built(form), segment):
            return form
    return SegmentForm(json=segment_json(segment))


def _same(found: Segment | None, segment: Segment) -> bool:
    """Whether ``found`` is ``segment``, the order of a top-level AND or OR aside (the
    form lists its conditions in an order of its own)."""
    if isinstance(found, AllSegment | AnySegment) and type(found) is type(segment):
        assert isinstance(segment, AllSegment | AnySegment)
        return sorted(map(segment_json, found.segments)) == sorted(
            map(segment_json, segment.segments)
        )
    return found == segment


def built(form: SegmentForm) -> Segment | None:
    """The segment ``form`` builds (``None`` when it builds none)."""
    params = {k: v for k, v in form.params().items() if isinstance(v, str)}
    _, segment, _ = parse_segment_form(params, sorted(form.negated))
    return segment
