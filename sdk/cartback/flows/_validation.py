"""Load and check flow definitions; compile a checked flow for the planner.

``load_flow`` accepts JSON text, a Python mapping (``json.loads`` output or a literal)
or a ``Flow`` and returns a ``Flow`` only when nothing is wrong with it; otherwise it
raises one ``FlowValidationError`` listing every problem with its path.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from pydantic import ValidationError

from cartback._types import MessageChannel
from cartback.flows._conditions import (
    AllCondition,
    AnyCondition,
    Condition,
    CouponActiveCondition,
    NotCondition,
)
from cartback.flows._definitions import (
    AbSplitStep,
    DynamicCoupon,
    ExitStep,
    Flow,
    SendStep,
    SplitStep,
    Step,
    WaitStep,
)
from cartback.flows._errors import FlowProblem, FlowValidationError

__all__ = ["CompiledFlow", "compile_flow", "load_flow", "validate_flow"]

_TAGS: Final = frozenset(
    {
        "wait", "send", "split", "ab_split", "exit", "static", "dynamic", "consent", "can_receive",
        "push_device", "cart_value", "activity", "metric", "last_purchase",
        "abandonments", "coupon_active", "all", "any", "not",
    }
)  # fmt: skip
_UNION_FIELDS: Final = frozenset({"when", "condition", "coupon"})
_REASONS: Final = {
    "extra_forbidden": "unknown_field",
    "missing": "missing",
    "union_tag_invalid": "unknown_type",
    "union_tag_not_found": "missing_type",
    "string_pattern_mismatch": "invalid_id",
    "json_invalid": "invalid_json",
    "greater_than_equal": "out_of_range",
    "too_short": "too_short",
    "too_long": "too_long",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
}
_OWN_REASONS: Final = frozenset(
    {
        "negative_wait",
        "negative_duration",
        "invalid_duration",
        "invalid_time",
        "duration_too_long",
        "duplicate_flow",
        "unknown_flow",
    }
)


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """A checked flow in the shape the planner reads: steps by id, and for each step
    the channels of the send steps that can still follow it."""

    flow_id: str
    """The flow's id."""
    steps: Mapping[str, Step]
    """Every step by id."""
    channels_ahead: Mapping[str, frozenset[MessageChannel]]
    """For each step, the channels of the send steps reachable from it (itself included)."""
    coupons: Mapping[str, tuple[tuple[str, timedelta | None], ...]]
    """For each dynamic coupon id, the send steps carrying it and its validity."""


_COMPILED: dict[int, CompiledFlow] = {}
"""Compiled flows by ``id()`` of the flow object; an entry leaves with its flow."""


def load_flow(
    source: str | bytes | Mapping[str, Any] | Flow, *, templates: Collection[str] | None
) -> Flow:
    """Parse and check a flow from JSON text, a mapping or a ``Flow``.

    ``templates`` is the set of template ids the shop's message builders know (for the
    shipped templates, ``SHIPPED_TEMPLATES``); pass ``None`` to skip that check.
    Raises ``FlowValidationError`` naming every problem's path.
    """
    if isinstance(source, Flow):
        flow = source
    else:
        try:
            if isinstance(source, str | bytes):
                flow = Flow.model_validate_json(source)
            else:
                flow = Flow.model_validate(dict(source))
        except ValidationError as error:
            raise FlowValidationError.from_problems(list(pydantic_problems(error))) from None
    return validate_flow(flow, templates=templates)


def validate_flow(flow: Flow, *, templates: Collection[str] | None) -> Flow:
    """Check a flow built in Python: the graph (every ``next`` names a step, no cycle,
    every step reachable), splits, weights, coupons and, unless ``templates`` is
    ``None``, template ids. Returns the flow; raises ``FlowValidationError``."""
    problems = _graph_problems(flow, templates)
    if problems:
        raise FlowValidationError.from_problems(problems)
    if id(flow) not in _COMPILED:
        _build(flow)
    return flow


def compile_flow(flow: Flow) -> CompiledFlow:
    """The planner's view of ``flow``, built once per flow object (and kept while the
    flow is).

    Checks the graph (not the template ids) the first time; raises
    ``FlowValidationError`` for a flow that cannot be run.
    """
    cached = _COMPILED.get(id(flow))
    if cached is not None:
        return cached
    problems = _graph_problems(flow, None)
    if problems:
        raise FlowValidationError.from_problems(problems)
    return _build(flow)


def _build(flow: Flow) -> CompiledFlow:
    """Compile a flow whose graph was checked, and cache it."""
    steps = {step.id: step for step in flow.steps}
    ahead: dict[str, frozenset[MessageChannel]] = {}

    def channels(step_id: str) -> frozenset[MessageChannel]:
        # The graph has no cycle, so this recursion ends; memoised, it is linear.
        known = ahead.get(step_id)
        if known is not None:
            return known
        step = steps[step_id]
        found: frozenset[MessageChannel] = frozenset()
        for target in _targets(step):
            found |= channels(target)
        if isinstance(step, SendStep):
            found |= {step.channel}
        ahead[step_id] = found
        return found

    for step_id in steps:
        channels(step_id)
    coupons: dict[str, list[tuple[str, timedelta | None]]] = {}
    for step in flow.steps:
        if isinstance(step, SendStep) and isinstance(step.coupon, DynamicCoupon):
            coupons.setdefault(step.coupon.id, []).append((step.id, step.coupon.valid_for))
    compiled = CompiledFlow(
        flow_id=flow.id,
        steps=steps,
        channels_ahead=ahead,
        coupons={key: tuple(value) for key, value in coupons.items()},
    )
    _COMPILED[id(flow)] = compiled
    weakref.finalize(flow, _COMPILED.pop, id(flow), None)
    return compiled


def _targets(step: Step) -> tuple[str, ...]:
    if isinstance(step, WaitStep | SendStep):
        return (step.next,)
    if isinstance(step, SplitStep):
        return (*(branch.next for branch in step.branches), step.otherwise)
    if isinstance(step, AbSplitStep):
        return tuple(variant.next for variant in step.variants)
    return ()


def _conditions(condition: Condition, path: str) -> Iterator[tuple[Condition, str]]:
    yield condition, path
    if isinstance(condition, AllCondition | AnyCondition):
        for index, inner in enumerate(condition.conditions):
            yield from _conditions(inner, f"{path}.conditions[{index}]")
    elif isinstance(condition, NotCondition):
        yield from _conditions(condition.condition, f"{path}.condition")


def _graph_problems(flow: Flow, templates: Collection[str] | None) -> list[FlowProblem]:
    problems: list[FlowProblem] = []

    def add(path: str, reason: str, message: str) -> None:
        problems.append(FlowProblem(path=path, reason=reason, message=message))

    if not flow.steps:
        add("steps", "empty_flow", "a flow needs at least one step")
        return problems
    index: dict[str, int] = {}
    for position, step in enumerate(flow.steps):
        if step.id in index:
            add(f"steps[{position}].id", "duplicate_step", f"step id {step.id!r} is used twice")
        else:
            index[step.id] = position
    if flow.start is not None and flow.start not in index:
        add("start", "unknown_step", f"the start step {flow.start!r} does not exist")
    coupon_ids = {
        step.coupon.id
        for step in flow.steps
        if isinstance(step, SendStep) and isinstance(step.coupon, DynamicCoupon)
    }

    def target(path: str, step_id: str) -> None:
        if step_id not in index:
            add(path, "unknown_step", f"no step has the id {step_id!r}")

    for position, step in enumerate(flow.steps):
        path = f"steps[{position}]"
        if isinstance(step, WaitStep):
            if step.duration is None and step.until is None:
                add(path, "empty_wait", "a wait needs a duration, an until time, or both")
            target(f"{path}.next", step.next)
        elif isinstance(step, SendStep):
            if templates is not None and step.template not in templates:
                add(f"{path}.template", "unknown_template", f"unknown template {step.template!r}")
            if step.channel == "push" and isinstance(step.coupon, DynamicCoupon):
                add(
                    f"{path}.coupon",
                    "dynamic_coupon_on_push",
                    "a push cannot carry a dynamic coupon: send it by email or SMS first",
                )
            target(f"{path}.next", step.next)
        elif isinstance(step, SplitStep):
            if not step.branches:
                add(f"{path}.branches", "split_without_branches", "a split needs a branch")
            for number, branch in enumerate(step.branches):
                for condition, where in _conditions(branch.when, f"{path}.branches[{number}].when"):
                    if (
                        isinstance(condition, CouponActiveCondition)
                        and condition.coupon not in coupon_ids
                    ):
                        add(
                            f"{where}.coupon",
                            "unknown_coupon",
                            f"no send step carries the dynamic coupon {condition.coupon!r}",
                        )
                target(f"{path}.branches[{number}].next", branch.next)
            target(f"{path}.otherwise", step.otherwise)
        elif isinstance(step, AbSplitStep):
            if not step.variants:
                add(f"{path}.variants", "split_without_branches", "an A/B split needs a variant")
            names: set[str] = set()
            for number, variant in enumerate(step.variants):
                if variant.weight <= 0:
                    add(
                        f"{path}.variants[{number}].weight",
                        "weight_not_positive",
                        "a variant's weight must be a positive integer",
                    )
                if variant.name in names:
                    add(
                        f"{path}.variants[{number}].name",
                        "duplicate_variant",
                        f"variant {variant.name!r} is listed twice",
                    )
                names.add(variant.name)
                target(f"{path}.variants[{number}].next", variant.next)
        else:
            assert isinstance(step, ExitStep)
    if any(problem.reason in {"unknown_step", "duplicate_step"} for problem in problems):
        return problems  # the graph is not well defined; cycles and reach would mislead
    problems.extend(_cycles(flow, index))
    if not any(problem.reason == "cycle" for problem in problems):
        problems.extend(_unreachable(flow, index))
    return problems


def _cycles(flow: Flow, index: Mapping[str, int]) -> list[FlowProblem]:
    steps = {step.id: step for step in flow.steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    found: list[FlowProblem] = []
    for root in steps:
        if root in state:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(_targets(steps[root])))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                loop = [name for name, _ in stack]
                loop = [*loop[loop.index(child) :], child]
                found.append(
                    FlowProblem(
                        path=f"steps[{index[child]}]",
                        reason="cycle",
                        message="the steps loop: " + " -> ".join(loop),
                    )
                )
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(_targets(steps[child]))))
    return found


def _unreachable(flow: Flow, index: Mapping[str, int]) -> list[FlowProblem]:
    steps = {step.id: step for step in flow.steps}
    seen = {flow.first_step}
    todo = [flow.first_step]
    while todo:
        for child in _targets(steps[todo.pop()]):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return [
        FlowProblem(
            path=f"steps[{index[step.id]}]",
            reason="unreachable_step",
            message=f"no path from the start reaches step {step.id!r}",
        )
        for step in flow.steps
        if step.id not in seen
    ]


def pydantic_problems(error: ValidationError) -> Iterator[FlowProblem]:
    """Each pydantic error as a ``FlowProblem`` with a path and a stable reason."""
    for item in error.errors(include_url=False, include_input=False):
        location = item["loc"]
        parts: list[str] = []
        previous: object = None
        for element in location:
            if isinstance(element, int):
                parts.append(f"[{element}]")
            elif element in _TAGS and (isinstance(previous, int) or previous in _UNION_FIELDS):
                pass  # the union's tag pydantic adds to the location
            else:
                parts.append(f".{element}" if parts else str(element))
            previous = element
        path = "".join(parts)
        kind = item["type"]
        if kind in _OWN_REASONS:
            reason = kind
        elif kind == "literal_error" and location and location[-1] == "channel":
            reason = "unknown_channel"
        else:
            reason = _REASONS.get(kind, "invalid")
        yield FlowProblem(path=path, reason=reason, message=item["msg"])
