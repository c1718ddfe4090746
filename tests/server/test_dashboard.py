"""The staff dashboard over HTTP: login, sessions, filters, paging, counts, CSV export."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from cartback import (
    CSV_COLUMNS,
    Cart,
    Cartback,
    CartPage,
    CartQuery,
    CsvFormat,
    SQLiteStore,
    cart_row,
)
from server_example.admin_auth import SECURITY_HEADERS, SESSION_COOKIE, safe_next
from server_example.admin_export import EXPORT_PAGE_SIZE
from server_example.admin_sessions import REVOKED_SESSION, SessionSigner
from server_example.app import create_app
from server_example.dashboard import PAGE_SIZE
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import RECEIVER_PASSWORD, RECEIVER_SECRET_KEY, FakeMonotonic
from tests.server.support import cart_ids, cart_submission, log_in, seed

WRONG_PASSWORD = "not the password at all"
XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def bearer(password: str = RECEIVER_PASSWORD) -> dict[str, str]:
    return {"Authorization": f"Bearer {password}"}


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=UTC)


def row_html(page: str, cart_id: str) -> str:
    match = re.search(rf'<tr data-cart-id="{re.escape(cart_id)}">(.*?)</tr>', page, re.S)
    assert match is not None, f"no row for {cart_id}"
    return match.group(1)


def consent_lines(row: str) -> list[str]:
    """The consent column of a row, one line per item, as text."""
    match = re.search(r'<ul class="consent">(.*?)</ul>', row, re.S)
    assert match is not None
    items = re.findall(r"<li[^>]*>(.*?)</li>", match.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in items]


def counts(page: str, table: str) -> dict[str, int]:
    match = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
    assert match is not None
    return {
        html.unescape(key): int(count)
        for key, count in re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td></tr>", match.group(1))
    }


def login_post(
    client: TestClient, password: str, *, next_path: str | None = None, **headers: str
) -> Any:
    data = {"password": password}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/admin/login", data=data, headers=headers, follow_redirects=False)


# -- the five carts most filter tests use ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Five:
    a: Cart  # 2026-11-18 00:00:00, alice@example.com, form f1, product p1
    b: Cart  # 2026-11-18 23:59:59.999999, bob@shoppers.net, f1, p2
    c: Cart  # 2026-11-19 00:00:00, carol@example.com, f2, p1, then ordered
    d: Cart  # 2026-11-20 10:00:00, dave@Example.org, f2, p1
    e: Cart  # 2026-11-21 00:00:01, erin@sample.net, f1, p3

    def ids(self, names: str) -> list[str]:
        """The ids of the named carts, newest first."""
        chosen = [getattr(self, name) for name in names]
        return [cart.id for cart in sorted(chosen, key=lambda c: c.created_at, reverse=True)]


@pytest.fixture
def five(cartback: Cartback, clock: FakeClock) -> Five:
    """Five carts captured in the days before the clock's time (which is kept)."""
    now = clock.now
    plan = [
        (at(18), "alice@example.com", "f1", "p1"),
        (at(18, 23, 59, 59, 999_999), "bob@shoppers.net", "f1", "p2"),
        (at(19), "carol@example.com", "f2", "p1"),
        (at(20, 10), "dave@Example.org", "f2", "p1"),
        (at(21, 0, 0, 1), "erin@sample.net", "f1", "p3"),
    ]
    carts = []
    for when, email, form_id, product_id in plan:
        clock.now = when
        carts.extend(
            seed(cartback, clock, [cart_submission(email, form_id=form_id, product_id=product_id)])
        )
    clock.now = at(21, 12)
    (ordered,) = cartback.mark_ordered(email="carol@example.com", order_id="ord-1", revenue="49.90")
    carts[2] = ordered
    clock.now = now
    return Five(*carts)


# -- authentication --------------------------------------------------------------------


def test_anonymous_page_redirects_to_login_with_next(receiver_client: TestClient) -> None:
    response = receiver_client.get("/admin?email=x&page=2", follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/admin/login"
    assert parse_qs(location.query) == {"next": ["/admin?email=x&page=2"]}

    form = receiver_client.get(response.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/admin?email=x&amp;page=2"' in form.text
    assert 'type="password"' in form.text


def test_login_sets_a_strict_httponly_session_cookie(receiver_client: TestClient) -> None:
    response = login_post(receiver_client, RECEIVER_PASSWORD, next_path="/admin?email=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin?email=x"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith(f"{SESSION_COOKIE}=v1.")
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/admin" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=43200" in cookie
    assert "secure" not in attributes  # public_url is http
    page = receiver_client.get("/admin")
    assert page.status_code == 200
    assert "<h1>Overview</h1>" in page.text


def test_cookie_is_secure_when_the_public_url_is_https(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> None:
    settings = dataclasses.replace(receiver_settings, public_url="https://carts.example")
    app = create_app(settings, clock=clock, monotonic=receiver_monotonic)
    with TestClient(app, base_url="https://testserver") as client:
        response = login_post(client, RECEIVER_PASSWORD)
        assert response.status_code == 303
        assert "; Secure" in response.headers["set-cookie"]
        logout = client.post("/admin/logout", follow_redirects=False)
        assert "; Secure" in logout.headers["set-cookie"]


def test_wrong_password_is_refused_with_a_generic_message(receiver_client: TestClient) -> None:
    response = login_post(receiver_client, WRONG_PASSWORD)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "That password is not right." in response.text
    assert 'type="password"' in response.text
    assert receiver_client.get("/admin", follow_redirects=False).status_code == 303


def test_empty_password_is_refused(receiver_client: TestClient) -> None:
    assert login_post(receiver_client, "").status_code == 401


def test_failed_logins_are_throttled_per_client(
    receiver_client: TestClient, clock: FakeClock
) -> None:
    for _ in range(5):
        assert login_post(receiver_client, WRONG_PASSWORD).status_code == 401
    throttled = login_post(receiver_client, WRONG_PASSWORD)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "12"
    assert "Too many attempts" in throttled.text
    # While locked out, even the right password is not checked.
    assert login_post(receiver_client, RECEIVER_PASSWORD).status_code == 429
    clock.advance(seconds=11)
    assert login_post(receiver_client, RECEIVER_PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert login_post(receiver_client, RECEIVER_PASSWORD).status_code == 303


def test_throttling_is_per_client_ip(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> None:
    settings = dataclasses.replace(receiver_settings, trusted_client_ip_header="x-forwarded-for")
    app = create_app(settings, clock=clock, monotonic=receiver_monotonic)
    with TestClient(app) as client:
        for _ in range(6):
            login_post(client, WRONG_PASSWORD, **{"x-forwarded-for": "203.0.113.1"})
        one = login_post(client, RECEIVER_PASSWORD, **{"x-forwarded-for": "203.0.113.1"})
        other = login_post(client, RECEIVER_PASSWORD, **{"x-forwarded-for": "203.0.113.2"})
    assert one.status_code == 429
    assert other.status_code == 303


def test_successful_logins_do_not_count_against_the_limit(receiver_client: TestClient) -> None:
    for _ in range(10):
        assert login_post(receiver_client, RECEIVER_PASSWORD).status_code == 303


def test_login_from_another_origin_is_refused(receiver_client: TestClient) -> None:
    response = login_post(receiver_client, RECEIVER_PASSWORD, origin="https://evil.example")
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    same = login_post(receiver_client, RECEIVER_PASSWORD, origin="http://testserver")
    assert same.status_code == 303


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b'{"password": "x"}', 415),
        ("application/x-www-form-urlencoded", b"password=" + b"a" * 5000, 413),
        ("application/x-www-form-urlencoded", b"password=\xff\xfe", 400),
        ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 20), 400),
    ],
)
def test_malformed_login_bodies_are_refused(
    receiver_client: TestClient, content_type: str, body: bytes, status: int
) -> None:
    response = receiver_client.post(
        "/admin/login",
        content=body,
        headers={"content-type": content_type},
        follow_redirects=False,
    )
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    assert 'type="password"' in response.text


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/admin",
        "//evil.example/admin",
        "///evil.example/admin",
        "/\\evil.example/admin",
        "\\\\evil.example/admin",
        "http:/admin",
        "javascript:alert(1)",
        "/adminx",
        "/admin/../../elsewhere",
        "/admin\r\nSet-Cookie: x=y",
        "/admin/login",
        " /admin",
        "",
    ],
)
def test_next_never_leaves_the_dashboard(receiver_client: TestClient, next_path: str) -> None:
    assert safe_next(next_path) == "/admin"
    response = login_post(receiver_client, RECEIVER_PASSWORD, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    form = receiver_client.get("/admin/login", params={"next": next_path})
    assert 'name="next" value="/admin"' in form.text


@pytest.mark.parametrize(
    "next_path", ["/admin", "/admin?page=2&email=a", "/admin/export.csv?format=excel"]
)
def test_next_inside_the_dashboard_is_kept(receiver_client: TestClient, next_path: str) -> None:
    response = login_post(receiver_client, RECEIVER_PASSWORD, next_path=next_path)
    assert response.headers["location"] == next_path


def test_logout_clears_the_cookie(admin: TestClient) -> None:
    response = admin.post("/admin/logout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith((f'{SESSION_COOKIE}="";', f"{SESSION_COOKIE}=;"))
    assert "Max-Age=0" in cookie
    assert "Path=/admin" in cookie
    assert admin.get("/admin", follow_redirects=False).status_code == 303


def test_logout_from_another_origin_is_refused(admin: TestClient) -> None:
    response = admin.post(
        "/admin/logout", headers={"origin": "https://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert admin.get("/admin").status_code == 200


def _session_token(client: TestClient) -> str:
    token = client.cookies.get(SESSION_COOKIE)
    assert token is not None
    return token


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: _flip(token, len(token) - 1),  # the MAC
        lambda token: _flip(token, len(token) - 50),  # the nonce
        lambda token: token.replace("v1.", "v1.9", 1),  # the expiry
        lambda token: token.rsplit(".", 1)[0],  # no MAC
        lambda token: token + "A",
        lambda token: "garbage",
        lambda token: "",
    ],
)
def test_tampered_session_cookie_is_refused(
    receiver_client: TestClient, tamper: Callable[[str], str]
) -> None:
    log_in(receiver_client, RECEIVER_PASSWORD)
    token = _session_token(receiver_client)
    receiver_client.cookies.clear()
    response = receiver_client.get(
        "/admin", headers={"cookie": f"{SESSION_COOKIE}={tamper(token)}"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")
    ok = receiver_client.get(
        "/admin", headers={"cookie": f"{SESSION_COOKIE}={token}"}, follow_redirects=False
    )
    assert ok.status_code == 200


def test_session_expires_after_twelve_hours(admin: TestClient, clock: FakeClock) -> None:
    clock.advance(hours=11, minutes=59)
    assert admin.get("/admin", follow_redirects=False).status_code == 200
    clock.advance(minutes=1)
    assert admin.get("/admin", follow_redirects=False).status_code == 303


def test_a_new_password_ends_every_session(store: SQLiteStore) -> None:
    now = at(22, 12)
    hours = timedelta(hours=12)
    old = SessionSigner(RECEIVER_SECRET_KEY, "first password", lifetime=hours, store=store)
    new = SessionSigner(RECEIVER_SECRET_KEY, "second password", lifetime=hours, store=store)
    other_key = SessionSigner(bytes(32), "first password", lifetime=hours, store=store)
    token = old.issue(now)
    assert old.verify(token, now)
    assert not new.verify(token, now)
    assert not other_key.verify(token, now)


def test_bearer_password_opens_pages_and_export(receiver_client: TestClient) -> None:
    page = receiver_client.get("/admin", headers=bearer(), follow_redirects=False)
    assert page.status_code == 200
    export = receiver_client.get("/admin/export.csv", headers=bearer(), follow_redirects=False)
    assert export.status_code == 200
    assert "set-cookie" not in page.headers


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {WRONG_PASSWORD}",
        "Bearer ",
        "Bearer",
        f"Basic {RECEIVER_PASSWORD}",
        RECEIVER_PASSWORD,
        f"Bearer {RECEIVER_PASSWORD}x",
    ],
)
def test_wrong_authorization_header_gets_401(receiver_client: TestClient, header: str) -> None:
    for path in ("/admin", "/admin/export.csv"):
        response = receiver_client.get(
            path, headers={"Authorization": header}, follow_redirects=False
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_authorization_header_wins_over_a_valid_cookie(admin: TestClient) -> None:
    response = admin.get("/admin", headers=bearer(WRONG_PASSWORD), follow_redirects=False)
    assert response.status_code == 401


def test_wrong_bearer_tokens_are_throttled(receiver_client: TestClient, clock: FakeClock) -> None:
    for _ in range(5):
        assert receiver_client.get("/admin", headers=bearer(WRONG_PASSWORD)).status_code == 401
    assert receiver_client.get("/admin", headers=bearer(WRONG_PASSWORD)).status_code == 429
    locked = receiver_client.get("/admin", headers=bearer())
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "12"
    clock.advance(seconds=12)
    assert receiver_client.get("/admin", headers=bearer()).status_code == 200


def test_security_headers_on_every_dashboard_response(receiver_client: TestClient) -> None:
    responses = [
        receiver_client.get("/admin", follow_redirects=False),
        receiver_client.get("/admin/login"),
        login_post(receiver_client, WRONG_PASSWORD),
        receiver_client.get("/admin", headers=bearer(WRONG_PASSWORD)),
        receiver_client.get("/admin", headers=bearer()),
        receiver_client.get("/admin?start=bad", headers=bearer()),
        receiver_client.get("/admin/export.csv", headers=bearer()),
        login_post(receiver_client, RECEIVER_PASSWORD),
        receiver_client.post("/admin/logout", follow_redirects=False),
    ]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    assert SECURITY_HEADERS["Content-Security-Policy"] == (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"


def test_no_personal_data_or_password_in_logs(
    admin: TestClient, five: Five, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    login_post(admin, WRONG_PASSWORD)
    admin.get("/admin", headers=bearer(WRONG_PASSWORD))
    admin.get("/admin?email=alice")
    admin.get("/admin/export.csv?email=alice")
    text = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("httpx")
    )
    assert "admin login failed" in text
    for secret in (WRONG_PASSWORD, RECEIVER_PASSWORD, "alice", "example.com", "testclient"):
        assert secret not in text


# -- the table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "abcde"),
        ("start=2026-11-19", "cde"),
        ("end=2026-11-18", "ab"),
        ("start=2026-11-18&end=2026-11-19", "abc"),
        ("start=2026-11-20&end=2026-11-20", "d"),
        ("start=2026-11-22", ""),
        ("email=EXAMPLE", "acd"),
        ("email=%40example.com", "ac"),
        ("email=+bob%40+", "b"),
        ("email=%25", ""),
        ("email=_", ""),
        ("status=open", "abde"),
        ("status=ordered", "c"),
        ("status=all", "abcde"),
        ("start=2026-11-19&email=example&status=open", "d"),
        ("end=2026-11-19&status=open&email=o", "ab"),
    ],
)
def test_filters_select_exactly_the_matching_carts(
    admin: TestClient, five: Five, query: str, expected: str
) -> None:
    response = admin.get(f"/admin/carts?{query}")
    assert response.status_code == 200
    assert cart_ids(response.text) == five.ids(expected)
    if expected:
        noun = "cart matches" if len(expected) == 1 else "carts match"
        assert f"{len(expected)} {noun}." in response.text
    else:  # an empty state, with no table, no export and a way back
        assert "No cart matches these filters." in response.text
        assert '<a href="/admin/carts">Clear the filters</a>' in response.text
        assert 'id="carts"' not in response.text
        assert "/admin/carts.csv" not in response.text
        assert "Export 0" not in response.text


def test_filter_form_shows_the_current_filters(admin: TestClient, five: Five) -> None:
    page = admin.get("/admin/carts?start=2026-11-20&end=2026-11-22&email=%3Cb%3E&status=open").text
    assert 'name="start" type="date" value="2026-11-20"' in page
    assert 'name="end" type="date" value="2026-11-22"' in page
    assert 'name="email" type="search" value="&lt;b&gt;"' in page
    assert '<option value="open" selected>' in page


def test_counts_per_product_and_form_follow_the_filter(admin: TestClient, five: Five) -> None:
    page = admin.get("/admin/carts").text
    assert counts(page, "by-product") == {"p1": 3, "p2": 1, "p3": 1}
    assert counts(page, "by-form") == {"f1": 3, "f2": 2}
    open_only = admin.get("/admin/carts?status=open").text
    assert counts(open_only, "by-product") == {"p1": 2, "p2": 1, "p3": 1}
    assert counts(open_only, "by-form") == {"f1": 3, "f2": 1}
    day = admin.get("/admin/carts?start=2026-11-19&end=2026-11-20").text
    assert counts(day, "by-product") == {"p1": 2}
    assert counts(day, "by-form") == {"f2": 2}


def test_counts_show_carts_without_a_product(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(cartback, clock, [cart_submission("x@example.com"), cart_submission("y@example.com")])
    assert counts(admin.get("/admin/carts").text, "by-product") == {"(none)": 2}


def _seed_many(cartback: Cartback, clock: FakeClock, count: int) -> list[str]:
    """``count`` carts one second apart, saved in one transaction; ids newest first."""
    plans = []
    for index in range(count):
        status_word = "vip" if index % 3 == 0 else "std"
        plans.append(cartback.plan(cart_submission(f"{status_word}{index}@example.com")))
        clock.advance(seconds=1)
    outcomes = cartback.save(plans)
    return [outcome.cart.id for outcome in reversed(outcomes)]


def test_paging_walks_every_cart_once_and_keeps_the_filters(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    newest_first = _seed_many(cartback, clock, 3 * PAGE_SIZE + 7)
    vip = [cart_id for cart_id in newest_first if "vip" in cartback.get_cart(cart_id).contact.email]  # type: ignore[operator]
    assert len(vip) == PAGE_SIZE + 3

    seen: list[str] = []
    url: str | None = "/admin/carts?email=vip&status=open"
    pages = 0
    while url is not None:
        page = admin.get(url)
        assert page.status_code == 200
        ids = cart_ids(page.text)
        assert 0 < len(ids) <= PAGE_SIZE
        seen += ids
        pages += 1
        assert f"Page {pages} of 2" in page.text
        link = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = html.unescape(link.group(1)) if link else None
        if url is not None:
            assert parse_qs(urlsplit(url).query) == {
                "email": ["vip"],
                "status": ["open"],
                "page": [str(pages + 1)],
            }
    assert pages == 2
    assert seen == vip

    second = admin.get("/admin/carts?email=vip&status=open&page=2").text
    prev = re.search(r'rel="prev" href="([^"]+)"', second)
    assert prev is not None
    assert parse_qs(urlsplit(html.unescape(prev.group(1))).query) == {
        "email": ["vip"],
        "status": ["open"],
    }
    assert 'rel="next"' not in second

    everything = admin.get("/admin/carts?page=4").text
    assert cart_ids(everything) == newest_first[3 * PAGE_SIZE :]


def test_a_page_past_the_end_is_empty_not_an_error(admin: TestClient, five: Five) -> None:
    response = admin.get("/admin/carts?page=7")
    assert response.status_code == 200
    assert cart_ids(response.text) == []
    assert "There is no page 7" in response.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-13-01", "The start date is not a date"),
        ("start=2026-02-30", "The start date is not a date"),
        ("end=yesterday", "The end date is not a date"),
        ("start=20261122", "The start date is not a date"),
        ("start=2026-11-22T00:00", "The start date is not a date"),
        ("start=1999-12-31", "The start date must be between"),
        ("end=9999-12-31", "The end date must be between"),
        ("start=2026-11-22&end=2026-11-21", "The start date is after the end date."),
        ("status=closed", "The status must be open, submitted, ordered or all."),
        ("page=0", "The page must be a whole number"),
        ("page=-1", "The page must be a whole number"),
        ("page=abc", "The page must be a whole number"),
        ("page=%EF%BC%91", "The page must be a whole number"),
        ("page=100001", "The page must be a whole number"),
        ("email=a%00b", "The email filter must be at most 254 printable characters."),
        ("email=" + "a" * 255, "The email filter must be at most 254 printable characters."),
    ],
)
def test_bad_filters_get_400_with_a_message(admin: TestClient, query: str, message: str) -> None:
    paths = ["/admin", "/admin/carts"]
    if not query.startswith("page="):  # the downloads have no pages
        paths += ["/admin/export.csv", "/admin/carts.csv", "/admin/messages.csv"]
    for path in paths:
        response = admin.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert response.headers["content-type"].startswith("text/html")
        assert message in response.text
        assert 'role="alert"' in response.text
        assert 'id="carts"' not in response.text
        assert 'action="/admin/carts"' in response.text  # the form is there to fix it


def test_every_stored_field_is_shown(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    (full, plain) = seed(
        cartback,
        clock,
        [
            cart_submission(
                "Full.Person@Example.com",
                form_id="order-7",
                product_id="sku-42",
                product_name="Deluxe Kit",
                cart_value="129.50",
                currency="usd",
                consent={"sms": True},
                fields={
                    "phone": "+1 415 555 0100",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "street": "Main Street",
                    "house_number": "12b",
                    "city": "Springfield",
                    "state": "IL",
                    "zip": "62701",
                    "address2": "Suite 300",
                    "newsletter": True,
                },
            ),
            cart_submission("plain@example.com", fields={"phone": "12345"}),
        ],
    )
    clock.advance(minutes=5)
    cartback.capture(cart_submission("Full.Person@Example.com", form_id="order-7",
                                     fields={"last_name": "Byron"}))  # fmt: skip
    cartback.record_consent("full.person@example.com", "email", "withdrawn")
    (closed,) = cartback.mark_ordered(email="full.person@example.com", order_id="A-77", revenue=99)
    page = admin.get("/admin/carts").text
    row = row_html(page, full.id)
    assert full.contact.phone == "+14155550100"
    for text in [
        '<time datetime="2026-11-22T12:00:00+00:00" title="2026-11-22 12:00:00 UTC">'
        "2026-11-22 12:00</time>",  # created
        "changed <time",
        ">2026-11-22 12:07</time>",  # updated by the second capture
        "2 captures",
        "Deluxe Kit",
        'product <span class="product-id">sku-42</span>',
        'form <span class="form-id">order-7</span>',
        "129.50 USD",
        "seller us",
        "Full.Person@example.com",
        "+14155550100",
        "Ada Byron",
        "Main Street 12b",
        "Suite 300",
        "(address2)",
        "62701 Springfield",
        "IL",
        "US",
        ">ordered<",
        "order A-77",
        "revenue 99",
    ]:
        assert text in row, text
    assert closed.ordered_at is not None
    assert "not E.164" not in row
    assert consent_lines(row) == [
        "email: withdrawn",
        "sms: granted",
        "newsletter: granted",
        "no choice recorded: push",
    ]
    other = row_html(page, plain.id)
    assert "12345" in other
    assert "not E.164" in other
    assert consent_lines(other) == [
        "email: allowed by default",
        "no choice recorded: sms, push, newsletter",
    ]
    assert ">abandoned<" in other


def test_stored_markup_is_shown_as_text(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    (cart,) = seed(
        cartback,
        clock,
        [cart_submission("xss@example.com", product_name=XSS, fields={"first_name": XSS})],
    )
    page = admin.get("/admin/carts").text
    row = row_html(page, cart.id)
    escaped = html.escape(XSS, quote=False)
    assert row.count(escaped) == 2
    assert "<script" not in page
    assert "<img" not in page


# -- the export ------------------------------------------------------------------------


def read_csv(response: Any, fmt: str) -> list[list[str]]:
    body: bytes = response.content
    if fmt in ("spreadsheet", "excel"):
        assert body.startswith(b"\xef\xbb\xbf")
        text = body.decode("utf-8").removeprefix("\ufeff")
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert not body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


@pytest.mark.parametrize("fmt", ["tools", "spreadsheet", "rfc4180", "excel"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "abcde"),
        ("start=2026-11-19&end=2026-11-20", "cd"),
        ("email=example", "acd"),
        ("status=ordered", "c"),
        ("status=open&email=zzz", ""),
    ],
)
def test_export_holds_exactly_the_filtered_carts(
    admin: TestClient, cartback: Cartback, five: Five, fmt: CsvFormat, query: str, expected: str
) -> None:
    path = "/admin/export.csv" if fmt in ("rfc4180", "excel") else "/admin/carts.csv"
    response = admin.get(f"{path}?format={fmt}&{query}&page=3")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="abandoned-carts-2026-11-22.csv"'
    )
    rows = read_csv(response, fmt)
    assert tuple(rows[0]) == CSV_COLUMNS
    expected_rows = [cart_row(cartback.get_cart(cart_id), fmt) for cart_id in five.ids(expected)]
    assert rows[1:] == expected_rows
    if fmt in ("spreadsheet", "excel"):
        assert response.content.split(b"\r\n")[0].count(b";") == len(CSV_COLUMNS) - 1
    if "c" in expected:
        (carol,) = (row for row in rows[1:] if row[0] == five.c.id)
        record = dict(zip(CSV_COLUMNS, carol, strict=True))
        assert record["email"] == "carol@example.com"
        assert record["status"] == "ordered"
        assert record["order_id"] == "ord-1"
        assert record["revenue"] == "49.90"
        assert record["created_at"] == "2026-11-19T00:00:00+00:00"


def test_export_defaults_to_the_spreadsheet_format(admin: TestClient, five: Five) -> None:
    rows = read_csv(admin.get("/admin/carts.csv"), "spreadsheet")
    assert len(rows) == 6


def test_export_neutralises_formulas(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)"]
    carts = seed(
        cartback,
        clock,
        [cart_submission(f"f{index}@example.com", fields={"first_name": name})
         for index, name in enumerate(names)]
        + [cart_submission("tab@example.com", product_name="\t=cmd", product_id="\r=x")],
    )  # fmt: skip
    cartback.mark_ordered(email="tab@example.com", order_id="\t-3")
    # The spreadsheet format neutralises (excel is its old name); the tools format (old
    # name rfc4180) keeps values exactly as stored.
    for fmt, guard in (("spreadsheet", "'"), ("excel", "'"), ("tools", ""), ("rfc4180", "")):
        rows = read_csv(admin.get(f"/admin/export.csv?format={fmt}"), fmt)
        records = {row[0]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
        for cart, name in zip(carts, names, strict=False):
            assert records[cart.id]["first_name"] == guard + name
        tab = records[carts[-1].id]
        assert tab["product_name"] == guard + "\t=cmd"
        assert tab["product_id"] == guard + "\r=x"
        assert tab["order_id"] == guard + "\t-3"


def test_export_streams_every_page(
    admin: TestClient, cartback: Cartback, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    newest_first = _seed_many(cartback, clock, EXPORT_PAGE_SIZE + 20)
    calls: list[tuple[int, int]] = []
    original = cartback.list_carts

    def spy(query: CartQuery | None = None, *, limit: int = 50, offset: int = 0) -> CartPage:
        calls.append((limit, offset))
        return original(query, limit=limit, offset=offset)

    monkeypatch.setattr(cartback, "list_carts", spy)
    with admin.stream("GET", "/admin/carts.csv?format=tools") as response:
        assert response.status_code == 200
        chunks = list(response.iter_bytes())
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"), newline="")))
    assert [row[0] for row in rows[1:]] == newest_first
    assert calls == [(EXPORT_PAGE_SIZE, 0), (EXPORT_PAGE_SIZE, EXPORT_PAGE_SIZE)]


def test_export_leaves_out_carts_captured_after_it_started(
    admin: TestClient, cartback: Cartback, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    (before,) = seed(cartback, clock, [cart_submission("before@example.com")])
    original = cartback.list_carts

    def capture_meanwhile(
        query: CartQuery | None = None, *, limit: int = 50, offset: int = 0
    ) -> CartPage:
        clock.advance(seconds=1)
        seed(cartback, clock, [cart_submission(f"during{offset}@example.com")])
        return original(query, limit=limit, offset=offset)

    monkeypatch.setattr(cartback, "list_carts", capture_meanwhile)
    rows = read_csv(admin.get("/admin/export.csv?format=tools"), "tools")
    assert [row[0] for row in rows[1:]] == [before.id]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_export_answers_only_get(receiver_client: TestClient, method: str) -> None:
    response = receiver_client.request(method, "/admin/export.csv", headers=bearer())
    assert response.status_code == 405


def test_export_head_sends_headers_only(admin: TestClient, five: Five) -> None:
    response = admin.head("/admin/export.csv")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-disposition"].startswith("attachment;")


def test_export_bad_format_is_a_400(admin: TestClient) -> None:
    response = admin.get("/admin/export.csv?format=xlsx")
    assert response.status_code == 400
    assert "The export format must be spreadsheet or tools." in response.text


def test_anonymous_export_redirects_to_login(receiver_client: TestClient) -> None:
    response = receiver_client.get("/admin/export.csv?format=excel&email=a", follow_redirects=False)
    assert response.status_code == 303
    (target,) = parse_qs(urlsplit(response.headers["location"]).query)["next"]
    assert target == "/admin/export.csv?format=excel&email=a"


def test_table_links_to_the_export_with_its_filters(admin: TestClient, five: Five) -> None:
    page = admin.get("/admin/carts?start=2026-11-20&email=ex&status=open&page=1").text
    form = re.search(r'<form class="export downloads"(.*?)</form>', page, re.S)
    assert form is not None
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form.group(1)))
    assert hidden == {"start": "2026-11-20", "email": "ex", "status": "open"}
    assert 'action="/admin/carts.csv"' in form.group(0)
    assert 'formaction="/admin/messages.csv"' in form.group(1)
    assert re.search(r'<option value="spreadsheet" selected>', form.group(1))
    assert "Machine-readable values" in form.group(1)


def test_dates_are_whole_utc_days(admin: TestClient, cartback: Cartback, clock: FakeClock) -> None:
    clock.now = datetime(2026, 11, 21, 23, 59, 59, 999_999, tzinfo=UTC)
    (late,) = seed(cartback, clock, [cart_submission("late@example.com")], step_seconds=0)
    clock.now = datetime.combine(date(2026, 11, 22), datetime.min.time(), tzinfo=UTC)
    (early,) = seed(cartback, clock, [cart_submission("early@example.com")])
    assert cart_ids(admin.get("/admin/carts?end=2026-11-21").text) == [late.id]
    assert cart_ids(admin.get("/admin/carts?start=2026-11-22").text) == [early.id]


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"sec-fetch-site": "same-origin"}, True),
        ({"sec-fetch-site": "none"}, True),
        ({"sec-fetch-site": "cross-site"}, False),
        ({"sec-fetch-site": "same-site"}, False),
        ({"sec-fetch-site": "cross-site", "origin": "http://testserver"}, False),
        ({"sec-fetch-site": "same-origin", "origin": "null"}, True),  # no-referrer forms
        ({"origin": "null"}, True),  # plain-HTTP hosts get neither header right
        ({"origin": "http://testserver"}, True),
        ({"origin": "https://evil.example"}, False),
        ({}, True),  # scripts
    ],
)
def test_login_checks_where_the_form_was_posted_from(
    receiver_client: TestClient, headers: dict[str, str], allowed: bool
) -> None:
    response = login_post(receiver_client, RECEIVER_PASSWORD, **headers)
    assert response.status_code == (303 if allowed else 403)


def test_a_session_cookie_kept_after_logout_no_longer_opens_the_dashboard(
    receiver_client: TestClient,
) -> None:
    assert login_post(receiver_client, RECEIVER_PASSWORD).status_code == 303
    stolen = receiver_client.cookies[SESSION_COOKIE]
    assert receiver_client.get("/admin", follow_redirects=False).status_code == 200

    receiver_client.post("/admin/logout", follow_redirects=False)
    receiver_client.cookies.set(SESSION_COOKIE, stolen, path="/admin")

    response = receiver_client.get("/admin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")


def test_logging_out_one_session_leaves_the_others_open(receiver_client: TestClient) -> None:
    login_post(receiver_client, RECEIVER_PASSWORD)
    other = receiver_client.cookies[SESSION_COOKIE]
    receiver_client.cookies.clear()
    login_post(receiver_client, RECEIVER_PASSWORD)

    receiver_client.post("/admin/logout", follow_redirects=False)
    receiver_client.cookies.set(SESSION_COOKIE, other, path="/admin")

    assert receiver_client.get("/admin", follow_redirects=False).status_code == 200


def test_revocations_are_kept_only_while_the_token_could_be_used(store: SQLiteStore) -> None:
    signer = SessionSigner(b"k" * 32, "pw", lifetime=timedelta(hours=12), store=store)
    start = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    first = signer.issue(start)
    signer.revoke(first, start)
    signer.revoke("v1.99999999999.not-a-token", start)  # forged: not remembered
    assert not signer.verify(first, start + timedelta(minutes=1))
    nonce = first.split(".")[2]
    until = store.flagged_until(REVOKED_SESSION, nonce, now=start)
    assert until == start + timedelta(hours=12)  # the token's own expiry
    assert store.flagged_until(REVOKED_SESSION, "not-a-token", now=start) is None

    later = start + timedelta(hours=13)  # the first token has expired by itself
    assert store.flagged_until(REVOKED_SESSION, nonce, now=later) is None
    second = signer.issue(later)
    signer.revoke(second, later)
    assert not signer.verify(first, later)
    assert not signer.verify(second, later)


def test_a_logout_on_one_receiver_is_honoured_by_another(
    receiver_settings: Settings, clock: FakeClock
) -> None:
    """Two receivers on one database: the revocation is in the store, not in a process."""
    with (
        TestClient(create_app(receiver_settings, clock=clock)) as one,
        TestClient(create_app(receiver_settings, clock=clock)) as two,
    ):
        login_post(one, RECEIVER_PASSWORD)
        cookie = one.cookies[SESSION_COOKIE]
        two.cookies.set(SESSION_COOKIE, cookie, path="/admin")
        assert two.get("/admin", follow_redirects=False).status_code == 200
        one.post("/admin/logout", follow_redirects=False)
        refused = two.get("/admin", follow_redirects=False)
        assert refused.status_code == 303


def test_failed_logins_on_one_receiver_count_on_another(
    receiver_settings: Settings, clock: FakeClock
) -> None:
    with (
        TestClient(create_app(receiver_settings, clock=clock)) as one,
        TestClient(create_app(receiver_settings, clock=clock)) as two,
    ):
        for client in (one, two, one, two, one):
            assert login_post(client, WRONG_PASSWORD).status_code == 401
        assert login_post(two, WRONG_PASSWORD).status_code == 429
        assert login_post(one, RECEIVER_PASSWORD).status_code == 429


# -- what the page says ----------------------------------------------------------------


def test_the_heading_names_what_is_listed(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(
        cartback,
        clock,
        [
            cart_submission("left@example.com"),
            cart_submission("paying@example.com", session_id="s-paying"),
            cart_submission("bought@example.com"),
        ],
    )
    cartback.mark_submitted("s-paying")
    cartback.mark_ordered(email="bought@example.com", order_id="o-1")
    for status, heading, shown in [
        ("", "Carts", {"left", "paying", "bought"}),
        ("all", "Carts", {"left", "paying", "bought"}),
        ("open", "Abandoned carts", {"left"}),
        ("submitted", "Submitted carts", {"paying"}),
        ("ordered", "Ordered carts", {"bought"}),
    ]:
        page = admin.get(f"/admin/carts?status={status}").text
        assert f"<h1>{heading}</h1>" in page, status
        assert f"<title>{heading} · cartback</title>" in page
        emails = set(re.findall(r'<span class="email"><a [^>]+>(\w+)@', page))
        assert emails == shown, status
    every = admin.get("/admin/carts").text
    assert "abandoned ones, ones submitted and waiting for the order, and ordered" in every
    statuses = re.findall(r'<span class="status" data-status="(\w+)">(\w+)</span>', every)
    assert sorted(statuses) == [
        ("open", "abandoned"),
        ("ordered", "ordered"),
        ("submitted", "submitted"),
    ]


def test_a_newsletter_box_left_unticked_is_told_apart_from_no_choice(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    unticked, granted_then_unticked, silent = seed(
        cartback,
        clock,
        [
            cart_submission("unticked@example.com", consent={"newsletter": False}),
            cart_submission("changed@example.com", consent={"newsletter": True, "sms": True}),
            cart_submission("silent@example.com"),
        ],
    )
    cartback.capture(cart_submission("changed@example.com", consent={"newsletter": False}))
    page = admin.get("/admin/carts").text
    assert consent_lines(row_html(page, unticked.id)) == [
        "email: allowed by default",
        "newsletter: box left unticked",
        "no choice recorded: sms, push",
    ]
    assert consent_lines(row_html(page, granted_then_unticked.id)) == [
        "email: allowed by default",
        "sms: granted",
        "newsletter: withdrawn",
        "no choice recorded: push",
    ]
    # Nothing sent about any box: the stored data cannot say whether one was shown.
    assert consent_lines(row_html(page, silent.id)) == [
        "email: allowed by default",
        "no choice recorded: sms, push, newsletter",
    ]
    assert "not asked" not in page


def test_a_page_reads_its_prospects_ledgers_in_one_go(
    admin: TestClient, cartback: Cartback, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    carts = seed(
        cartback,
        clock,
        [cart_submission(f"p{n}@example.com", consent={"sms": n % 2 == 0}) for n in range(12)],
    )
    store = type(cartback.store)
    reads: list[str] = []
    for name in ("consent_events", "consent_ledgers"):
        original = getattr(store, name)

        def counted(self: Any, *args: Any, _name: str = name, _original: Any = original) -> Any:
            reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(store, name, counted)
    page = admin.get("/admin/carts").text
    assert reads == ["consent_ledgers"]
    for n, cart in enumerate(carts):
        assert ("sms: granted" in consent_lines(row_html(page, cart.id))) == (n % 2 == 0)


def test_an_sms_box_left_unticked_records_nothing_to_show(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    # The ledger keeps changes only: an unticked box while nothing was granted is not one,
    # and the cart keeps only the newsletter box. The page says so rather than guess.
    (cart,) = seed(cartback, clock, [cart_submission("a@example.com", consent={"sms": False})])
    assert cartback.store.consent_events("a@example.com") == []
    lines = consent_lines(row_html(admin.get("/admin/carts").text, cart.id))
    assert lines[-1] == "no choice recorded: sms, push, newsletter"


def test_the_consent_line_says_when_and_how_a_choice_was_made(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    (cart,) = seed(cartback, clock, [cart_submission("a@example.com", consent={"sms": True})])
    cartback.record_consent("a@example.com", "email", "withdrawn")
    row = row_html(admin.get("/admin/carts").text, cart.id)
    assert 'title="on the order form 2026-11-22 12:00:00 UTC">granted</span>' in row
    assert 'title="through the shop&#39;s backend 2026-11-22 12:01:00 UTC">withdrawn</span>' in row


def test_an_empty_dashboard_says_how_carts_arrive(admin: TestClient) -> None:
    page = admin.get("/admin/carts").text
    assert "No cart has been captured yet." in page
    assert "Clear the filters" not in page  # nothing to clear
    assert 'id="carts"' not in page
    assert "Export" not in page
    assert 'id="by-product"' not in page


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/admin", "/admin"),
        ("/admin/carts", "/admin/carts"),
        ("/admin/segments", "/admin/segments"),
        ("/admin/flows", "/admin/flows"),
        ("/admin/tickets", "/admin/tickets"),
        ("/admin/webhooks", "/admin/webhooks"),
        ("/admin/webhooks/new", "/admin/webhooks"),
    ],
)
def test_every_page_has_one_navigation_marking_where_you_are(
    admin: TestClient, path: str, current: str
) -> None:
    page = admin.get(path)
    assert page.status_code == 200
    nav = re.search(r'<nav aria-label="Dashboard">(.*?)</nav>', page.text, re.S)
    assert nav is not None
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>', nav.group(1))
    assert links == [
        (href, ' aria-current="page"' if href == current else "")
        for href in (
            "/admin",
            "/admin/carts",
            "/admin/segments",
            "/admin/flows",
            "/admin/tickets",
            "/admin/webhooks",
        )
    ]
    assert page.text.count('aria-label="Dashboard"') == 1
    assert '<a class="skip" href="#content">' in page.text
    assert '<main id="content"' in page.text


def test_the_cart_page_shows_the_same_consent_summary(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    (cart,) = seed(
        cartback, clock, [cart_submission("a@example.com", consent={"newsletter": False})]
    )
    page = admin.get(f"/admin/carts/{cart.id}").text
    section = re.search(r'<section id="consent">(.*?)</section>', page, re.S)
    assert section is not None
    rows = {
        channel: html.unescape(re.sub(r"<[^>]+>", " ", cells)).split()
        for channel, cells in re.findall(
            r'<tr data-channel="(\w+)">(.*?)</tr>', section.group(1), re.S
        )
    }
    assert rows["email"][1:] == ["allowed", "by", "default", "the", "default", "for", "US"]
    assert " ".join(rows["newsletter"][1:]) == "box left unticked on the order form"
    assert " ".join(rows["sms"][1:]) == "no choice recorded not contacted on it"
    assert ">abandoned<" in page


def test_an_old_carts_bookmark_on_admin_leads_to_the_carts(admin: TestClient) -> None:
    response = admin.get("/admin?email=x&page=2&period=7d", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/carts?email=x&page=2"
    assert admin.get("/admin?period=7d", follow_redirects=False).status_code == 200
