"""The capture stage: raw bodies in, one reply each, storable captures saved together.

Real ``SQLiteStore``\\ s; the property test checks that a sequence of captures split into
batches in any way leaves the same carts, consent and replies as the same captures
handled one at a time.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback import Cartback, SQLiteStore, StoreUnavailableError
from server_example.capture_stage import (
    Captured,
    CaptureReply,
    CaptureRequest,
    Failed,
    Rejected,
    Unavailable,
    capture_batch,
)
from tests.conftest import FakeClock

EMAILS = ("ava@shop.example.com", "ben@shop.example.com")


def _body(
    email: str | None,
    country: str,
    *,
    session: str | None = None,
    name: str = "Ava",
    newsletter: bool = False,
    event: str | None = None,
) -> bytes:
    fields: dict[str, object] = {"country": country, "first_name": name}
    if email is not None:
        fields["email"] = email
    if newsletter:
        fields["newsletter"] = "on"
    body: dict[str, object] = {"form_id": "f1", "seller": "us", "fields": fields}
    if session is not None:
        body["session_id"] = session
    if event is not None:
        body["event_id"] = event
    return json.dumps(body).encode()


def _client(clock: FakeClock, path: Path | str = ":memory:") -> Cartback:
    return Cartback(SQLiteStore(path), clock=clock)


def _state(client: Cartback) -> list[tuple[Any, ...]]:
    """What is stored, without the random ids: each cart's form, status and contact,
    and its prospect's consent decisions."""
    carts = client.list_carts(limit=500).items
    return sorted(
        (
            cart.context.form_id,
            cart.status,
            json.dumps(cart.contact.model_dump(mode="json"), sort_keys=True),
            json.dumps(
                {k: v.allowed for k, v in client.consents(cart.contact.email or "").items()},
                sort_keys=True,
            ),
        )
        for cart in carts
    )


def test_each_body_gets_its_reply_in_order(clock: FakeClock) -> None:
    client = _client(clock)
    requests = [
        CaptureRequest(_body(EMAILS[0], "US")),
        CaptureRequest(b"\xff\xfe"),
        CaptureRequest(b"[1, 2]"),
        CaptureRequest(b'{"form_id": "f1", "seller": "us", "fields": {"email": 5}}'),
        CaptureRequest(_body(None, "US")),
        CaptureRequest(_body(EMAILS[0], "US", name="Eva")),
        CaptureRequest(_body(EMAILS[1], "FR")),
    ]

    replies = capture_batch(client, requests)

    assert replies[0] == Captured("stored")
    assert replies[1] == Rejected(400, "$", "invalid_utf8", "body is not UTF-8")
    assert replies[2] == Rejected(400, "$", "not_an_object", "body must be an object")
    assert isinstance(replies[3], Rejected)
    assert (replies[3].status_code, replies[3].field, replies[3].reason) == (
        422,
        "fields.email",
        "not_a_string",
    )
    assert isinstance(replies[4], Captured)
    assert replies[4].status == "not_stored"
    assert replies[4].reasons  # why: no email
    assert replies[5] == Captured("updated")  # a later capture sees the earlier one
    assert replies[6] == Captured("not_stored", ("country_excluded",))
    [cart] = client.list_carts().items
    assert cart.contact.first_name == "Eva"


def test_a_refusal_for_an_excluded_country_erases_what_its_session_stored_just_before(
    clock: FakeClock,
) -> None:
    """The page preselected the US; the prospect then picked France: both captures in one
    batch, and nothing of the session is left."""
    client = _client(clock)
    other = CaptureRequest(_body(EMAILS[1], "US", session="s2"))
    replies = capture_batch(
        client,
        [
            CaptureRequest(_body(EMAILS[0], "US", session="s1")),
            other,
            CaptureRequest(_body(EMAILS[0], "FR", session="s1")),
            CaptureRequest(_body("cy@shop.example.com", "US", session="s3")),
        ],
    )

    assert [type(reply) for reply in replies] == [Captured] * 4
    assert replies[2] == Captured("not_stored", ("country_excluded",))
    carts = client.list_carts().items
    # The session's cart is gone (its capture was saved before the erasure ran, not
    # after); the other session's stays, and so does a capture that came later.
    assert sorted(c.contact.email or "" for c in carts) == [EMAILS[1], "cy@shop.example.com"]


class _DownStore(SQLiteStore):
    def write(self, work: Any) -> Any:
        raise StoreUnavailableError("down")

    def forget_session(self, session_id: str) -> Any:
        raise StoreUnavailableError("down")


def test_when_the_database_is_down_only_what_needs_it_is_unavailable(
    clock: FakeClock, tmp_path: Path
) -> None:
    client = Cartback(_DownStore(tmp_path / "down.sqlite3"), clock=clock)

    replies = capture_batch(
        client,
        [
            CaptureRequest(_body(EMAILS[0], "US")),
            CaptureRequest(b"nope"),
            CaptureRequest(_body(EMAILS[1], "FR", session="s1")),
            CaptureRequest(_body(None, "US")),
        ],
    )

    assert replies[0] == Unavailable()
    assert isinstance(replies[1], Rejected)
    assert replies[2] == Unavailable()  # its erasure could not run
    assert isinstance(replies[3], Captured)  # refused without an erasure: no database
    assert replies[3].status == "not_stored"


class _BrokenErasure(SQLiteStore):
    def forget_session(self, session_id: str) -> Any:
        raise RuntimeError("a bug in the erasure")


def test_a_failing_erasure_fails_its_capture_alone(clock: FakeClock, tmp_path: Path) -> None:
    client = Cartback(_BrokenErasure(tmp_path / "broken.sqlite3"), clock=clock)

    replies = capture_batch(
        client,
        [
            CaptureRequest(_body(EMAILS[0], "US")),
            CaptureRequest(_body(EMAILS[1], "FR", session="s1")),
            CaptureRequest(_body("cy@shop.example.com", "US")),
        ],
    )

    assert replies == [Captured("stored"), Failed("RuntimeError"), Captured("stored")]
    assert client.list_carts().total == 2


def test_a_retried_capture_in_the_same_batch_is_saved_once(clock: FakeClock) -> None:
    client = _client(clock)
    body = _body(EMAILS[0], "US", event="e-1", newsletter=True)

    replies = capture_batch(client, [CaptureRequest(body), CaptureRequest(body)])

    # The retry gets the first answer again, and writes nothing.
    assert replies == [Captured("stored"), Captured("stored")]
    [cart] = client.list_carts().items
    assert cart.capture_count == 1


_captures = st.lists(
    st.one_of(
        st.builds(
            lambda email, country, session, name, newsletter: _body(
                email, country, session=session, name=name, newsletter=newsletter
            ),
            st.sampled_from((*EMAILS, None)),
            st.sampled_from(("US", "CA", "FR")),
            st.sampled_from(("s1", "s2", None)),
            st.sampled_from(("Ava", "Ben")),
            st.booleans(),
        ),
        st.just(b"{broken"),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=_captures, cuts=st.sets(st.integers(min_value=1, max_value=11)))
def test_any_batching_stores_what_one_at_a_time_stores(bodies: list[bytes], cuts: set[int]) -> None:
    clock = FakeClock()
    requests = [CaptureRequest(body) for body in bodies]
    alone, batched = _client(clock), _client(clock)

    one_by_one: list[CaptureReply] = [capture_batch(alone, [r])[0] for r in requests]
    together: list[CaptureReply] = []
    for batch in _split(requests, cuts):
        together += capture_batch(batched, batch)

    assert together == one_by_one
    assert _state(batched) == _state(alone)


def _split(requests: Sequence[CaptureRequest], cuts: set[int]) -> list[list[CaptureRequest]]:
    edges = [0, *sorted(cut for cut in cuts if cut < len(requests)), len(requests)]
    return [list(requests[a:b]) for a, b in itertools.pairwise(edges) if b > a]
