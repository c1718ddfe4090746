"""Planner decisions per second, next to floors measured in the same run.

Prints decisions/s and µs/decision for:
  floor: dict     a loop of five dict lookups per case (what the cheapest possible
                  "which channel, which step" answer costs in this interpreter)
  floor: consent  decide_consent() once per message channel per case: the consent
                  map the dispatcher builds for every plan anyway
  planner         plan_next() on the same cases (zone resolved at enrolment)
  planner, zone   plan_next() with the enrolment's zone unset, so every call resolves
                  the prospect's zone from the country and phone

Cases are seeded: the three shipped flows; prospects in the US (phone parsed for the
zone), Great Britain and Australia; a message history of up to eight messages across
other carts, a few consent events, tracked activity, push devices; enrolments
advanced a random number of steps and planned at a random time within nine days.
Each figure is the best of five rounds over every case; the ratios are planner over
floor (1.0 would be as fast as the floor).

    python bench/bench_planner.py [--cases N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cartback._models import (
    Activity,
    Cart,
    CartContext,
    ConsentEvent,
    ConsentSource,
    Contact,
    MessageRecord,
    PushDevice,
)
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.consent import ConsentDecision, decide_consent
from cartback.flows import Enrolment, Flow, ProspectFacts, enrol, plan_next, shipped_flows

T0 = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
PLACES = [("US", "+1415555{:04d}"), ("US", "+1212555{:04d}"), ("GB", None), ("AU", None)]


@dataclass(frozen=True)
class Case:
    flow: Flow
    enrolment: Enrolment
    facts: ProspectFacts
    events: Sequence[ConsentEvent]
    now: datetime


def make_cases(count: int, seed: int = 11) -> list[Case]:
    rng = random.Random(seed)
    flows = shipped_flows()
    cases = []
    for number in range(count):
        email = f"p{number}@example.com"
        country, phone_format = rng.choice(PLACES)
        phone = phone_format.format(rng.randrange(10_000)) if phone_format else None
        created = T0 + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        cart = Cart(
            id=f"cart-{number}",
            status="open",
            created_at=created,
            updated_at=created,
            contact=Contact(
                email=email, phone=phone, phone_e164=bool(phone) or None, country=country
            ),
            context=CartContext(
                form_id="checkout",
                cart_value=Decimal(rng.choice(["40", "90", "180"])),
                currency="USD",
            ),
        )
        events = [
            ConsentEvent(
                prospect=email,
                channel=channel,
                action=rng.choice(["granted", "granted", "withdrawn"]),
                at=created - timedelta(days=rng.randrange(1, 90)),
                source=ConsentSource(kind="form"),
            )
            for channel in rng.sample(
                ["sms", "push", "messenger", "instagram", "email"], rng.randrange(0, 4)
            )
        ]
        history = [
            MessageRecord(
                id=f"m-{number}-{index}",
                cart_id=f"older-{number}",
                prospect=email,
                channel=rng.choice(MESSAGE_CHANNELS),
                status=rng.choice(["sent", "sent", "skipped"]),
                at=created - timedelta(hours=rng.randrange(1, 24 * 20)),
                flow_id="conversational",
                flow_version=1,
                step_id="email",
                template="reminder",
            )
            for index in range(rng.randrange(0, 9))
        ]
        activity = [
            Activity(
                prospect=email,
                kind=rng.choice(["site_activity", "app_activity", "metric", "purchase"]),
                at=created - timedelta(days=rng.randrange(1, 200)),
                name="profile_completed",
            )
            for _ in range(rng.randrange(0, 6))
        ]
        devices = [
            PushDevice(prospect=email, platform="ios", token="t", app_id="a", registered_at=created)
        ] * rng.randrange(0, 2)
        flow = rng.choice(flows)
        enrolment = enrol(cart, flow)
        consent = _consent(events, created)
        facts = ProspectFacts(
            cart=cart,
            consent=consent,
            history=tuple(history),
            activity=tuple(activity),
            devices=tuple(devices),
        )
        now = created
        for _ in range(rng.randrange(0, 4)):  # move some enrolments along their flow
            plan = plan_next(flow, enrolment, facts, now=now)
            if plan.at is None or plan.kind in ("exit", "pause"):
                break
            now = max(now, plan.at)
            enrolment = enrolment.after(plan, at=now)
        now = created + timedelta(minutes=rng.randrange(0, 9 * 24 * 60))
        cases.append(Case(flow, enrolment, facts, events, now))
    return cases


def _consent(events: Sequence[ConsentEvent], at: datetime) -> dict[MessageChannel, ConsentDecision]:
    return {channel: decide_consent(events, channel, at) for channel in MESSAGE_CHANNELS}


def best_per_chunk(
    runs: dict[str, Callable[[Sequence[Case]], object]], cases: Sequence[Case], rounds: int
) -> dict[str, float]:
    """Seconds per measure over every case: each chunk of 250 cases is timed ``rounds``
    times for every measure in turn (so a burst of load from elsewhere on the machine
    spoils one timing of one chunk, for one measure) and its best time kept."""
    totals = dict.fromkeys(runs, 0.0)
    for offset in range(0, len(cases), 250):
        chunk = cases[offset : offset + 250]
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run(chunk)
                best[name] = min(best[name], time.perf_counter() - start)
        for name in runs:
            totals[name] += best[name]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = make_cases(args.cases)
    table = {channel: index for index, channel in enumerate(MESSAGE_CHANNELS)}

    def dict_floor(items: Sequence[Case]) -> None:
        for _ in items:
            for channel in MESSAGE_CHANNELS:
                table.get(channel)

    def consent_floor(items: Sequence[Case]) -> None:
        for case in items:
            for channel in MESSAGE_CHANNELS:
                decide_consent(case.events, channel, case.now)

    def planner(items: Sequence[Case]) -> None:
        for case in items:
            plan_next(case.flow, case.enrolment, case.facts, now=case.now)

    unzoned = {id(case): case.enrolment.model_copy(update={"time_zone": None}) for case in cases}

    def planner_zone(items: Sequence[Case]) -> None:
        for case in items:
            plan_next(case.flow, unzoned[id(case)], case.facts, now=case.now)

    kinds: dict[str, int] = {}
    for case in cases:
        kind = plan_next(case.flow, case.enrolment, case.facts, now=case.now).kind
        kinds[kind] = kinds.get(kind, 0) + 1
    figures = best_per_chunk(
        {
            "floor: dict": dict_floor,
            "floor: consent": consent_floor,
            "planner": planner,
            "planner, zone": planner_zone,
        },
        cases,
        args.rounds,
    )
    count = len(cases)
    print(f"{count} cases; plans: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    for name, seconds in figures.items():
        print(f"{name:<16} {count / seconds:>12,.0f} /s {seconds / count * 1e6:>9.1f} µs each")
    for name in ("planner", "planner, zone"):
        for floor in ("floor: dict", "floor: consent"):
            ratio = figures[floor] / figures[name]
            print(f"{name} / {floor}: {ratio:.3f} (the planner's speed as a share of the floor's)")


if __name__ == "__main__":
    main()
