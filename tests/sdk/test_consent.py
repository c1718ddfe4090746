"""Consent: the latest event decides, withdrawal wins ties, defaults otherwise."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback import (
    CHANNELS,
    DEFAULT_CONSENT,
    DEFAULT_JURISDICTIONS,
    Cartback,
    Channel,
    ConsentAction,
    ConsentChanged,
    ConsentDefault,
    ConsentEvent,
    ConsentSource,
    SQLiteStore,
    consent_row,
    decide_consent,
)
from tests.conftest import FakeClock
from tests.sdk._support import outbox, submission

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(
    action: ConsentAction, minutes: int, channel: Channel = "sms", prospect: str = "p@example.com"
) -> ConsentEvent:
    return ConsentEvent(
        prospect=prospect,
        channel=channel,
        action=action,
        at=T0 + timedelta(minutes=minutes),
        source=ConsentSource(kind="api"),
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- decide_consent ------------------------------------------------------------------


def test_defaults_without_events() -> None:
    assert dict(DEFAULT_CONSENT) == {
        "email": True,
        "sms": False,
        "push": False,
        "newsletter": False,
        "messenger": False,
        "instagram": False,
    }
    for channel in CHANNELS:
        decision = decide_consent([], channel, at(0))
        assert decision.allowed is DEFAULT_CONSENT[channel]
        assert decision.basis == "default"
        assert decision.event is None


def test_custom_defaults() -> None:
    decision = decide_consent([], "email", at(0), defaults={"email": False})
    assert not decision.allowed
    assert decide_consent([], "sms", at(0), defaults={}).allowed is False


def test_latest_event_decides() -> None:
    events = [event("granted", 0), event("withdrawn", 10), event("granted", 20)]
    assert decide_consent(events, "sms", at(5)).allowed
    assert not decide_consent(events, "sms", at(15)).allowed
    decision = decide_consent(events, "sms", at(25))
    assert decision.allowed
    assert decision.basis == "granted"
    assert decision.event == events[2]


def test_event_at_exactly_the_query_time_counts() -> None:
    events = [event("granted", 10)]
    assert decide_consent(events, "sms", at(10)).allowed
    assert not decide_consent(events, "sms", at(9.99)).allowed


def test_events_after_the_query_time_are_ignored() -> None:
    events = [event("withdrawn", 30), event("granted", 0)]
    decision = decide_consent(events, "sms", at(10))
    assert decision.allowed
    assert decision.event == events[1]


def test_withdrawal_wins_over_any_earlier_grant() -> None:
    events = [event("granted", minute) for minute in range(10)] + [event("withdrawn", 10)]
    decision = decide_consent(events, "sms", at(100))
    assert not decision.allowed
    assert decision.basis == "withdrawn"


@pytest.mark.parametrize("order", [("granted", "withdrawn"), ("withdrawn", "granted")])
def test_withdrawal_wins_over_a_grant_at_the_same_instant(
    order: tuple[ConsentAction, ConsentAction],
) -> None:
    events = [event(order[0], 5), event(order[1], 5)]
    decision = decide_consent(events, "sms", at(5))
    assert not decision.allowed
    assert decision.basis == "withdrawn"


def test_withdrawal_overrides_the_email_default() -> None:
    assert not decide_consent([event("withdrawn", 0, "email")], "email", at(1)).allowed


def test_other_channels_do_not_count() -> None:
    events = [event("granted", 0, "push")]
    assert not decide_consent(events, "sms", at(1)).allowed
    assert decide_consent(events, "push", at(1)).allowed


def test_non_utc_query_time_compares_by_instant() -> None:
    tokyo = timezone(timedelta(hours=9))
    events = [event("granted", 60)]
    assert not decide_consent(events, "sms", at(59).astimezone(tokyo)).allowed
    assert decide_consent(events, "sms", at(60).astimezone(tokyo)).allowed


def reference_allowed(
    events: Sequence[tuple[Channel, ConsentAction, int]], channel: Channel, when: int
) -> bool:
    relevant = [
        (minute, action) for ch, action, minute in events if ch == channel and minute <= when
    ]
    if not relevant:
        return DEFAULT_CONSENT[channel]
    latest = max(minute for minute, _ in relevant)
    actions = {action for minute, action in relevant if minute == latest}
    return "withdrawn" not in actions


timelines = st.lists(
    st.tuples(
        st.sampled_from(CHANNELS),
        st.sampled_from(["granted", "withdrawn"]),
        st.integers(min_value=0, max_value=20),
    ),
    max_size=25,
)


@settings(max_examples=250, deadline=None)
@given(
    timeline=timelines,
    channel=st.sampled_from(CHANNELS),
    when=st.integers(min_value=-1, max_value=22),
    permutation=st.randoms(use_true_random=False),
)
def test_property_decide_consent_matches_the_reference(
    timeline: list[tuple[Channel, ConsentAction, int]],
    channel: Channel,
    when: int,
    permutation: random.Random,
) -> None:
    events = [event(action, minute, ch) for ch, action, minute in timeline]
    shuffled = list(events)
    permutation.shuffle(shuffled)
    decision = decide_consent(shuffled, channel, at(when))
    assert decision.allowed == reference_allowed(timeline, channel, when)
    if decision.event is None:
        assert decision.basis == "default"
    else:
        assert decision.basis == decision.event.action
        assert decision.event.channel == channel
        assert decision.event.at <= at(when)


# -- the client and the ledger -------------------------------------------------------


def test_record_consent_and_may_contact(client: Cartback, clock: FakeClock) -> None:
    client.capture(submission(email="bob@example.com", country="US"))
    assert client.may_contact("Bob@Example.com", "email")
    assert not client.may_contact("bob@example.com", "sms")
    granted = client.record_consent(
        "Bob@Example.com", "sms", "granted", source="form", ref="f:sms", text_version="v1"
    )
    assert granted.prospect == "bob@example.com"
    assert granted.at == clock.now
    assert (granted.source.kind, granted.source.ref, granted.text_version) == (
        "form",
        "f:sms",
        "v1",
    )
    assert client.may_contact("BOB@example.com", "sms")
    decision = client.consent("bob@example.com", "sms")
    assert decision.basis == "granted"
    assert decision.event == granted

    clock.advance(hours=1)
    client.record_consent("bob@example.com", "sms", "withdrawn", source="unsubscribe_link")
    assert not client.may_contact("bob@example.com", "sms")
    assert client.consent("bob@example.com", "sms").basis == "withdrawn"
    # the past is unchanged
    assert client.may_contact("bob@example.com", "sms", at=clock.now - timedelta(minutes=30))
    assert client.consent("bob@example.com", "push").basis == "default"


def test_withdrawal_at_the_same_instant_as_a_grant_wins_in_the_ledger(client: Cartback) -> None:
    client.record_consent("c@example.com", "push", "withdrawn")
    client.record_consent("c@example.com", "push", "granted")
    assert not client.may_contact("c@example.com", "push")


def test_email_can_be_withdrawn(client: Cartback) -> None:
    client.record_consent("d@example.com", "email", "withdrawn")
    assert not client.may_contact("d@example.com", "email")


def test_consent_defaults_are_configurable(store: SQLiteStore, clock: FakeClock) -> None:
    client = Cartback(store, clock=clock, consent_defaults={"email": False, "sms": True})
    assert not client.may_contact("e@example.com", "email")
    assert client.may_contact("e@example.com", "sms")
    assert not client.may_contact("e@example.com", "push")


def test_record_consent_writes_a_consent_changed_event(
    client: Cartback, store: SQLiteStore
) -> None:
    recorded = client.record_consent("f@example.com", "newsletter", "granted")
    (pending,) = outbox(store)
    assert isinstance(pending, ConsentChanged)
    assert pending.cart_id is None
    assert (pending.consent_id, pending.channel, pending.action, pending.source) == (
        recorded.id,
        "newsletter",
        "granted",
        "api",
    )
    assert store.consent_events("f@example.com") == [recorded]


def test_repeated_captures_with_the_same_opt_in_do_not_duplicate_grants(
    client: Cartback, store: SQLiteStore, clock: FakeClock
) -> None:
    body = submission(fields={"newsletter": "on"}, consent={"sms": True})
    first = client.capture(body)
    assert first.status == "stored"
    for _ in range(3):
        clock.advance(minutes=5)
        client.capture(body)
    events = store.consent_events("alice@example.com")
    assert sorted(event.channel for event in events) == ["newsletter", "sms"]
    consent_changes = [e for e in outbox(store) if e.type == "consent.changed"]
    assert len(consent_changes) == 2


def test_a_new_tick_after_a_withdrawal_is_recorded(
    client: Cartback, store: SQLiteStore, clock: FakeClock
) -> None:
    body = submission(fields={"newsletter": "on"})
    client.capture(body)
    clock.advance(minutes=1)
    client.record_consent("alice@example.com", "newsletter", "withdrawn")
    assert not client.may_contact("alice@example.com", "newsletter")
    clock.advance(minutes=1)
    client.capture(body)
    assert client.may_contact("alice@example.com", "newsletter")
    actions = [event.action for event in store.consent_events("alice@example.com")]
    assert actions == ["granted", "withdrawn", "granted"]


def test_consent_is_per_prospect(client: Cartback) -> None:
    client.record_consent("g@example.com", "sms", "granted")
    assert not client.may_contact("h@example.com", "sms")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(CHANNELS),
            st.sampled_from(["granted", "withdrawn"]),
            st.integers(min_value=0, max_value=3),
        ),
        max_size=12,
    ),
    probes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=5),
)
def test_property_ledger_through_the_store_matches_the_reference(
    store: SQLiteStore,
    steps: list[tuple[Channel, ConsentAction, int]],
    probes: list[int],
) -> None:
    clock = FakeClock(T0)
    client = Cartback(store, clock=clock, consent_defaults=DEFAULT_CONSENT)  # one flat default
    email = f"p{uuid.uuid4().hex[:12]}@example.com"
    timeline: list[tuple[Channel, ConsentAction, int]] = []
    minute = 0
    for channel, action, gap in steps:
        minute += gap
        clock.now = at(minute)
        client.record_consent(email, channel, action)
        timeline.append((channel, action, minute))
    for probe in probes:
        for channel in CHANNELS:
            assert client.may_contact(email, channel, at=at(probe)) == reference_allowed(
                timeline, channel, probe
            )


def test_unticking_the_newsletter_box_on_a_later_capture_withdraws_the_grant(
    client: Cartback, clock: FakeClock
) -> None:
    client.capture(submission(fields={"newsletter": "on"}))
    assert client.may_contact("alice@example.com", "newsletter")
    clock.advance(minutes=5)
    client.capture(submission(fields={"newsletter": "off"}))
    decision = client.consent("alice@example.com", "newsletter")
    assert (decision.allowed, decision.basis) == (False, "withdrawn")
    assert decision.event is not None
    assert decision.event.source.kind == "form"


def test_an_unticked_box_without_an_earlier_grant_records_nothing(
    client: Cartback, store: SQLiteStore
) -> None:
    client.capture(submission(fields={"newsletter": "off"}))
    assert store.consent_events("alice@example.com") == []


def test_consents_answers_every_channel_from_one_read(client: Cartback) -> None:
    client.capture(submission(fields={"newsletter": "on"}))
    client.record_consent("alice@example.com", "sms", "granted")
    decisions = client.consents("alice@example.com")
    assert set(decisions) == set(CHANNELS)
    assert {channel: d.allowed for channel, d in decisions.items()} == {
        "email": True,
        "sms": True,
        "push": False,
        "newsletter": True,
        "messenger": False,
        "instagram": False,
    }
    assert decisions["email"].basis == "default"
    assert decisions == {c: client.consent("alice@example.com", c) for c in CHANNELS}


# -- defaults follow the prospect's jurisdiction --------------------------------------


@pytest.mark.parametrize(
    ("country", "email", "sms"),
    [("US", True, False), ("PR", True, False), ("CA", True, False), ("GB", False, False)],
)
def test_defaults_follow_the_country_of_the_prospects_cart(
    client: Cartback, country: str, email: bool, sms: bool
) -> None:
    result = client.capture(submission(email="j@example.com", country=country))
    assert result.cart is not None
    decisions = client.consents_for(result.cart)
    assert (decisions["email"].allowed, decisions["sms"].allowed) == (email, sms)
    assert decisions["email"].basis == "default"
    assert not decisions["push"].allowed
    assert client.may_contact("j@example.com", "email") is email


def test_canadian_implied_email_consent_ends_six_months_after_the_checkout(
    client: Cartback, clock: FakeClock
) -> None:
    client.capture(submission(email="k@example.com", country="CA"))
    clock.advance(days=180)
    assert client.may_contact("k@example.com", "email")
    clock.advance(days=5)
    assert not client.may_contact("k@example.com", "email")
    client.record_consent("k@example.com", "email", "granted")
    assert client.may_contact("k@example.com", "email")


def test_a_prospect_with_no_cart_gets_the_fallback_row(client: Cartback) -> None:
    assert not client.may_contact("nobody@example.com", "email")
    assert not client.may_contact("nobody@example.com", "sms")


def test_a_shop_can_read_a_country_its_own_way(store: SQLiteStore, clock: FakeClock) -> None:
    table = DEFAULT_JURISDICTIONS.with_country(
        "GB", consent_row(email=ConsentDefault(True, basis="PECR soft opt-in"))
    )
    client = Cartback(store, clock=clock, consent_defaults=table)
    client.capture(submission(email="g@example.com", country="GB"))
    assert client.may_contact("g@example.com", "email")
    assert not client.may_contact("g@example.com", "sms")
