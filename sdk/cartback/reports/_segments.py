"""Segments: declarative, serialisable sets of carts.

Each segment is a small frozen model with a ``type`` tag; ``all`` (AND), ``any`` (OR)
and ``not`` combine them, and every one round-trips through JSON (``parse_segment``,
``segment_json``). ``matches(cart, context)`` decides one cart in Python (for small
sets, and for flow or ticket conditions); ``describe()`` says it in words for the shop
owner; ``reads()`` names the fields it depends on, and each class's docstring states the
exact rule, so a store can run the same segment as a query. Nothing here touches a
store: the caller gathers the ``SegmentContext`` (consent decisions, the prospect's
other carts, the flow enrolment) and passes it in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Final, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from cartback._models import Cart
from cartback._types import Channel
from cartback.consent import DEFAULT_CONSENT, ConsentDecision
from cartback.flows._durations import Duration, format_duration
from cartback.flows._enrolment import Enrolment
from cartback.flows._plan import ExitReason

__all__ = [
    "AllSegment",
    "AnySegment",
    "CartValueSegment",
    "ConsentSegment",
    "FlowOutcome",
    "FlowOutcomeSegment",
    "FormSegment",
    "NotSegment",
    "ProductSegment",
    "RepeatAbandonerSegment",
    "Segment",
    "SegmentContext",
    "matching",
    "parse_segment",
    "segment_json",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
_Id = Annotated[str, Field(min_length=1, max_length=200)]


@dataclass(frozen=True, slots=True)
class SegmentContext:
    """What segments read beyond the cart, gathered by the caller. A plain frozen
    dataclass: it is built per cart when a segment is evaluated in Python."""

    now: datetime
    """The time to evaluate at (rolling periods end here)."""
    consent: Mapping[Channel, ConsentDecision] = field(default_factory=dict)
    """The prospect's consent decision per channel now; a channel left out has its
    default (``cartback.consent.DEFAULT_CONSENT``: email allowed, the rest not)."""
    other_abandonments: Sequence[datetime] = ()
    """When the prospect's other abandoned carts were captured (this cart excluded)."""
    enrolment: Enrolment | None = None
    """The cart's flow enrolment, if it entered a flow."""
    control_flow: str | None = None
    """The flow whose control group holds the cart out, if one does."""
    first_message_at: datetime | None = None
    """When the first recovery message about the cart was sent, if one was."""


class ProductSegment(BaseModel):
    """Abandoned product X: carts whose ``context.product_id`` equals ``product_id``."""

    model_config = _FROZEN

    type: Literal["product"] = "product"
    """Tag: ``product``."""
    product_id: _Id
    """The product's id."""

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        return cart.context.product_id == self.product_id

    def describe(self) -> str:
        """The rule in words."""
        return f"abandoned product {self.product_id!r}"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset({"cart.context.product_id"})


class FormSegment(BaseModel):
    """By order form: carts whose ``context.form_id`` equals ``form_id``."""

    model_config = _FROZEN

    type: Literal["form"] = "form"
    """Tag: ``form``."""
    form_id: _Id
    """The order form's id."""

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        return cart.context.form_id == self.form_id

    def describe(self) -> str:
        """The rule in words."""
        return f"on order form {self.form_id!r}"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset({"cart.context.form_id"})


class RepeatAbandonerSegment(BaseModel):
    """Abandoned N or more times in period Y: carts whose prospect has at least
    ``at_least`` abandoned carts (this one included) captured in the period.

    The period is ``within`` before ``context.now`` (rolling), or from ``start``
    (inclusive) to ``end`` (exclusive), either open; all time when none is set. In SQL:
    ``(SELECT count(*) FROM carts o WHERE o.prospect = c.prospect AND o.created_at``
    in the period ``) >= at_least``.
    """

    model_config = _FROZEN

    type: Literal["repeat_abandoner"] = "repeat_abandoner"
    """Tag: ``repeat_abandoner``."""
    at_least: int = Field(ge=1, le=10_000)
    """How many abandoned carts, this one included."""
    within: Duration | None = None
    """A rolling period ending at ``context.now``."""
    start: AwareDatetime | None = None
    """The period's first instant (inclusive)."""
    end: AwareDatetime | None = None
    """The period's end (exclusive)."""

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.within is not None and (self.start is not None or self.end is not None):
            raise ValueError("a period is either rolling (within) or fixed (start/end)")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must come before end")
        return self

    def _bounds(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        if self.within is not None:
            return now - self.within, None
        return self.start, self.end

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        low, high = self._bounds(context.now)

        def inside(moment: datetime) -> bool:
            return (low is None or moment >= low) and (high is None or moment < high)

        count = sum(1 for moment in context.other_abandonments if inside(moment))
        count += inside(cart.created_at)
        return count >= self.at_least

    def describe(self) -> str:
        """The rule in words."""
        times = "once" if self.at_least == 1 else f"{self.at_least} or more times"
        if self.within is not None:
            return f"abandoned {times} in the last {format_duration(self.within)}"
        if self.start is not None and self.end is not None:
            return f"abandoned {times} from {self.start.isoformat()} to {self.end.isoformat()}"
        if self.start is not None:
            return f"abandoned {times} since {self.start.isoformat()}"
        if self.end is not None:
            return f"abandoned {times} before {self.end.isoformat()}"
        return f"abandoned {times}"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset({"cart.created_at", "context.other_abandonments", "context.now"})


class ConsentSegment(BaseModel):
    """By consent per channel: carts whose prospect may (``allowed``) or may not be
    contacted on ``channel`` now, optionally by what decided it (``basis``: the latest
    ledger event was a grant or a withdrawal, or there is none and the default applies).
    In SQL: the latest consent event of the prospect on the channel (a withdrawal wins a
    tie), or none."""

    model_config = _FROZEN

    type: Literal["consent"] = "consent"
    """Tag: ``consent``."""
    channel: Channel
    """``email``, ``sms``, ``push``, ``newsletter``, ``messenger`` or ``instagram``."""
    allowed: bool = True
    """Whether the prospect may be contacted on it."""
    basis: Literal["granted", "withdrawn", "default"] | None = None
    """Only decisions with this basis; any when unset."""

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        decision = context.consent.get(self.channel)
        if decision is None:
            allowed, basis = DEFAULT_CONSENT.get(self.channel, False), "default"
        else:
            allowed, basis = decision.allowed, decision.basis
        return allowed == self.allowed and (self.basis is None or basis == self.basis)

    def describe(self) -> str:
        """The rule in words."""
        words = f"{'may' if self.allowed else 'may not'} be contacted by {self.channel}"
        reasons = {
            "granted": "consent given",
            "withdrawn": "consent withdrawn",
            "default": "no choice recorded",
        }
        return words if self.basis is None else f"{words} ({reasons[self.basis]})"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset({"context.consent"})


class CartValueSegment(BaseModel):
    """By cart value band: carts whose ``context.cart_value`` is at least ``at_least``
    and below ``below`` (either bound may be open, not both), in ``currency`` when set.
    A cart without a value is in no band."""

    model_config = _FROZEN

    type: Literal["cart_value"] = "cart_value"
    """Tag: ``cart_value``."""
    at_least: Decimal | None = Field(default=None, allow_inf_nan=False)
    """The band's lower bound (inclusive)."""
    below: Decimal | None = Field(default=None, allow_inf_nan=False)
    """The band's upper bound (exclusive)."""
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """Only carts in this ISO 4217 currency; any when unset."""

    @model_validator(mode="after")
    def _band(self) -> Self:
        if self.at_least is None and self.below is None:
            raise ValueError("a band needs at_least, below or both")
        if self.at_least is not None and self.below is not None and self.at_least >= self.below:
            raise ValueError("at_least must be below below")
        return self

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        value = cart.context.cart_value
        if value is None or not value.is_finite():
            return False
        if self.currency is not None and cart.context.currency != self.currency:
            return False
        return (self.at_least is None or value >= self.at_least) and (
            self.below is None or value < self.below
        )

    def describe(self) -> str:
        """The rule in words."""
        unit = f" {self.currency}" if self.currency else ""
        if self.at_least is not None and self.below is not None:
            return f"cart value from {self.at_least}{unit} to under {self.below}{unit}"
        if self.at_least is not None:
            return f"cart value {self.at_least}{unit} or more"
        return f"cart value under {self.below}{unit}"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset({"cart.context.cart_value", "cart.context.currency"})


FlowOutcome = Literal["recovered", "in_flow", "exited", "control"]
"""Where a cart's recovery stands: ordered after a recovery message was sent; enrolled
in a flow that has not finished; enrolled in a flow that finished; held out in a flow's
control group."""


class FlowOutcomeSegment(BaseModel):
    """By flow outcome, optionally of one flow (``flow_id``):

    - ``recovered``: the cart is ordered, and its order came at or after the first
      recovery message about it (``ordered_at >= first_message_at``);
    - ``in_flow``: it has an enrolment that has not finished;
    - ``exited``: it has an enrolment that finished, for ``exit_reason`` when set;
    - ``control``: a flow's control group holds it out.

    ``flow_id`` compares with the enrolment's flow (``control``: the holding flow).
    """

    model_config = _FROZEN

    type: Literal["flow_outcome"] = "flow_outcome"
    """Tag: ``flow_outcome``."""
    outcome: FlowOutcome
    """``recovered``, ``in_flow``, ``exited`` or ``control``."""
    flow_id: _Id | None = None
    """Only this flow; any when unset."""
    exit_reason: ExitReason | None = None
    """For ``exited``: only enrolments that ended for this reason."""

    @model_validator(mode="after")
    def _reason(self) -> Self:
        if self.exit_reason is not None and self.outcome != "exited":
            raise ValueError("exit_reason goes with the outcome exited")
        return self

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        enrolment = context.enrolment
        if self.outcome == "control":
            return context.control_flow is not None and (
                self.flow_id is None or context.control_flow == self.flow_id
            )
        if self.flow_id is not None and (enrolment is None or enrolment.flow_id != self.flow_id):
            return False
        if self.outcome == "recovered":
            first = context.first_message_at
            return (
                cart.status == "ordered"
                and cart.ordered_at is not None
                and first is not None
                and cart.ordered_at >= first
            )
        if enrolment is None:
            return False
        if self.outcome == "in_flow":
            return not enrolment.finished
        return enrolment.finished and (
            self.exit_reason is None or enrolment.exit_reason == self.exit_reason
        )

    def describe(self) -> str:
        """The rule in words."""
        flow = f"flow {self.flow_id!r}" if self.flow_id else "a recovery flow"
        if self.outcome == "recovered":
            return f"recovered by {flow}" if self.flow_id else "recovered"
        if self.outcome == "in_flow":
            return f"still in {flow}"
        if self.outcome == "control":
            return f"held out in the control group of {flow}"
        reason = f" ({self.exit_reason})" if self.exit_reason else ""
        return f"exited {flow}{reason}"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        if self.outcome == "control":
            return frozenset({"context.control_flow"})
        fields = {"context.enrolment"}
        if self.outcome == "recovered":
            fields = {"cart.status", "cart.ordered_at", "context.first_message_at"}
            if self.flow_id is not None:
                fields.add("context.enrolment")
        return frozenset(fields)


class AllSegment(BaseModel):
    """AND: carts in every segment of ``segments``."""

    model_config = _FROZEN

    type: Literal["all"] = "all"
    """Tag: ``all``."""
    segments: tuple[Segment, ...] = Field(min_length=1, max_length=50)
    """The segments, at least one."""

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        return all(segment.matches(cart, context) for segment in self.segments)

    def describe(self) -> str:
        """The rule in words."""
        return " and ".join(_grouped(segment) for segment in self.segments)

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset().union(*(segment.reads() for segment in self.segments))


class AnySegment(BaseModel):
    """OR: carts in at least one segment of ``segments``."""

    model_config = _FROZEN

    type: Literal["any"] = "any"
    """Tag: ``any``."""
    segments: tuple[Segment, ...] = Field(min_length=1, max_length=50)
    """The segments, at least one."""

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        return any(segment.matches(cart, context) for segment in self.segments)

    def describe(self) -> str:
        """The rule in words."""
        return " or ".join(_grouped(segment) for segment in self.segments)

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return frozenset().union(*(segment.reads() for segment in self.segments))


class NotSegment(BaseModel):
    """NOT: carts outside ``segment``."""

    model_config = _FROZEN

    type: Literal["not"] = "not"
    """Tag: ``not``."""
    segment: Segment
    """The segment to leave out."""

    def matches(self, cart: Cart, context: SegmentContext) -> bool:
        """Whether the cart is in the segment."""
        return not self.segment.matches(cart, context)

    def describe(self) -> str:
        """The rule in words."""
        return f"not {_grouped(self.segment)}"

    def reads(self) -> frozenset[str]:
        """The fields the rule depends on."""
        return self.segment.reads()


def _grouped(segment: Segment) -> str:
    text = segment.describe()
    return f"({text})" if isinstance(segment, AllSegment | AnySegment) else text


Segment = Annotated[
    ProductSegment
    | FormSegment
    | RepeatAbandonerSegment
    | ConsentSegment
    | CartValueSegment
    | FlowOutcomeSegment
    | AllSegment
    | AnySegment
    | NotSegment,
    Field(discriminator="type"),
]
"""Any segment, told apart by its ``type``."""

for _model in (AllSegment, AnySegment, NotSegment):
    _model.model_rebuild()

_ADAPTER: Final[TypeAdapter[Segment]] = TypeAdapter(Segment)


def parse_segment(data: str | bytes | Mapping[str, object]) -> Segment:
    """A segment from its JSON text or a JSON-ready mapping; raises pydantic's
    ``ValidationError`` for anything else."""
    if isinstance(data, str | bytes):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(dict(data))


def segment_json(segment: Segment) -> str:
    """A segment's JSON text (``parse_segment`` reads it back to an equal segment)."""
    return _ADAPTER.dump_json(segment).decode()


def matching(rows: Iterable[tuple[Cart, SegmentContext]], segment: Segment) -> Iterator[Cart]:
    """The carts of ``rows`` that are in ``segment``, streamed."""
    for cart, context in rows:
        if segment.matches(cart, context):
            yield cart
