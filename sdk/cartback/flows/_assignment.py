"""Which flow a new cart enters: one per product, one per order form, or a default.

``FlowAssignments`` holds every flow version still in use (new carts enter the highest
version of the flow assigned to them; enrolments in older versions keep planning
against the version they pinned) and the assignments by product, by form and default.
A product's assignment wins over its form's, and the form's over the default.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from cartback._models import Cart
from cartback.flows._definitions import Flow, StepId
from cartback.flows._enrolment import Enrolment
from cartback.flows._errors import FlowNotFoundError, FlowProblem, FlowValidationError
from cartback.flows._validation import load_flow, pydantic_problems

__all__ = ["FlowAssignments", "choose_flow", "load_assignments"]


class FlowAssignments(BaseModel):
    """A shop's flows and which carts enter which. Frozen; serialisable."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    flows: tuple[Flow, ...]
    """Every version of every flow still in use; each ``(id, version)`` once."""
    default: StepId | None = None
    """The flow id for carts no other assignment covers; none enter a flow when unset."""
    by_form: dict[str, StepId] = Field(default_factory=dict)
    """Order form id -> flow id."""
    by_product: dict[str, StepId] = Field(default_factory=dict)
    """Product id -> flow id (wins over the form's)."""
    control: dict[StepId, Annotated[float, Field(ge=0, le=0.5)]] = Field(default_factory=dict)
    """Flow id -> the share of its prospects held out as a control group (0 to 0.5;
    0.1 holds out one in ten): they enter the flow and receive nothing, so the dashboard
    can compare their conversion with the others'. Decided once per prospect and flow
    (``cartback.reports.in_control_group``), kept with the enrolment."""
    control_salt: str = Field(default="", max_length=64)
    """Mixed into the control group's draw: change it to draw a new control group."""

    @model_validator(mode="after")
    def _references(self) -> Self:
        seen: set[tuple[str, int]] = set()
        for flow in self.flows:
            key = (flow.id, flow.version)
            if key in seen:
                raise PydanticCustomError(
                    "duplicate_flow",
                    "a flow version is listed twice: {flow_id} {version}",
                    {"flow_id": flow.id, "version": flow.version},
                )
            seen.add(key)
        ids = {flow.id for flow in self.flows}
        named = [self.default, *self.by_form.values(), *self.by_product.values(), *self.control]
        for flow_id in named:
            if flow_id is not None and flow_id not in ids:
                raise PydanticCustomError(
                    "unknown_flow", "no flow has the id {flow_id}", {"flow_id": flow_id}
                )
        return self

    def latest(self, flow_id: str) -> Flow:
        """The highest version of ``flow_id``: the one new carts enter."""
        versions = [flow for flow in self.flows if flow.id == flow_id]
        if not versions:
            raise FlowNotFoundError(f"no flow has the id {flow_id!r}", flow_id=flow_id)
        return max(versions, key=lambda flow: flow.version)

    def pinned(self, enrolment: Enrolment) -> Flow:
        """The exact version an enrolment pins; raises ``FlowNotFoundError`` when that
        version was removed while enrolments still use it."""
        for flow in self.flows:
            if flow.id == enrolment.flow_id and flow.version == enrolment.flow_version:
                return flow
        raise FlowNotFoundError(
            f"flow {enrolment.flow_id!r} version {enrolment.flow_version} is not known",
            flow_id=enrolment.flow_id,
            version=enrolment.flow_version,
        )


def choose_flow(cart: Cart, assignments: FlowAssignments) -> Flow | None:
    """The flow (its current version) a new cart enters, or ``None`` for none:
    the cart's product's flow, else its form's, else the default."""
    context = cart.context
    flow_id = None
    if context.product_id is not None:
        flow_id = assignments.by_product.get(context.product_id)
    if flow_id is None:
        flow_id = assignments.by_form.get(context.form_id)
    if flow_id is None:
        flow_id = assignments.default
    return None if flow_id is None else assignments.latest(flow_id)


def load_assignments(
    source: str | bytes | Mapping[str, Any], *, templates: Collection[str] | None
) -> FlowAssignments:
    """Parse and check assignments (JSON text or a mapping) and every flow in them.

    Raises ``FlowValidationError``; a flow's problems have paths under ``flows[i]``.
    """
    try:
        if isinstance(source, str | bytes):
            assignments = FlowAssignments.model_validate_json(source)
        else:
            assignments = FlowAssignments.model_validate(dict(source))
    except ValidationError as error:
        raise FlowValidationError.from_problems(list(pydantic_problems(error))) from None
    problems: list[FlowProblem] = []
    for position, flow in enumerate(assignments.flows):
        try:
            load_flow(flow, templates=templates)
        except FlowValidationError as error:
            problems.extend(
                FlowProblem(
                    path=f"flows[{position}].{problem.path}"
                    if problem.path
                    else f"flows[{position}]",
                    reason=problem.reason,
                    message=problem.message,
                )
                for problem in error.problems
            )
    if problems:
        raise FlowValidationError.from_problems(problems)
    return assignments
