"""Flow definitions: declarative, serialisable, versioned.

A flow is a graph of steps, each with an ``id``; a step names the step that follows
(``next``) and an ``exit`` step ends the flow. The steps are:

- ``wait``: a ``duration`` (``3h``, ``1d``), then (or only) ``until`` a local time such
  as ``09:00`` in the prospect's zone;
- ``send``: a message on a ``channel`` built from a ``template``, with an optional
  ``coupon`` (a static code or a dynamic coupon made per prospect) and ``variant`` label;
- ``split``: the first branch whose condition holds, else ``otherwise``;
- ``ab_split``: one of weighted variants, the same one every time for a prospect;
- ``exit``: the end.

Models are frozen: a changed flow is a new version, and enrolments pin the version they
started in. ``load_flow`` (in ``_validation``) is the front door that checks a whole flow
and reports problems with their paths; constructing the models directly only checks
each value's shape.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cartback._types import MessageChannel
from cartback.flows._conditions import Condition
from cartback.flows._durations import Duration, LocalTime, WaitDuration

__all__ = [
    "AbSplitStep",
    "Branch",
    "Coupon",
    "DynamicCoupon",
    "ExitStep",
    "Flow",
    "SendStep",
    "SplitStep",
    "StaticCoupon",
    "Step",
    "StepId",
    "Variant",
    "WaitStep",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

StepId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
"""A step (or flow, template, coupon) id: letters, digits, ``_``, ``.``, ``-``; at most
64 characters."""


class StaticCoupon(BaseModel):
    """A code every customer may use (``WELCOME10``); it may go in any message."""

    model_config = _FROZEN

    type: Literal["static"] = "static"
    """Tag: ``static``."""
    code: str = Field(min_length=1, max_length=64)
    """The code as the customer types it."""


class DynamicCoupon(BaseModel):
    """A code made for this prospect when the message is built (a single-use code from
    the shop's coupon generator ``id``). Only email and SMS may carry one: a prospect
    can look it up there, not in a push notification."""

    model_config = _FROZEN

    type: Literal["dynamic"] = "dynamic"
    """Tag: ``dynamic``."""
    id: StepId
    """Which of the shop's coupon generators makes it; ``coupon_active`` splits name it."""
    valid_for: Duration | None = None
    """How long the code stays valid after it is sent; unlimited when unset."""


Coupon = Annotated[StaticCoupon | DynamicCoupon, Field(discriminator="type")]
"""A static or dynamic coupon, told apart by its ``type``."""


class WaitStep(BaseModel):
    """Wait ``duration``, then (if set) until the next ``until`` local time."""

    model_config = _FROZEN

    type: Literal["wait"] = "wait"
    """Tag: ``wait``."""
    id: StepId
    """The step's id, unique in the flow."""
    duration: WaitDuration | None = None
    """How long to wait after the previous step (``3h``, ``1d``, ``90m``)."""
    until: LocalTime | None = None
    """Then wait until this time of day in the prospect's zone (``09:00``); a wait that
    ends exactly at it does not wait another day."""
    next: StepId
    """The step after the wait."""


class SendStep(BaseModel):
    """Send one message: ``template`` on ``channel``, when the guards allow it."""

    model_config = _FROZEN

    type: Literal["send"] = "send"
    """Tag: ``send``."""
    id: StepId
    """The step's id, unique in the flow; a message records it, so it is sent once."""
    channel: MessageChannel
    """``email``, ``sms``, ``push``, ``messenger`` or ``instagram``."""
    template: StepId
    """The message template's id (see ``SHIPPED_TEMPLATES``)."""
    coupon: Coupon | None = None
    """A coupon the message carries."""
    variant: str | None = Field(default=None, max_length=64)
    """A label recorded with the message for reporting (e.g. ``"conversational"``);
    when unset the message records the enrolment's A/B variant, if any."""
    next: StepId
    """The step after this one (also after a skip)."""


class Branch(BaseModel):
    """One way out of a conditional split."""

    model_config = _FROZEN

    when: Condition
    """The condition that selects this branch."""
    next: StepId
    """Where the branch goes."""


class SplitStep(BaseModel):
    """Go to the first branch whose condition holds, else to ``otherwise``."""

    model_config = _FROZEN

    type: Literal["split"] = "split"
    """Tag: ``split``."""
    id: StepId
    """The step's id, unique in the flow."""
    branches: tuple[Branch, ...]
    """The branches, tried in order; at least one."""
    otherwise: StepId
    """Where to go when no branch's condition holds."""


class Variant(BaseModel):
    """One arm of an A/B split."""

    model_config = _FROZEN

    name: str = Field(min_length=1, max_length=64)
    """The variant's name, recorded with every message sent after it."""
    weight: int
    """Its share, relative to the other variants' weights (positive)."""
    next: StepId
    """Where this variant goes."""


class AbSplitStep(BaseModel):
    """Send each prospect down one variant, chosen by a stable hash of the prospect key,
    the flow id and this step's id: the same prospect always gets the same variant."""

    model_config = _FROZEN

    type: Literal["ab_split"] = "ab_split"
    """Tag: ``ab_split``."""
    id: StepId
    """The step's id, unique in the flow (part of the hash: keep it across versions)."""
    variants: tuple[Variant, ...]
    """The variants; at least one, each with a positive weight."""


class ExitStep(BaseModel):
    """The end of the flow."""

    model_config = _FROZEN

    type: Literal["exit"] = "exit"
    """Tag: ``exit``."""
    id: StepId
    """The step's id, unique in the flow."""


Step = Annotated[
    WaitStep | SendStep | SplitStep | AbSplitStep | ExitStep, Field(discriminator="type")
]
"""Any step, told apart by its ``type``."""


class Flow(BaseModel):
    """A versioned recovery flow. Frozen: publish a change as a new ``version``."""

    model_config = _FROZEN

    id: StepId
    """The flow's id, stable across versions (``conversational``)."""
    version: int = Field(ge=1)
    """The version; an enrolment pins ``id`` and ``version``."""
    name: str = Field(default="", max_length=200)
    """A title for the dashboard."""
    description: str = Field(default="", max_length=2000)
    """What the flow is for."""
    start: StepId | None = None
    """The first step's id; the first step listed when unset."""
    steps: tuple[Step, ...] = Field(max_length=500)
    """The steps, in any order (at most 500)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Flow):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        # cheap: a flow is a key of the planner's cache of compiled flows
        return hash((self.id, self.version))

    @property
    def first_step(self) -> str:
        """The id of the step an enrolment starts at."""
        if self.start is not None:
            return self.start
        return self.steps[0].id if self.steps else ""
