"""An enrolment: one cart's place in one pinned version of a flow.

An enrolment pins ``flow_id`` and ``flow_version`` when it starts, so publishing a new
version of a flow never moves a prospect already in an older one. It is a frozen value:
``after(plan, at=...)`` returns the enrolment as it stands once a plan was carried out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from cartback._errors import InvalidInputError
from cartback._models import Cart
from cartback.flows._definitions import Flow
from cartback.flows._guards import Guards
from cartback.flows._plan import EXIT_REASONS, ExitReason, Plan
from cartback.flows._zones import prospect_time_zone

__all__ = ["Enrolment", "StepOutcome", "StepRun", "enrol"]

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

StepOutcome = Literal["sent", "skipped", "failed"]
"""What became of a send step: sent, skipped by a guard, or failed for good."""


class StepRun(BaseModel):
    """One send step the enrolment has been through."""

    model_config = _FROZEN

    step_id: str
    """The step."""
    at: AwareDatetime
    """When it was sent, skipped or given up."""
    outcome: StepOutcome
    """``sent``, ``skipped`` or ``failed``."""
    reason: str | None = None
    """The skip's reason code, or the failure's."""


class Enrolment(BaseModel):
    """Where one cart is in its flow. Frozen: each change is a new value."""

    model_config = _FROZEN

    cart_id: str
    """The enrolled cart."""
    prospect: str
    """The prospect key (history, caps and the A/B hash are per prospect)."""
    flow_id: str
    """The flow's id."""
    flow_version: int
    """The pinned version of that flow."""
    started_at: AwareDatetime
    """When the enrolment began (the cart's capture, by default)."""
    position: str | None
    """The step to run next; ``None`` once finished."""
    since: AwareDatetime
    """When the enrolment reached ``position`` (waits count from here)."""
    time_zone: str | None = None
    """The prospect's zone, resolved when enrolled; from the live cart when ``None``."""
    variant: str | None = None
    """The A/B variant taken, once the enrolment passed an A/B split."""
    runs: tuple[StepRun, ...] = ()
    """The send steps done so far, oldest first."""
    resumed_at: AwareDatetime | None = None
    """When staff last resumed the flow after a reply; earlier replies no longer pause."""
    finished_at: AwareDatetime | None = None
    """When the enrolment ended."""
    exit_reason: ExitReason | None = None
    """Why it ended."""

    @property
    def finished(self) -> bool:
        """Whether the enrolment has ended."""
        return self.position is None

    def after(self, plan: Plan, *, at: datetime, outcome: StepOutcome | None = None) -> Enrolment:
        """The enrolment once ``plan`` was carried out at ``at``.

        A ``send`` records ``outcome`` (``sent`` by default; ``failed`` when the sender
        gave up for good) and moves on, the next wait counting from ``at``; a ``skip``
        records its reason and moves on; an ``exit`` finishes; a ``pause`` changes
        nothing.
        """
        if plan.kind == "pause" or self.finished:
            return self
        if plan.kind == "exit":
            return self.model_copy(
                update={
                    "position": None,
                    "since": at,
                    "variant": plan.variant if plan.variant is not None else self.variant,
                    "finished_at": at,
                    "exit_reason": plan.reason if plan.reason in EXIT_REASONS else "completed",
                }
            )
        if plan.step is None:
            raise InvalidInputError(
                "a send or skip plan names its step", field="plan", reason="invalid"
            )
        if plan.kind == "send":
            run = StepRun(step_id=plan.step.id, at=at, outcome=outcome or "sent")
        else:
            run = StepRun(step_id=plan.step.id, at=at, outcome="skipped", reason=plan.reason)
        return self.model_copy(
            update={
                "position": plan.then,
                "since": at,
                "variant": plan.variant if plan.variant is not None else self.variant,
                "runs": (*self.runs, run),
            }
        )

    def hold_out(self, at: datetime) -> Enrolment:
        """The enrolment ended at ``at`` because its prospect is in the flow's control
        group: it sends nothing, and stays as the record that the cart was held out."""
        return self.model_copy(
            update={
                "position": None,
                "since": at,
                "finished_at": at,
                "exit_reason": "control_group",
            }
        )

    def resume(self, at: datetime) -> Enrolment:
        """The enrolment after staff resumed it at ``at``: replies up to then no longer
        pause it."""
        return self.model_copy(update={"resumed_at": at})


def enrol(
    cart: Cart, flow: Flow, *, at: datetime | None = None, guards: Guards | None = None
) -> Enrolment:
    """Start ``cart`` at the first step of ``flow`` (pinning its id and version).

    ``at`` defaults to the cart's capture time, so the first wait counts from the
    abandonment. The prospect's zone is resolved here, once (with ``guards``'
    fallback zone).
    """
    prospect = cart.contact.prospect_key
    if prospect is None:
        raise InvalidInputError(
            "the cart has no email or E.164 phone to identify the prospect",
            field="contact",
            reason="contact_missing",
        )
    started = at or cart.created_at
    fallback = (guards or Guards()).fallback_time_zone
    return Enrolment(
        cart_id=cart.id,
        prospect=prospect,
        flow_id=flow.id,
        flow_version=flow.version,
        started_at=started,
        position=flow.first_step,
        since=started,
        time_zone=prospect_time_zone(cart.contact, fallback=fallback),
    )
