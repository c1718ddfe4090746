"""The groups recovery figures are broken down by: all messages, a channel, a flow, a
flow step, an A/B variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from cartback._models import MessageRecord
from cartback._types import MessageChannel

__all__ = ["ALL", "Dimension", "Group", "groups_for", "groups_of"]

Dimension = Literal["all", "channel", "flow", "step", "variant"]
"""What a group gathers: every message; one channel's; one flow's; one step's of one
flow; one A/B variant's of one flow (every message the variant's prospects received)."""


@dataclass(frozen=True, slots=True)
class Group:
    """One line of a breakdown; the fields its dimension does not use are ``None``."""

    dimension: Dimension
    """``all``, ``channel``, ``flow``, ``step`` or ``variant``."""
    channel: MessageChannel | None = None
    """The channel, for ``channel``."""
    flow_id: str | None = None
    """The flow, for ``flow``, ``step`` and ``variant`` (``None``: messages no flow
    planned)."""
    step_id: str | None = None
    """The step, for ``step``."""
    variant: str | None = None
    """The variant, for ``variant``."""

    @property
    def label(self) -> str:
        """A short text for a table or a chart: ``email``, ``conversational``,
        ``conversational / email_3h``, ``conversational / B``, ``all messages``."""
        flow = self.flow_id if self.flow_id is not None else "(no flow)"
        if self.dimension == "channel":
            return str(self.channel)
        if self.dimension == "flow":
            return flow
        if self.dimension == "step":
            return f"{flow} / {self.step_id if self.step_id is not None else '(no step)'}"
        if self.dimension == "variant":
            return f"{flow} / {self.variant}"
        return "all messages"

    @property
    def sort_key(self) -> tuple[str, ...]:
        """Groups sort by dimension, then flow, step, variant and channel."""
        return (
            self.dimension,
            self.flow_id or "",
            self.step_id or "",
            self.variant or "",
            self.channel or "",
        )


ALL: Final = Group("all")
"""The group of every message."""


def groups_for(
    channel: MessageChannel, flow_id: str | None, step_id: str | None, variant: str | None
) -> tuple[Group, ...]:
    """The groups a message with these fields counts in: all, its channel, its flow,
    its flow's step and, when it has one, its flow's variant."""
    groups = [
        ALL,
        Group("channel", channel=channel),
        Group("flow", flow_id=flow_id),
        Group("step", flow_id=flow_id, step_id=step_id),
    ]
    if variant is not None:
        groups.append(Group("variant", flow_id=flow_id, variant=variant))
    return tuple(groups)


def groups_of(message: MessageRecord) -> tuple[Group, ...]:
    """The groups ``message`` counts in (see ``groups_for``)."""
    return groups_for(message.channel, message.flow_id, message.step_id, message.variant)
