"""What the planner answers: one next action, its time, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from cartback.flows._definitions import SendStep

__all__ = [
    "DEFER_REASONS",
    "EXIT_REASONS",
    "SKIP_REASONS",
    "DeferReason",
    "ExitReason",
    "PauseReason",
    "Plan",
    "PlanKind",
    "PlanReason",
    "SkipReason",
]

PlanKind = Literal["send", "skip", "exit", "pause"]
"""``send`` a step's message at ``at``; ``skip`` a step at ``at`` (record it, move on);
``exit`` the flow at ``at``; ``pause`` until ``at`` (or until resumed, when ``None``)."""

SkipReason = Literal["no_consent", "consent_withdrawn", "no_address", "channel_cap", "overall_cap"]
"""Why a step is skipped: the channel has no consent (never granted) or it was
withdrawn; there is nothing to send to (no email, no E.164 phone, no active push
device, no Messenger/Instagram recipient); a frequency cap (when caps skip)."""

DeferReason = Literal[
    "quiet_hours",
    "push_near_message",
    "no_daily_push",
    "awaiting_order",
    "channel_cap",
    "overall_cap",
]
"""Why a message goes later than its step came due."""

ExitReason = Literal[
    "ordered", "purchased", "consent_withdrawn", "recent_flow", "completed", "control_group"
]
"""Why an enrolment ends: the cart was ordered; the prospect purchased; consent is
withdrawn on every channel left; the prospect had another cart's messages too recently;
the flow reached its end; the prospect is in the flow's control group (held out of its
messages, so the flow's lift can be measured)."""

PauseReason = Literal["replied"]
"""Why an enrolment waits without a time: the prospect replied; a person takes over."""

PlanReason = Literal[
    "no_consent",
    "consent_withdrawn",
    "no_address",
    "channel_cap",
    "overall_cap",
    "ordered",
    "purchased",
    "recent_flow",
    "completed",
    "control_group",
    "replied",
]
"""Every reason a ``skip``, ``exit`` or ``pause`` plan can give."""

SKIP_REASONS: Final[tuple[SkipReason, ...]] = get_args(SkipReason)
DEFER_REASONS: Final[tuple[DeferReason, ...]] = get_args(DeferReason)
EXIT_REASONS: Final[tuple[ExitReason, ...]] = get_args(ExitReason)


@dataclass(frozen=True, slots=True)
class Plan:
    """The next action of one enrolment. Act on it only once it is due
    (``plan.due_at(now)``), and plan again right before acting: the planner is cheap
    and deterministic, and the live cart may have changed."""

    kind: PlanKind
    """``send``, ``skip``, ``exit`` or ``pause``."""
    at: datetime | None
    """When to act (UTC); ``None`` only for a pause that lasts until resumed."""
    reason: PlanReason | None = None
    """Why, for ``skip``, ``exit`` and ``pause``."""
    step: SendStep | None = None
    """The send step, for ``send`` and ``skip``."""
    due: datetime | None = None
    """When the step came due, before any guard deferred it."""
    deferred: tuple[DeferReason, ...] = ()
    """The guards that moved ``at`` later than ``due``, in the order they did."""
    then: str | None = None
    """The step the enrolment moves to after this send or skip."""
    variant: str | None = None
    """The enrolment's A/B variant once it has walked to this action."""
    path: tuple[str, ...] = ()
    """The step ids passed on the way (waits, splits, steps already done)."""

    def due_at(self, now: datetime) -> bool:
        """Whether the action is to be taken at ``now``."""
        return self.at is not None and self.at <= now

    @property
    def message_variant(self) -> str | None:
        """The variant a message records: the step's label, else the A/B variant."""
        if self.step is not None and self.step.variant is not None:
            return self.step.variant
        return self.variant
