"""What a conditional split can ask about a prospect and their cart.

Each condition is a small frozen model with a ``type`` tag; ``all``, ``any`` and ``not``
combine them. Conditions read the live cart, the consent decisions, the prospect's
tracked activity (``Activity``: site and app activity, custom metrics, purchases),
push devices, earlier abandonments, the enrolment's own sent coupons, and any segment
of ``cartback.reports``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cartback._segment_field import SegmentField
from cartback._types import DevicePlatform, MessageChannel
from cartback.flows._durations import Duration

__all__ = [
    "AbandonmentsCondition",
    "ActivityCondition",
    "AllCondition",
    "AnyCondition",
    "CanReceiveCondition",
    "CartValueCondition",
    "Condition",
    "ConsentCondition",
    "CouponActiveCondition",
    "LastPurchaseCondition",
    "MetricCondition",
    "NotCondition",
    "PushDeviceCondition",
    "SegmentCondition",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ConsentCondition(BaseModel):
    """True when the prospect may be contacted on ``channel`` now (email by default,
    every other channel only with a grant that was not withdrawn)."""

    model_config = _FROZEN

    type: Literal["consent"] = "consent"
    """Tag: ``consent``."""
    channel: MessageChannel
    """``email``, ``sms``, ``push``, ``messenger`` or ``instagram``."""


class CanReceiveCondition(BaseModel):
    """True when a message on ``channel`` could go out now: consent (as ``consent``)
    and somewhere to send it (an email address, a phone in E.164, an active push
    device, a Messenger or Instagram recipient id)."""

    model_config = _FROZEN

    type: Literal["can_receive"] = "can_receive"
    """Tag: ``can_receive``."""
    channel: MessageChannel
    """``email``, ``sms``, ``push``, ``messenger`` or ``instagram``."""


class PushDeviceCondition(BaseModel):
    """True when the prospect has an active (not invalidated) push device."""

    model_config = _FROZEN

    type: Literal["push_device"] = "push_device"
    """Tag: ``push_device``."""
    platform: DevicePlatform | None = None
    """Only devices of this platform count (``ios``, ``android``, ``web``); any when unset."""


class CartValueCondition(BaseModel):
    """True when the cart's value is at least ``at_least``; a cart without a value
    (or in another currency than ``currency``, when set) is not."""

    model_config = _FROZEN

    type: Literal["cart_value"] = "cart_value"
    """Tag: ``cart_value``."""
    at_least: Decimal
    """The threshold, in the cart's currency."""
    currency: str | None = None
    """Only carts in this ISO 4217 currency qualify; any currency when unset."""


class ActivityCondition(BaseModel):
    """True when the prospect was active on the site (or in the app) at least
    ``at_least`` times, over all time or within ``within`` before now."""

    model_config = _FROZEN

    type: Literal["activity"] = "activity"
    """Tag: ``activity``."""
    kind: Literal["site_activity", "app_activity"]
    """``site_activity`` (visited the web site) or ``app_activity`` (used the app)."""
    at_least: int = Field(default=1, ge=1)
    """How many tracked activities are needed (1: at least once)."""
    within: Duration | None = None
    """Only activity this recent counts; all of it when unset."""


class MetricCondition(BaseModel):
    """True when the custom engagement metric ``name`` (e.g. ``profile_completed``,
    ``location_added``, ``app_rated``) was tracked at least ``at_least`` times."""

    model_config = _FROZEN

    type: Literal["metric"] = "metric"
    """Tag: ``metric``."""
    name: str = Field(min_length=1, max_length=64)
    """The metric's name, as tracked."""
    at_least: int = Field(default=1, ge=1)
    """How many times it must have been tracked."""
    within: Duration | None = None
    """Only this recent tracking counts; all of it when unset."""


class LastPurchaseCondition(BaseModel):
    """True when the prospect's last tracked purchase is at most ``within`` old; a
    prospect who never purchased is not (wrap it in ``not`` for "no purchase in ...")."""

    model_config = _FROZEN

    type: Literal["last_purchase"] = "last_purchase"
    """Tag: ``last_purchase``."""
    within: Duration
    """How long ago the last purchase may be."""


class AbandonmentsCondition(BaseModel):
    """True when the prospect abandoned at least ``at_least`` carts before this one."""

    model_config = _FROZEN

    type: Literal["abandonments"] = "abandonments"
    """Tag: ``abandonments``."""
    at_least: int = Field(ge=1)
    """How many earlier abandoned carts are needed."""
    within: Duration | None = None
    """Only abandonments this recent (before this cart) count; all when unset."""


class CouponActiveCondition(BaseModel):
    """True while a dynamic coupon this enrolment sent is still valid: a message
    carrying the coupon ``coupon`` went out and its ``valid_for`` has not passed."""

    model_config = _FROZEN

    type: Literal["coupon_active"] = "coupon_active"
    """Tag: ``coupon_active``."""
    coupon: str
    """The ``id`` of a dynamic coupon that a send step of this flow carries."""


class SegmentCondition(BaseModel):
    """True when the cart is in ``segment``, judged on the live cart when the split is
    reached: a segment of ``cartback.reports`` (product, order form, repeat abandoner,
    consent, cart value band, flow outcome, and their ``all``/``any``/``not``), given as
    its JSON, which the dashboard's segment builder shows. A ``repeat_abandoner`` segment
    counts the prospect's earlier abandonments and this cart; a ``flow_outcome`` segment
    reads this cart's own enrolment (``in_flow`` holds while it runs; ``control`` never
    does, as a held-out cart is in no flow)."""

    model_config = _FROZEN

    type: Literal["segment"] = "segment"
    """Tag: ``segment``."""
    segment: SegmentField
    """The segment, as a ``cartback.reports`` segment or its JSON."""


class AllCondition(BaseModel):
    """True when every condition is."""

    model_config = _FROZEN

    type: Literal["all"] = "all"
    """Tag: ``all``."""
    conditions: tuple[Condition, ...] = Field(min_length=1)
    """The conditions, at least one."""


class AnyCondition(BaseModel):
    """True when at least one condition is."""

    model_config = _FROZEN

    type: Literal["any"] = "any"
    """Tag: ``any``."""
    conditions: tuple[Condition, ...] = Field(min_length=1)
    """The conditions, at least one."""


class NotCondition(BaseModel):
    """True when ``condition`` is false."""

    model_config = _FROZEN

    type: Literal["not"] = "not"
    """Tag: ``not``."""
    condition: Condition
    """The condition to negate."""


Condition = Annotated[
    ConsentCondition
    | CanReceiveCondition
    | PushDeviceCondition
    | CartValueCondition
    | ActivityCondition
    | MetricCondition
    | LastPurchaseCondition
    | AbandonmentsCondition
    | CouponActiveCondition
    | SegmentCondition
    | AllCondition
    | AnyCondition
    | NotCondition,
    Field(discriminator="type"),
]
"""Any condition, told apart by its ``type``."""

for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()
