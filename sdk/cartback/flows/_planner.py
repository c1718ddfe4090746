"""The planner: from a pinned flow, an enrolment and the live facts, the next action.

Pure and deterministic: no clock, no store, no randomness (A/B variants come from a
hash). It walks from the enrolment's position: waits end (counted from when the
enrolment reached them), splits choose with the facts as they are now, send steps
already done (in the enrolment or, after a crash between send and record, in the
message history) are passed, and the first send step left is planned through the
guards. One call answers one action; the dispatcher carries it out once due and asks
again.

Order of the checks:

1. exits, at once: the cart is ordered; a purchase since the enrolment began; consent
   withdrawn on every channel the rest of the flow could use; another cart's message
   too recently (``recent_flow``, off by default);
2. pause: a reply since the enrolment began (and since staff last resumed it);
3. the walk, to the next send step, which is due at ``max(due, now)``;
4. that step is skipped when its channel has no consent or nothing to send to;
5. deferrals, until none moves the time: an unconfirmed submitted cart, the push
   window, no daily push, quiet hours, and the caps when they defer;
6. the caps, when they skip.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cartback._errors import InvalidInputError
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.consent import DEFAULT_CONSENT, ConsentDecision
from cartback.flows._clocktime import in_window, next_local_time, window_end
from cartback.flows._conditions import (
    AbandonmentsCondition,
    ActivityCondition,
    AllCondition,
    AnyCondition,
    CanReceiveCondition,
    CartValueCondition,
    Condition,
    ConsentCondition,
    CouponActiveCondition,
    LastPurchaseCondition,
    MetricCondition,
    NotCondition,
    PushDeviceCondition,
    SegmentCondition,
)
from cartback.flows._definitions import AbSplitStep, ExitStep, Flow, SendStep, SplitStep, WaitStep
from cartback.flows._enrolment import Enrolment
from cartback.flows._facts import ProspectFacts
from cartback.flows._guards import Guards
from cartback.flows._plan import DeferReason, Plan, PlanReason, SkipReason
from cartback.flows._validation import CompiledFlow, compile_flow
from cartback.flows._zones import prospect_time_zone, resolve_time_zone

if TYPE_CHECKING:
    from cartback.reports._segments import SegmentContext

__all__ = ["DEFAULT_GUARDS", "choose_variant", "plan_next"]

DEFAULT_GUARDS = Guards()
"""The guards with every default."""

_MAX_DEFERRALS = 64
_DONE = frozenset({"sent", "skipped", "failed"})


def choose_variant(prospect: str, flow_id: str, step: AbSplitStep) -> str:
    """The variant of ``step`` a prospect gets: from SHA-256 of the prospect key, the
    flow id and the step id, spread over the weights. Stable across processes,
    versions and Python releases."""
    total = sum(variant.weight for variant in step.variants)
    digest = hashlib.sha256(f"{flow_id}\x1f{step.id}\x1f{prospect}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for variant in step.variants:
        point -= variant.weight
        if point < 0:
            return variant.name
    return step.variants[-1].name  # pragma: no cover - the weights sum to total


def plan_next(
    flow: Flow,
    enrolment: Enrolment,
    facts: ProspectFacts,
    *,
    now: datetime,
    guards: Guards = DEFAULT_GUARDS,
) -> Plan:
    """The enrolment's next action and its time, or why there is none.

    ``flow`` must be the version the enrolment pins; ``facts`` are read live (the
    dispatcher plans again right before every send). Raises ``InvalidInputError`` for a
    naive ``now``, a flow that is not the pinned one or a position that is not one of its
    steps; ``FlowValidationError`` for a flow whose graph cannot run.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInputError("now must be timezone-aware", field="now", reason="naive_datetime")
    if flow.id != enrolment.flow_id or flow.version != enrolment.flow_version:
        raise InvalidInputError(
            "the flow is not the version the enrolment pins", field="flow", reason="not_pinned"
        )
    compiled = compile_flow(flow)
    if enrolment.position is None:
        return Plan(
            kind="exit",
            at=enrolment.finished_at or enrolment.since,
            reason=enrolment.exit_reason or "completed",
            variant=enrolment.variant,
        )
    if enrolment.position not in compiled.steps:
        raise InvalidInputError(
            "the enrolment's position is not a step of its flow",
            field="enrolment.position",
            reason="unknown_step",
        )
    return _Planner(compiled, enrolment, facts, now, guards).run()


class _Planner:
    """One planning call; the facts it derives are computed at most once, on demand."""

    __slots__ = (
        "_done",
        "_last_by_channel",
        "_sent_times",
        "_zone",
        "compiled",
        "enrolment",
        "facts",
        "guards",
        "now",
    )

    def __init__(
        self,
        compiled: CompiledFlow,
        enrolment: Enrolment,
        facts: ProspectFacts,
        now: datetime,
        guards: Guards,
    ) -> None:
        self.compiled = compiled
        self.enrolment = enrolment
        self.facts = facts
        self.now = now
        self.guards = guards
        self._done: dict[str, tuple[str, datetime]] | None = None
        self._last_by_channel: dict[MessageChannel, datetime] | None = None
        self._sent_times: list[datetime] | None = None
        self._zone: ZoneInfo | None = None

    # -- the walk ---------------------------------------------------------------------

    def run(self) -> Plan:
        exit_reason = self._exit_reason()
        if exit_reason is not None:
            return Plan(
                kind="exit", at=self.now, reason=exit_reason, variant=self.enrolment.variant
            )
        pause = self._pause()
        if pause is not None:
            return pause
        enrolment = self.enrolment
        steps = self.compiled.steps
        position = enrolment.position
        assert position is not None
        at = enrolment.since
        variant = enrolment.variant
        path: list[str] = []
        for _ in range(len(steps) + 1):
            step = steps[position]
            if type(step) is WaitStep:
                if step.duration is not None:
                    at += step.duration
                if step.until is not None:
                    at = next_local_time(at, step.until, self.zone)
                path.append(step.id)
                position = step.next
            elif type(step) is SplitStep:
                when = max(at, self.now)
                position = next(
                    (branch.next for branch in step.branches if self._holds(branch.when, when)),
                    step.otherwise,
                )
                path.append(step.id)
            elif type(step) is AbSplitStep:
                variant = choose_variant(enrolment.prospect, self.compiled.flow_id, step)
                position = next(item.next for item in step.variants if item.name == variant)
                path.append(step.id)
            elif type(step) is ExitStep:
                return Plan(
                    kind="exit",
                    at=max(at, self.now),
                    reason="completed",
                    variant=variant,
                    path=tuple(path),
                )
            else:
                assert type(step) is SendStep
                done = self.done.get(step.id)
                if done is not None:
                    at = max(at, done[1])
                    path.append(step.id)
                    position = step.next
                    continue
                return self._send(step, at, variant, tuple(path))
        raise AssertionError("a checked flow has no cycle")  # pragma: no cover

    # -- exits and pauses ---------------------------------------------------------------

    def _exit_reason(self) -> PlanReason | None:
        guards = self.guards
        facts = self.facts
        started = self.enrolment.started_at
        if guards.exit_on_order and facts.cart.status == "ordered":
            return "ordered"
        if guards.exit_on_purchase:
            for item in facts.activity:
                if item.kind == "purchase" and item.at >= started:
                    return "purchased"
        if guards.exit_on_withdrawal:
            position = self.enrolment.position
            assert position is not None
            ahead = self.compiled.channels_ahead[position]
            if ahead:
                consent = self.consent
                for channel in ahead:
                    if consent(channel).basis != "withdrawn":
                        break
                else:
                    return "consent_withdrawn"
        if guards.recent_flow is not None:
            earliest = started - guards.recent_flow
            cart_id = self.enrolment.cart_id
            for record in facts.history:
                if (
                    record.status == "sent"
                    and record.cart_id != cart_id
                    and earliest <= record.at <= started
                ):
                    return "recent_flow"
        return None

    def _pause(self) -> Plan | None:
        replied = self.facts.replied_at
        if not self.guards.pause_on_reply or replied is None:
            return None
        enrolment = self.enrolment
        if replied < enrolment.started_at:
            return None
        if enrolment.resumed_at is not None and replied <= enrolment.resumed_at:
            return None
        until = None if self.guards.reply_pause is None else replied + self.guards.reply_pause
        if until is not None and until <= self.now:
            return None
        return Plan(kind="pause", at=until, reason="replied", variant=enrolment.variant)

    # -- one send step ------------------------------------------------------------------

    def _send(
        self, step: SendStep, due: datetime, variant: str | None, path: tuple[str, ...]
    ) -> Plan:
        at = max(due, self.now)

        def skip(
            reason: SkipReason, when: datetime, deferred: tuple[DeferReason, ...] = ()
        ) -> Plan:
            return Plan(
                kind="skip",
                at=when,
                reason=reason,
                step=step,
                due=due,
                deferred=deferred,
                then=step.next,
                variant=variant,
                path=path,
            )

        decision = self.consent(step.channel)
        if not decision.allowed:
            return skip("consent_withdrawn" if decision.basis == "withdrawn" else "no_consent", at)
        audience = step.template in self.guards.audience_templates
        if not self._reachable(step.channel, audience=audience):
            return skip("no_address", at)
        deferred: list[DeferReason] = []
        for _ in range(_MAX_DEFERRALS):
            moved = False
            for reason, later in self._deferrals(step, at, audience):
                if later > at:
                    at = later
                    moved = True
                    if reason not in deferred:
                        deferred.append(reason)
                    break  # start over: every guard sees the new time
            if not moved:
                break
        if self.guards.on_cap == "skip" and not audience:
            blocked = self._cap(step.channel, at)
            if blocked is not None:
                return skip(blocked[0], at, tuple(deferred))
        return Plan(
            kind="send",
            at=at,
            step=step,
            due=due,
            deferred=tuple(deferred),
            then=step.next,
            variant=variant,
            path=path,
        )

    def _deferrals(
        self, step: SendStep, at: datetime, audience: bool
    ) -> list[tuple[DeferReason, datetime]]:
        guards = self.guards
        found: list[tuple[DeferReason, datetime]] = []
        cart = self.facts.cart
        if cart.status == "submitted" and guards.submitted_wait is not None:
            submitted = cart.submitted_at or cart.updated_at
            failure = cart.last_payment_failure
            if failure is None or failure.at < submitted:
                found.append(("awaiting_order", submitted + guards.submitted_wait))
        if audience:
            return found
        last = self.last_by_channel
        if guards.push_window is not None:
            if step.channel == "push":
                others = [moment for channel, moment in last.items() if channel != "push"]
                latest = max(others) if others else None
            else:
                latest = last.get("push")
            if latest is not None and latest > at - guards.push_window:
                found.append(("push_near_message", latest + guards.push_window))
        if guards.push_min_gap is not None and step.channel == "push":
            latest_push = last.get("push")
            if latest_push is not None:
                found.append(("no_daily_push", latest_push + guards.push_min_gap))
        quiet = guards.quiet_hours
        if quiet is not None and step.channel in quiet.channels:
            zone = self.zone
            if in_window(at, quiet.start, quiet.end, zone):
                found.append(("quiet_hours", window_end(at, quiet.end, zone)))
        if guards.on_cap == "defer":
            blocked = self._cap(step.channel, at)
            if blocked is not None:
                found.append(
                    ("channel_cap" if blocked[0] == "channel_cap" else "overall_cap", blocked[1])
                )
        return found

    def _cap(self, channel: MessageChannel, at: datetime) -> tuple[SkipReason, datetime] | None:
        """The first cap that holds a message on ``channel`` back at ``at``, and when it
        would let it go."""
        guards = self.guards
        cap = guards.channel_caps.get(channel)
        if cap:
            latest = self.last_by_channel.get(channel)
            if latest is not None and at < latest + cap:
                return "channel_cap", latest + cap
        overall = guards.overall_cap
        if overall is not None:
            times = self.sent_times
            end = bisect_right(times, at)
            start = bisect_right(times, at - overall.window)
            if end - start >= overall.limit:
                return "overall_cap", times[end - overall.limit] + overall.window
        return None

    def _reachable(self, channel: MessageChannel, *, audience: bool) -> bool:
        contact = self.facts.cart.contact
        if channel == "email":
            return bool(contact.email)
        if channel == "sms":
            return bool(contact.phone and contact.phone_e164)
        if channel == "push":
            return any(device.active for device in self.facts.devices)
        if audience:
            return bool(contact.email or (contact.phone and contact.phone_e164))
        return any(recipient.platform == channel for recipient in self.facts.recipients)

    # -- conditions ---------------------------------------------------------------------

    def _holds(self, condition: Condition, when: datetime) -> bool:
        facts = self.facts
        if type(condition) is ConsentCondition:
            return self.consent(condition.channel).allowed
        if type(condition) is CanReceiveCondition:
            channel = condition.channel
            return self.consent(channel).allowed and self._reachable(channel, audience=False)
        if type(condition) is PushDeviceCondition:
            return any(
                device.active and condition.platform in (None, device.platform)
                for device in facts.devices
            )
        if type(condition) is CartValueCondition:
            context = facts.cart.context
            if context.cart_value is None:
                return False
            if condition.currency is not None and (
                (context.currency or "").upper() != condition.currency.upper()
            ):
                return False
            return context.cart_value >= condition.at_least
        if type(condition) is ActivityCondition or type(condition) is MetricCondition:
            if type(condition) is MetricCondition:
                name: str | None = condition.name.lower()
                kind = "metric"
            else:
                assert type(condition) is ActivityCondition
                name, kind = None, condition.kind
            since = None if condition.within is None else when - condition.within
            count = 0
            for item in facts.activity:
                if (
                    item.kind == kind
                    and (name is None or (item.name or "").lower() == name)
                    and item.at <= when
                    and (since is None or item.at >= since)
                ):
                    count += 1
                    if count >= condition.at_least:
                        return True
            return False
        if type(condition) is LastPurchaseCondition:
            purchases = [
                item.at for item in facts.activity if item.kind == "purchase" and item.at <= when
            ]
            return bool(purchases) and when - max(purchases) <= condition.within
        if type(condition) is AbandonmentsCondition:
            created = facts.cart.created_at
            since = None if condition.within is None else created - condition.within
            count = sum(
                1
                for moment in facts.earlier_abandonments
                if moment < created and (since is None or moment >= since)
            )
            return count >= condition.at_least
        if type(condition) is CouponActiveCondition:
            for step_id, valid_for in self.compiled.coupons.get(condition.coupon, ()):
                done = self.done.get(step_id)
                if (
                    done is not None
                    and done[0] == "sent"
                    and (valid_for is None or when < done[1] + valid_for)
                ):
                    return True
            return False
        if type(condition) is SegmentCondition:
            return condition.segment.matches(facts.cart, self._segment_context(when))
        if type(condition) is AllCondition:
            return all(self._holds(inner, when) for inner in condition.conditions)
        if type(condition) is AnyCondition:
            return any(self._holds(inner, when) for inner in condition.conditions)
        assert type(condition) is NotCondition
        return not self._holds(condition.condition, when)

    # -- derived facts, computed once ---------------------------------------------------

    def _segment_context(self, when: datetime) -> SegmentContext:
        from cartback.reports._segments import SegmentContext  # reports reads flows

        facts = self.facts
        cart_id = facts.cart.id
        first = min(
            (m.at for m in facts.history if m.cart_id == cart_id and m.status == "sent"),
            default=None,
        )
        return SegmentContext(
            now=when,
            consent={channel: self.consent(channel) for channel in MESSAGE_CHANNELS},
            other_abandonments=tuple(facts.earlier_abandonments),
            enrolment=self.enrolment,
            first_message_at=first,
        )

    def consent(self, channel: MessageChannel) -> ConsentDecision:
        decision = self.facts.consent.get(channel)
        if decision is None:
            return ConsentDecision(
                allowed=DEFAULT_CONSENT.get(channel, False), basis="default", event=None
            )
        return decision

    @property
    def zone(self) -> ZoneInfo:
        if self._zone is None:
            name = self.enrolment.time_zone or prospect_time_zone(
                self.facts.cart.contact, fallback=self.guards.fallback_time_zone
            )
            try:
                self._zone = resolve_time_zone(name)
            except (KeyError, ValueError):
                self._zone = resolve_time_zone(self.guards.fallback_time_zone)
        return self._zone

    @property
    def done(self) -> dict[str, tuple[str, datetime]]:
        """Send steps of this enrolment already done: step id -> (outcome, when)."""
        if self._done is None:
            done: dict[str, tuple[str, datetime]] = {}
            enrolment = self.enrolment
            for record in self.facts.history:
                if (
                    record.status in _DONE
                    and record.step_id is not None
                    and record.cart_id == enrolment.cart_id
                    and record.flow_id == enrolment.flow_id
                    and record.flow_version == enrolment.flow_version
                ):
                    known = done.get(record.step_id)
                    if known is None or known[0] != "sent":
                        done[record.step_id] = (record.status, record.at)
            for run in enrolment.runs:
                done[run.step_id] = (run.outcome, run.at)
            self._done = done
        return self._done

    def _scan_history(self) -> None:
        audience = self.guards.audience_templates
        last: dict[MessageChannel, datetime] = {}
        times: list[datetime] = []
        for record in self.facts.history:
            if record.status != "sent" or (
                record.template is not None and record.template in audience
            ):
                continue
            times.append(record.at)
            known = last.get(record.channel)
            if known is None or record.at > known:
                last[record.channel] = record.at
        times.sort()
        self._last_by_channel = last
        self._sent_times = times

    @property
    def last_by_channel(self) -> dict[MessageChannel, datetime]:
        if self._last_by_channel is None:
            self._scan_history()
        assert self._last_by_channel is not None
        return self._last_by_channel

    @property
    def sent_times(self) -> Sequence[datetime]:
        if self._sent_times is None:
            self._scan_history()
        assert self._sent_times is not None
        return self._sent_times
