"""The receiver's public endpoints over HTTP: capture, complete, opt-out, orders, links."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from cartback import Cartback, CartQuery, webhook_headers
from server_example import Settings, create_app
from server_example.openapi import OPENAPI_PATH, render
from tests.conftest import FakeClock
from tests.sdk._support import outbox

ORIGIN = "https://shop.example"
API_SECRET = "whsec_" + base64.b64encode(b"order-secret-of-at-least-32-byte").decode()
CAPTURE: dict[str, Any] = {
    "v": 1,
    "form_id": "f1",
    "product_id": "p1",
    "product_name": "Course",
    "cart_value": "49.00",
    "currency": "USD",
    "seller": "us",
    "session_id": "sess-1",
    "event_id": "evt-1",
    "fields": {"email": "jane@example.com", "first_name": "Jane", "country": "US"},
}


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": tmp_path / "receiver.sqlite3",
        "admin_password": "correct horse battery",
        "secret_key": b"s" * 32,
        "allowed_origins": (ORIGIN,),
        "api_secret": API_SECRET,
        "form_urls": {"f1": "https://shop.example/checkout"},
        "trusted_country_header": "cf-ipcountry",
        "rate_per_minute": 60,
        "rate_burst": 5,
        "capture_worker": "thread",  # the fake clock
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def api(tmp_path: Path, clock: FakeClock, monotonic: Monotonic) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path), clock=clock, monotonic=monotonic)
    with TestClient(app) as client:
        yield client


def sdk(api: TestClient) -> Cartback:
    cartback = api.app.state.cartback  # type: ignore[attr-defined]
    assert isinstance(cartback, Cartback)
    return cartback


def beacon(api: TestClient, body: object, path: str = "/api/capture", **headers: str) -> Any:
    """POST like navigator.sendBeacon: text/plain JSON, from the shop's origin."""
    return api.post(
        path,
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8", "origin": ORIGIN, **headers},
    )


def carts(api: TestClient) -> int:
    return sdk(api).list_carts().total


# -- capture ---------------------------------------------------------------------------


def test_a_beacon_capture_is_stored_then_updated_then_unchanged(api: TestClient) -> None:
    first = beacon(api, CAPTURE)
    assert first.status_code == 200
    assert first.json() == {"status": "stored", "reasons": []}
    assert first.headers["access-control-allow-origin"] == ORIGIN
    more = {**CAPTURE, "event_id": "evt-2", "fields": {**CAPTURE["fields"], "last_name": "Doe"}}
    assert beacon(api, more).json()["status"] == "updated"
    assert beacon(api, {**more, "event_id": "evt-3"}).json()["status"] == "unchanged"
    [cart] = sdk(api).list_carts().items
    assert (cart.contact.first_name, cart.contact.last_name) == ("Jane", "Doe")


def test_a_retried_request_is_answered_as_the_first_and_stored_once(api: TestClient) -> None:
    """The snippet's event_id: a request retried after a lost answer saves nothing new."""
    assert beacon(api, CAPTURE).json()["status"] == "stored"
    again = beacon(api, CAPTURE)
    assert again.status_code == 200
    assert again.json()["status"] == "stored"
    assert [event.type for event in outbox(sdk(api).store)] == ["cart.captured"]


@pytest.mark.parametrize("version", [True, "1", 1.0, 2])
@pytest.mark.parametrize("path", ["/api/capture", "/api/capture/complete"])
def test_the_wire_version_is_the_integer_1(api: TestClient, path: str, version: object) -> None:
    body = (
        {**CAPTURE, "v": version}
        if path == "/api/capture"
        else {"v": version, "session_id": "sess-1"}
    )
    answer = beacon(api, body, path)
    assert (answer.status_code, answer.json()["field"]) == (422, "v")
    assert carts(api) == 0


def test_application_json_is_accepted_too(api: TestClient) -> None:
    response = api.post("/api/capture", json=CAPTURE, headers={"origin": ORIGIN})
    assert response.json()["status"] == "stored"


def test_requests_without_origin_are_accepted(api: TestClient) -> None:
    assert api.post("/api/capture", json=CAPTURE).json()["status"] == "stored"


def test_ineligible_prospects_get_reason_codes_and_nothing_is_written(api: TestClient) -> None:
    body = {**CAPTURE, "seller": "eu", "fields": {"email": "nope", "country": "Germany"}}
    response = beacon(api, body)
    assert response.status_code == 200
    assert response.json() == {
        "status": "not_stored",
        "reasons": ["seller_not_allowed", "country_excluded", "email_invalid"],
    }
    assert carts(api) == 0
    assert outbox(sdk(api).store) == []


def test_a_session_that_turns_out_to_be_in_the_eu_is_erased(api: TestClient) -> None:
    """A preselected US country, then the prospect picks Germany: the session's cart goes."""
    first = {**CAPTURE, "session_id": "sess-eu", "event_id": "evt-us"}
    assert beacon(api, first).json()["status"] == "stored"
    german = {**first, "event_id": "evt-de", "fields": {**CAPTURE["fields"], "country": "DE"}}
    assert beacon(api, german).json() == {"status": "not_stored", "reasons": ["country_excluded"]}
    assert carts(api) == 0


def test_country_falls_back_to_the_trusted_header_only(api: TestClient) -> None:
    no_country = {**CAPTURE, "fields": {"email": "jane@example.com"}}
    assert beacon(api, no_country).json()["reasons"] == ["country_missing"]
    assert beacon(api, no_country, **{"cf-ipcountry": "FR"}).json()["reasons"] == [
        "country_excluded"
    ]
    assert beacon(api, no_country, **{"cf-ipcountry": "US"}).json()["status"] == "stored"
    # The form's own country wins over the header.
    eu_form = {**CAPTURE, "fields": {"email": "jo@example.com", "country": "DE"}}
    assert beacon(api, eu_form, **{"cf-ipcountry": "US"}).json()["status"] == "not_stored"


def test_other_origins_are_refused_with_a_reason(api: TestClient) -> None:
    response = api.post(
        "/api/capture",
        content=json.dumps(CAPTURE),
        headers={"content-type": "text/plain", "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert response.json()["reason"] == "origin_not_allowed"
    assert carts(api) == 0


def test_preflight_is_answered_for_allowed_origins_only(api: TestClient) -> None:
    ask = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    allowed = api.options("/api/capture", headers={"origin": ORIGIN, **ask})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    refused = api.options("/api/capture", headers={"origin": "https://evil.example", **ask})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field", "reason"),
    [
        (b"{", "application/json", 400, "$", "malformed_json"),
        (b"[1, 2]", "application/json", 400, "$", "not_an_object"),
        (b"\xff\xfe", "text/plain", 400, "$", "invalid_utf8"),
        (b"{}", "application/xml", 415, "content-type", "unsupported_media_type"),
        (
            b"form_id=f1",
            "application/x-www-form-urlencoded",
            415,
            "content-type",
            "unsupported_media_type",
        ),
        (b"{}", "application/json", 422, "form_id", "missing"),
        (b'{"form_id": "f1", "surprise": 1}', "application/json", 422, "surprise", "unknown_field"),
        (
            b'{"form_id": "f1", "fields": {"email": ["a"]}}',
            "application/json",
            422,
            "fields.email",
            "not_a_string",
        ),
        (
            b'{"form_id": "f1", "fields": {"email": "' + b"a" * 600 + b'"}}',
            "application/json",
            422,
            "fields.email",
            "too_long",
        ),
        (
            b'{"form_id": "f1", "fields": {"first_name": "\\ud800"}}',
            "application/json",
            422,
            "fields.first_name",
            "invalid_unicode",
        ),
        (
            b'{"form_id": "f1", "cart_value": "lots"}',
            "application/json",
            422,
            "cart_value",
            "decimal_parsing",
        ),
        (
            b'{"form_id": "f1", "currency": "XXZ"}',
            "application/json",
            422,
            "currency",
            "unknown_currency",
        ),
        (
            b'{"form_id": "f1", "consent": {"fax": true}}',
            "text/plain;charset=UTF-8",
            422,
            "consent.fax",
            "unknown_channel",
        ),
    ],
)
def test_bad_input_gets_a_json_error_naming_field_and_reason(
    api: TestClient, content: bytes, content_type: str, status: int, field: str, reason: str
) -> None:
    assert beacon(api, CAPTURE).json()["status"] == "stored"
    before = sdk(api).list_carts().items
    response = api.post("/api/capture", content=content, headers={"content-type": content_type})
    assert response.status_code == status
    body = response.json()
    assert (body["field"], body["reason"]) == (field, reason)
    assert body["message"]
    assert sdk(api).list_carts().items == before


def test_bodies_over_the_limit_get_413_without_being_read(api: TestClient) -> None:
    huge = {**CAPTURE, "fields": {f"extra_{i}": "x" * 100 for i in range(200)}}
    response = beacon(api, huge)
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"form_id": "f1", "fields": {"notes": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}}'

    streamed = api.post("/api/capture", content=chunks(), headers={"content-type": "text/plain"})
    assert streamed.status_code == 413


def test_clients_over_the_rate_get_429_with_retry_after(
    api: TestClient, monotonic: Monotonic
) -> None:
    statuses = [beacon(api, CAPTURE).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = beacon(api, CAPTURE)
    assert limited.json()["reason"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    monotonic.now += 1.0  # one token per second at 60/min
    assert beacon(api, CAPTURE).status_code == 200


def test_unknown_api_paths_and_methods_answer_json(api: TestClient) -> None:
    missing = api.get("/api/nope")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "not_found"
    wrong = api.get("/api/capture")
    assert wrong.status_code == 405
    assert wrong.json()["reason"] == "method_not_allowed"


# -- complete and opt-out --------------------------------------------------------------


def test_checkout_completed_leaves_the_sessions_cart_awaiting_the_order(
    api: TestClient, clock: FakeClock
) -> None:
    """A submit seen in the browser is not a purchase: the cart waits for the shop's
    confirmation, and is open again without one."""
    beacon(api, CAPTURE)
    response = beacon(
        api,
        {"v": 1, "session_id": "sess-1", "event_id": "e2", "form_id": "f1"},
        "/api/capture/complete",
    )
    assert response.json() == {"status": "submitted", "carts": 1}
    [cart] = sdk(api).list_carts().items
    assert cart.status == "submitted"
    again = beacon(api, {"session_id": "sess-1"}, "/api/capture/complete")
    assert again.json() == {"status": "submitted", "carts": 0}
    clock.advance(hours=1, seconds=1)
    assert sdk(api).reopen_stale_submissions() == 1
    assert sdk(api).get_cart(cart.id).status == "open"


def test_opt_out_deletes_what_the_session_captured(api: TestClient) -> None:
    beacon(api, CAPTURE)
    other = {
        **CAPTURE,
        "session_id": "sess-2",
        "fields": {"email": "bo@example.com", "country": "US"},
    }
    beacon(api, other)
    response = beacon(api, {"session_id": "sess-1"}, "/api/capture/optout")
    assert response.json() == {"status": "forgotten", "carts": 1}
    [kept] = sdk(api).list_carts().items
    assert kept.contact.email == "bo@example.com"
    assert sdk(api).list_carts(CartQuery(email="jane@example.com")).total == 0


@pytest.mark.parametrize("path", ["/api/capture/complete", "/api/capture/optout"])
def test_session_endpoints_validate_their_bodies(api: TestClient, path: str) -> None:
    for body, field in (
        ({}, "session_id"),
        ({"session_id": "a b"}, "session_id"),
        ({"session_id": "s", "x": 1}, "x"),
    ):
        response = beacon(api, body, path)
        assert response.status_code == 422
        assert response.json()["field"] == field


# -- orders (server to server) ---------------------------------------------------------


def signed_order(body: dict[str, Any], clock: FakeClock, secret: str = API_SECRET) -> Any:
    raw = json.dumps(body).encode()
    return raw, webhook_headers(secret, "msg_1", int(clock().timestamp()), raw)


def test_a_signed_order_closes_the_prospects_carts_with_revenue(
    api: TestClient, clock: FakeClock
) -> None:
    beacon(api, CAPTURE)
    raw, headers = signed_order(
        {"email": "Jane@Example.com", "order_id": "o-1", "revenue": "49.50"}, clock
    )
    response = api.post("/api/orders", content=raw, headers=headers)
    assert response.status_code == 200
    [cart] = sdk(api).list_carts().items
    assert response.json() == {"status": "closed", "carts": [cart.id]}
    assert (cart.status, cart.order_id, str(cart.revenue)) == ("ordered", "o-1", "49.50")
    # A late capture from the session that bought opens no cart; a later visit does.
    late = beacon(api, {**CAPTURE, "event_id": "evt-late"})
    assert late.json()["status"] == "unchanged"
    assert sdk(api).list_carts(CartQuery(status="open")).total == 0
    beacon(api, {**CAPTURE, "event_id": "evt-2", "session_id": "sess-next"})
    assert sdk(api).list_carts(CartQuery(status="open")).total == 1


def test_unsigned_or_forged_orders_are_refused_and_change_nothing(
    api: TestClient, clock: FakeClock
) -> None:
    beacon(api, CAPTURE)
    raw, headers = signed_order({"email": "jane@example.com"}, clock)
    forged = "whsec_" + base64.b64encode(b"not-the-shops-secret-32-bytes-xx").decode()
    _, wrong = signed_order({"email": "jane@example.com"}, clock, forged)
    for attempt in ({}, wrong, {**headers, "webhook-timestamp": "1"}):
        response = api.post("/api/orders", content=raw, headers=attempt)
        assert response.status_code == 401
        assert response.json()["reason"] == "bad_signature"
    tampered = raw.replace(b"jane", b"john")
    assert api.post("/api/orders", content=tampered, headers=headers).status_code == 401
    assert sdk(api).list_carts(CartQuery(status="open")).total == 1


def test_a_signed_but_invalid_order_body_is_a_422(api: TestClient, clock: FakeClock) -> None:
    raw, headers = signed_order({"order_id": "o-1"}, clock)
    response = api.post("/api/orders", content=raw, headers=headers)
    assert response.status_code == 422
    raw, headers = signed_order({"email": "jane@example.com", "revenue": -1}, clock)
    assert api.post("/api/orders", content=raw, headers=headers).json()["field"] == "revenue"


def test_orders_are_refused_when_no_secret_is_configured(tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(make_settings(tmp_path, api_secret=None), clock=clock)
    with TestClient(app) as client:
        response = client.post("/api/orders", json={"email": "jane@example.com"})
    assert response.status_code == 403
    assert response.json()["reason"] == "not_configured"


# -- links -----------------------------------------------------------------------------


def stored_cart_id(api: TestClient) -> str:
    result = sdk(api).capture({**CAPTURE, "fields": {**CAPTURE["fields"], "city": "Austin"}})
    assert result.cart is not None
    return result.cart.id


def test_a_recovery_link_redirects_to_the_prefilled_form_and_records_the_click(
    api: TestClient,
) -> None:
    cart_id = stored_cart_id(api)
    token = sdk(api).recovery_token(cart_id)
    response = api.get(
        f"/r/{token}?utm_source=cartback&utm_medium=email&utm_campaign=3h",
        follow_redirects=False,
    )
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert (target.netloc, target.path) == ("shop.example", "/checkout")
    query = parse_qs(target.query)
    assert query["email"] == ["jane@example.com"]
    assert query["city"] == ["Austin"]
    assert query["utm_campaign"] == ["3h"]
    [click] = sdk(api).store.clicks(cart_id)
    utm = click.utm
    assert utm == {"utm_source": "cartback", "utm_medium": "email", "utm_campaign": "3h"}


def test_tampered_and_expired_links_get_a_friendly_page(api: TestClient, clock: FakeClock) -> None:
    token = sdk(api).recovery_token(stored_cart_id(api))
    tampered = api.get(f"/r/{token[:-3]}abc")
    assert tampered.status_code == 400
    assert "not valid" in tampered.text
    assert tampered.headers["content-type"].startswith("text/html")
    clock.advance(days=31)
    expired = api.get(f"/r/{token}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert api.get("/r/" + "x" * 5000).status_code == 400


def test_a_link_to_an_erased_cart_says_so(api: TestClient) -> None:
    token = sdk(api).recovery_token(stored_cart_id(api))
    sdk(api).erase("jane@example.com")
    response = api.get(f"/r/{token}")
    assert response.status_code == 404
    assert "no longer hold" in response.text


def test_unsubscribe_asks_then_records_the_withdrawal(api: TestClient) -> None:
    token = sdk(api).unsubscribe_token(stored_cart_id(api), "email")
    page = api.get(f"/u/{token}")
    assert page.status_code == 200
    assert "Unsubscribe from emails?" in page.text
    assert sdk(api).may_contact("jane@example.com", "email")  # a GET changes nothing
    done = api.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert "unsubscribed" in done.text
    assert not sdk(api).may_contact("jane@example.com", "email")
    assert api.post(f"/u/{token}x").status_code == 400


# -- OpenAPI ---------------------------------------------------------------------------


SNIPPET = Path(__file__).resolve().parents[2] / "snippet"


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0, br", False),
        ("gzip;q=nonsense", False),
        ("*;q=0", False),
    ],
)
def test_the_snippet_is_served_gzipped_when_the_browser_accepts_it(
    api: TestClient, accept_encoding: str, gzipped: bool
) -> None:
    response = api.get("/cartback.js", headers={"accept-encoding": accept_encoding})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "Accept-Encoding" in response.headers["vary"]
    assert response.content == (SNIPPET / "cartback.min.js").read_bytes()  # decoded
    assert response.headers.get("content-encoding") == ("gzip" if gzipped else None)
    if gzipped:  # the bytes on the wire are the ones the size budget counts
        # Python's zlib and Node's (size.json) may differ by a few bytes: the budget
        # test holds both to the budget.
        minified = (SNIPPET / "cartback.min.js").read_bytes()
        wire = int(response.headers["content-length"])
        assert wire == len(gzip.compress(minified, compresslevel=9, mtime=0))
        budget = json.loads((SNIPPET / "package.json").read_text(encoding="utf-8"))
        assert wire <= budget["sizeBudget"]["minGzip"]


def test_the_readable_snippet_is_served_too(api: TestClient) -> None:
    response = api.get("/cartback.src.js", headers={"accept-encoding": "gzip"})
    assert response.content == (SNIPPET / "cartback.js").read_bytes()


def test_the_served_openapi_document_is_the_committed_one(api: TestClient) -> None:
    served = api.get("/openapi.json").json()
    assert served == json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(), (
        "server_example/openapi.json is stale: run python -m server_example --write-openapi"
    )
    assert set(served["paths"]) == {
        "/api/capture",
        "/api/capture/complete",
        "/api/capture/optout",
        "/api/orders",
        "/api/devices",
        "/api/social",
        "/api/track",
        "/api/inbound/email",
        "/api/inbound/sms",
        "/api/engagements",
        "/r/{token}",
        "/u/{token}",
        "/o/{token}",
    }


def test_the_receiver_purges_expired_carts_when_it_starts(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, retention_days=30)
    first = create_app(settings, clock=clock)
    with TestClient(first) as client:
        assert beacon(client, CAPTURE).json()["status"] == "stored"
    clock.advance(days=31)
    second = create_app(settings, clock=clock)
    with TestClient(second) as client:
        assert sdk(client).list_carts().total == 0
