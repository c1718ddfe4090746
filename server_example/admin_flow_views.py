"""What the flows page shows (pure: no I/O).

- ``flow_views``: the receiver's flows from its recovery config, each version with its
  steps in words, which carts enter it (the default, order forms, products) and its
  control group share.
- ``FlowTally``: one pass over the period's carts (``Store.report_batches``): enrolments
  per flow by state (running, or why they ended) and recovery messages per flow step
  by status (sent, skipped, deferred, failed), with why steps were skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from cartback.flows import (
    AbSplitStep,
    Flow,
    FlowAssignments,
    SendStep,
    SplitStep,
    Step,
    WaitStep,
    format_duration,
)
from cartback.store import ReportBatch

__all__ = [
    "EXIT_LABELS",
    "FlowTally",
    "FlowView",
    "StepCounts",
    "StepView",
    "flow_views",
    "step_text",
]

EXIT_LABELS: Final = {
    "running": "still running",
    "ordered": "ordered",
    "purchased": "purchased elsewhere",
    "consent_withdrawn": "consent withdrawn",
    "recent_flow": "contacted too recently for another cart",
    "completed": "reached the flow's end",
    "control_group": "held out (control group)",
}
"""An enrolment's state in words (``running``, or its exit reason)."""


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of a flow version."""

    id: str
    """The step's id."""
    type: str
    """``wait``, ``send``, ``split``, ``ab_split`` or ``exit``."""
    text: str
    """What it does, in words."""


@dataclass(frozen=True, slots=True)
class FlowView:
    """One version of a flow."""

    id: str
    """The flow's id."""
    version: int
    """The version."""
    name: str
    """Its name (may be empty)."""
    description: str
    """Its description (may be empty)."""
    current: bool
    """Whether new carts enter this version (the highest); older ones finish."""
    steps: tuple[StepView, ...]
    """Its steps, in the order written."""
    entered_by: tuple[str, ...]
    """Which carts enter it, in words (``every other cart``, ``order form f1``)."""
    control: float
    """The share of prospects held out as its control group (0: none)."""


def step_text(step: Step) -> str:
    """What ``step`` does, in words."""
    if isinstance(step, WaitStep):
        parts = []
        if step.duration is not None:
            parts.append(format_duration(step.duration))
        if step.until is not None:
            parts.append(f"until {step.until.strftime('%H:%M')} local time")
        return f"wait {' then '.join(parts)}, then {step.next}"
    if isinstance(step, SendStep):
        text = f"send {step.channel} with template {step.template}"
        if step.variant:
            text += f" (variant {step.variant})"
        if step.coupon is not None:
            text += f", with a {step.coupon.type} coupon"
        return f"{text}, then {step.next}"
    if isinstance(step, SplitStep):
        count = len(step.branches)
        targets = ", ".join(branch.next for branch in step.branches)
        plural = "s" if count != 1 else ""
        return f"{count} condition{plural} (to {targets}), otherwise {step.otherwise}"
    if isinstance(step, AbSplitStep):
        total = sum(v.weight for v in step.variants) or 1
        shares = ", ".join(
            f"{v.name} {v.weight * 100 // total}% to {v.next}" for v in step.variants
        )
        return f"A/B split: {shares}"
    return "end the flow"


def flow_views(assignments: FlowAssignments) -> tuple[FlowView, ...]:
    """Every flow version of ``assignments``, by id then newest version first."""
    entered: dict[str, list[str]] = {}
    if assignments.default is not None:
        entered.setdefault(assignments.default, []).append("every other cart")
    for form_id, flow_id in sorted(assignments.by_form.items()):
        entered.setdefault(flow_id, []).append(f"order form {form_id}")
    for product_id, flow_id in sorted(assignments.by_product.items()):
        entered.setdefault(flow_id, []).append(f"product {product_id}")
    latest: dict[str, int] = {}
    for flow in assignments.flows:
        latest[flow.id] = max(latest.get(flow.id, 0), flow.version)
    ordered: list[Flow] = sorted(assignments.flows, key=lambda f: (f.id, -f.version))
    return tuple(
        FlowView(
            id=flow.id,
            version=flow.version,
            name=flow.name,
            description=flow.description,
            current=flow.version == latest[flow.id],
            steps=tuple(StepView(step.id, step.type, step_text(step)) for step in flow.steps),
            entered_by=tuple(entered.get(flow.id, ())),
            control=assignments.control.get(flow.id, 0.0),
        )
        for flow in ordered
    )


@dataclass(frozen=True, slots=True)
class StepCounts:
    """The recovery messages of one flow step, by status."""

    flow_id: str
    """The flow."""
    step_id: str
    """The step."""
    statuses: dict[str, int]
    """Status (``sent``, ``skipped``, ``deferred``, ``failed``, ``sending``) -> messages."""
    skip_reasons: tuple[tuple[str, int], ...]
    """Why messages were skipped, most frequent first."""


@dataclass(slots=True)
class FlowTally:
    """Enrolments and messages of the period's carts, counted in one pass."""

    enrolments: dict[str, Counter[str]] = field(default_factory=dict)
    """Flow id -> state (``running`` or an exit reason) -> carts."""
    messages: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    """``(flow id, step id)`` -> status -> messages."""
    skipped: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    """``(flow id, step id)`` -> skip reason -> messages."""
    carts: int = 0
    """Carts read."""

    def add(self, batches: Iterable[ReportBatch]) -> FlowTally:
        """Count ``batches`` in; returns the tally."""
        for batch in batches:
            self.carts += len(batch.carts)
            for enrolment in batch.enrolments.values():
                state = "running" if enrolment.finished_at is None else enrolment.exit_reason
                counter = self.enrolments.setdefault(enrolment.flow_id, Counter())
                counter[state or "completed"] += 1
            for records in batch.messages.values():
                for record in records:
                    if record.flow_id is None or record.step_id is None:
                        continue
                    key = (record.flow_id, record.step_id)
                    self.messages.setdefault(key, Counter())[record.status] += 1
                    if record.status == "skipped":
                        reason = record.reason or "unknown"
                        self.skipped.setdefault(key, Counter())[reason] += 1
        return self

    def states(self, flow_id: str) -> tuple[tuple[str, str, int], ...]:
        """``flow_id``'s enrolments as ``(state, words, carts)``, most first."""
        counter = self.enrolments.get(flow_id, Counter())
        return tuple(
            (state, EXIT_LABELS.get(state, state.replace("_", " ")), count)
            for state, count in counter.most_common()
        )

    def steps(self, flow_id: str) -> tuple[StepCounts, ...]:
        """``flow_id``'s steps that planned messages, by step id."""
        return tuple(
            StepCounts(
                flow_id=flow,
                step_id=step,
                statuses=dict(counter),
                skip_reasons=tuple(self.skipped.get((flow, step), Counter()).most_common()),
            )
            for (flow, step), counter in sorted(self.messages.items())
            if flow == flow_id
        )
