"""Ticket triggers, declared: rules that say which carts become sales tasks.

A rule holds conditions that must all hold (``any_of`` groups alternatives), a title
and a priority for the salesperson, and how often it may fire: once per cart, or once
per prospect and period. Rules are frozen models, so one rule set loaded from JSON can
be shared by every evaluation; ``load_ticket_rules`` turns JSON into a rule set or a
``TicketRuleError`` naming the setting and a stable reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cartback._errors import ConfigurationError
from cartback._segment_field import SegmentField
from cartback._types import Channel

__all__ = [
    "AbandonmentsCondition",
    "AnyOfCondition",
    "CartValueCondition",
    "ConsentCondition",
    "DedupeScope",
    "FormCondition",
    "PhoneCondition",
    "ProductCondition",
    "SegmentCondition",
    "TicketCondition",
    "TicketKind",
    "TicketPriority",
    "TicketRule",
    "TicketRuleError",
    "TicketRuleSet",
    "call_prospect_rule",
    "important_lead_rule",
    "load_ticket_rules",
    "repeated_abandonments_rule",
]

TicketKind = Literal["call_prospect", "check_repeated_abandonments", "follow_up_lead", "custom"]
"""What the task asks of the salesperson: call this prospect (a high-value cart with a
phone number); check repeated abandonments (one prospect abandoning again and again);
follow up an important lead (chosen products or forms); or a shop's own kind."""

TicketPriority = Literal["low", "normal", "high", "urgent"]
"""How soon the sales team should act."""

DedupeScope = Literal["cart", "prospect_period"]
"""How often a rule may fire: once per cart, or once per prospect in each period."""

_FROZEN: Final = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_MAX_PERIOD: Final = timedelta(days=366)

Identifier = Annotated[str, Field(min_length=1, max_length=128)]


class TicketRuleError(ConfigurationError):
    """A rule set is invalid: ``setting`` is the dotted path of the offending value
    (``"rules.0.conditions.1.at_least"``), ``reason`` a stable code."""

    def __init__(self, message: str, *, setting: str, reason: str) -> None:
        super().__init__(message, setting=setting)
        self.reason = reason


class CartValueCondition(BaseModel):
    """The cart's value lies in a range (and is in a currency, when one is named)."""

    model_config = _FROZEN

    type: Literal["cart_value"] = "cart_value"
    """Discriminator."""
    at_least: Annotated[Decimal, Field(ge=0)] | None = None
    """The lowest value that matches (inclusive)."""
    below: Annotated[Decimal, Field(gt=0)] | None = None
    """The value from which it no longer matches (exclusive)."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    """ISO 4217 code the cart must be in; ``None`` compares the amount in any currency."""

    @model_validator(mode="after")
    def _a_bound(self) -> CartValueCondition:
        if self.at_least is None and self.below is None:
            raise PydanticCustomError("no_bound", "give at_least, below or both")
        if self.at_least is not None and self.below is not None and self.below <= self.at_least:
            raise PydanticCustomError("empty_range", "below must be more than at_least")
        return self


class PhoneCondition(BaseModel):
    """The prospect left a phone number."""

    model_config = _FROZEN

    type: Literal["phone_present"] = "phone_present"
    """Discriminator."""
    e164_only: bool = False
    """Only a number that parsed into E.164 (one a dialler can call) counts."""


class ProductCondition(BaseModel):
    """The cart is for one of these products."""

    model_config = _FROZEN

    type: Literal["product_in"] = "product_in"
    """Discriminator."""
    product_ids: Annotated[frozenset[Identifier], Field(min_length=1)]
    """The product ids that match."""


class FormCondition(BaseModel):
    """The cart was abandoned on one of these order forms."""

    model_config = _FROZEN

    type: Literal["form_in"] = "form_in"
    """Discriminator."""
    form_ids: Annotated[frozenset[Identifier], Field(min_length=1)]
    """The order form ids that match."""


class ConsentCondition(BaseModel):
    """The prospect's consent on a channel is (or is not) in force."""

    model_config = _FROZEN

    type: Literal["consent"] = "consent"
    """Discriminator."""
    channel: Channel
    """The channel: ``email``, ``sms``, ``push``, ``newsletter``, ``messenger`` or
    ``instagram``."""
    allowed: bool = True
    """Match when contact on the channel is allowed (``False``: when it is not)."""


class AbandonmentsCondition(BaseModel):
    """The prospect abandoned at least ``at_least`` carts (this one included) within
    the last ``within``."""

    model_config = _FROZEN

    type: Literal["abandonments"] = "abandonments"
    """Discriminator."""
    at_least: Annotated[int, Field(ge=1, le=1000)]
    """How many carts, at least."""
    within: timedelta
    """The look-back window (JSON: ISO 8601 duration such as ``"P30D"``, or seconds)."""

    @field_validator("within")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= _MAX_PERIOD:
            raise PydanticCustomError("period_out_of_range", "must be between 1 s and 366 days")
        return value


class SegmentCondition(BaseModel):
    """The cart is in ``segment``: a segment of ``cartback.reports`` (product, order form,
    repeat abandoner, consent, cart value band, flow outcome, and their
    ``all``/``any``/``not``), given as its JSON, which the dashboard's segment builder
    shows. It is judged on the cart when the ticket pass reads it, with the prospect's
    other carts, consent, and the cart's flow enrolment and messages."""

    model_config = _FROZEN

    type: Literal["segment"] = "segment"
    """Discriminator."""
    segment: SegmentField
    """The segment, as a ``cartback.reports`` segment or its JSON."""
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    """What the ticket's reason calls the segment (``"VIP prospects"``); the segment's
    rule in words when unset."""


class AnyOfCondition(BaseModel):
    """At least one of several conditions holds."""

    model_config = _FROZEN

    type: Literal["any_of"] = "any_of"
    """Discriminator."""
    conditions: Annotated[tuple[TicketCondition, ...], Field(min_length=1, max_length=20)]
    """The alternatives."""


TicketCondition = Annotated[
    CartValueCondition
    | PhoneCondition
    | ProductCondition
    | FormCondition
    | ConsentCondition
    | AbandonmentsCondition
    | SegmentCondition
    | AnyOfCondition,
    Field(discriminator="type"),
]
"""One condition of a rule, told apart by ``type``."""

AnyOfCondition.model_rebuild()


class TicketRule(BaseModel):
    """One trigger: when every condition holds for an open cart, a ticket is drafted."""

    model_config = _FROZEN

    id: str = Field(pattern=_ID_PATTERN)
    """Stable id (lower-case letters, digits, ``_``, ``-``): it is part of dedupe keys,
    so renaming a rule lets it fire again."""
    kind: TicketKind
    """What the task is."""
    title: Annotated[str, Field(min_length=1, max_length=200)]
    """The task's title as the salesperson sees it (no placeholders; the ticket carries
    the contact and cart beside it)."""
    priority: TicketPriority = "normal"
    """How urgent the task is."""
    conditions: Annotated[tuple[TicketCondition, ...], Field(min_length=1, max_length=20)]
    """Conditions that must all hold."""
    dedupe: DedupeScope = "cart"
    """Once per cart, or once per prospect and ``dedupe_period``."""
    dedupe_period: timedelta | None = None
    """The period of ``prospect_period`` rules (JSON: ``"P30D"``); windows are counted
    from the Unix epoch in UTC, so they are the same for every worker."""
    enabled: bool = True
    """A disabled rule drafts nothing."""

    @model_validator(mode="after")
    def _dedupe_consistent(self) -> TicketRule:
        if self.dedupe == "prospect_period":
            period = self.dedupe_period
            if period is None:
                raise PydanticCustomError("period_missing", "prospect_period needs dedupe_period")
            if not timedelta(minutes=1) <= period <= _MAX_PERIOD:
                raise PydanticCustomError(
                    "period_out_of_range", "dedupe_period must be between 1 minute and 366 days"
                )
        elif self.dedupe_period is not None:
            raise PydanticCustomError("period_unused", "dedupe_period needs prospect_period")
        return self


class TicketRuleSet(BaseModel):
    """The rules of one shop, evaluated in order."""

    model_config = _FROZEN

    version: Literal[1] = 1
    """The format's version."""
    rules: Annotated[tuple[TicketRule, ...], Field(max_length=200)] = ()
    """The rules; ids are unique."""

    @property
    def reads_segments(self) -> bool:
        """Whether an enabled rule has a ``segment`` condition (which may read the cart's
        flow enrolment and messages, so the ticket pass loads them)."""

        def has(condition: TicketCondition) -> bool:
            if isinstance(condition, SegmentCondition):
                return True
            return isinstance(condition, AnyOfCondition) and any(map(has, condition.conditions))

        return any(rule.enabled and any(map(has, rule.conditions)) for rule in self.rules)

    @model_validator(mode="after")
    def _unique_ids(self) -> TicketRuleSet:
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError("duplicate_rule_id", "two rules share an id")
        return self


_REASONS: Final = {
    "extra_forbidden": "unknown_setting",
    "string_pattern_mismatch": "invalid_value",
    "literal_error": "unknown_value",
    "union_tag_invalid": "unknown_condition",
    "union_tag_not_found": "missing_condition_type",
}


def load_ticket_rules(data: str | bytes | dict[str, Any]) -> TicketRuleSet:
    """A rule set from JSON text (or its parsed object), or a ``TicketRuleError``."""
    try:
        if isinstance(data, dict):
            return TicketRuleSet.model_validate(data)
        return TicketRuleSet.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        setting = ".".join(str(part) for part in error["loc"]) or "rules"
        reason = _REASONS.get(str(error["type"]), str(error["type"]))
        raise TicketRuleError(
            f"{setting}: {error['msg']}", setting=setting, reason=reason
        ) from None


def call_prospect_rule(
    min_value: Decimal,
    *,
    currency: str | None = None,
    rule_id: str = "call-prospect",
    title: str = "Call this prospect",
    priority: TicketPriority = "high",
) -> TicketRule:
    """ "Call this prospect" when the cart is worth at least ``min_value`` and a phone
    number was left; once per cart."""
    return TicketRule(
        id=rule_id,
        kind="call_prospect",
        title=title,
        priority=priority,
        conditions=(
            CartValueCondition(at_least=min_value, currency=currency),
            PhoneCondition(),
        ),
    )


def repeated_abandonments_rule(
    times: int = 3,
    within: timedelta = timedelta(days=30),
    *,
    rule_id: str = "repeated-abandonments",
    title: str = "Check repeated abandonments",
    priority: TicketPriority = "normal",
) -> TicketRule:
    """ "Check repeated abandonments" when one prospect abandoned ``times`` carts within
    ``within``; once per prospect and period of the same length."""
    return TicketRule(
        id=rule_id,
        kind="check_repeated_abandonments",
        title=title,
        priority=priority,
        conditions=(AbandonmentsCondition(at_least=times, within=within),),
        dedupe="prospect_period",
        dedupe_period=within,
    )


def important_lead_rule(
    *,
    product_ids: Iterable[str] = (),
    form_ids: Iterable[str] = (),
    rule_id: str = "important-lead",
    title: str = "Follow up an important lead",
    priority: TicketPriority = "high",
) -> TicketRule:
    """ "Follow up an important lead" when the cart is for one of ``product_ids`` or on
    one of ``form_ids``; once per cart."""
    products, forms = frozenset(product_ids), frozenset(form_ids)
    alternatives: list[TicketCondition] = []
    if products:
        alternatives.append(ProductCondition(product_ids=products))
    if forms:
        alternatives.append(FormCondition(form_ids=forms))
    if not alternatives:
        raise TicketRuleError(
            "name at least one product or form", setting="product_ids", reason="too_short"
        )
    return TicketRule(
        id=rule_id,
        kind="follow_up_lead",
        title=title,
        priority=priority,
        conditions=(AnyOfCondition(conditions=tuple(alternatives)),),
    )
