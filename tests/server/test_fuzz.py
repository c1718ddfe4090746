"""Fuzzing the receiver in-process: Schemathesis from its OpenAPI document, then
Hypothesis-generated requests aimed at the edges the document cannot describe.

Every request goes straight to the ASGI app (started once, lifespan and writer
thread included) on the TestClient's event loop, so headers and bodies arrive byte
for byte as generated. After every response the test checks:

* no status >= 500;
* a 4xx (and a capture answered ``not_stored``) left the database unchanged: the row
  counts of every table and SQLite's ``data_version`` are compared before and after;
* a 4xx from ``/api/*`` has a JSON body with ``field``, ``reason`` and ``message``
  (CORS preflights, answered by Starlette's middleware, excepted);
* a request built to be invalid got a 4xx.

It prints how many requests were sent, the responses by status class and the rows
written by refused requests (always 0 when it passes).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import anyio
import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Scope

from cartback import LinkSigner, OrderForm, webhook_headers
from server_example import Settings, create_app
from tests.conftest import FakeClock

pytestmark = pytest.mark.slow

SECRET_KEY = b"fuzz-secret-key-of-at-least-32-bytes!!"
API_SECRET = "whsec_" + base64.b64encode(b"order-secret-of-at-least-32-byte").decode()
ORIGIN = "https://shop.example"
LIMIT = 16 * 1024
TABLES = ("carts", "cart_sessions", "consent_events", "outbox", "link_clicks")
MIN_REQUESTS = 10_000

# Examples per Hypothesis search; each example sends one or more requests.
SCHEMATHESIS_EXAMPLES = 30  # x 12 operation/mode pairs
CAPTURE_EXAMPLES = 1500  # x 3 requests
RAW_EXAMPLES = 400  # x 4
SESSION_EXAMPLES = 400  # x 2
ORDER_EXAMPLES = 500  # x 3
LINK_EXAMPLES = 600  # x 3
HEADER_EXAMPLES = 300  # x 1


def search(max_examples: int) -> settings:
    """Hypothesis settings for one search: no example database, no deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# -- the ASGI exchange ---------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    error: BaseException | None

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)


async def exchange(app: ASGIApp, scope: Scope, chunks: Sequence[bytes]) -> Reply:
    """One HTTP request through the ASGI app, as a server would deliver it."""
    pending = list(chunks) or [b""]
    finished = anyio.Event()
    start: dict[str, Any] = {}
    body = bytearray()

    async def receive() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    error: BaseException | None = None
    try:
        await app(scope, receive, send)
    except Exception as exc:  # ServerErrorMiddleware re-raises after answering 500
        error = exc
    finally:
        finished.set()
    status = int(start.get("status", 500 if error else 0))
    return Reply(status, list(start.get("headers", [])), bytes(body), error)


class Observer:
    """A second connection to the receiver's database: row counts and ``data_version``."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)

    def snapshot(self) -> tuple[int, ...]:
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        counts = self._db.execute(self._sql).fetchone()
        return (int(version), *(int(count) for count in counts))

    def cart_ids(self) -> list[str]:
        rows = self._db.execute("SELECT id FROM carts ORDER BY form_id = 'f1' DESC, id LIMIT 50")
        return [row[0] for row in rows]

    def close(self) -> None:
        self._db.close()


@dataclass
class Fuzzer:
    """Sends requests, checks every response, keeps the figures."""

    app: ASGIApp
    portal: BlockingPortal
    observer: Observer
    sent: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    refused_writes: int = 0
    conformance: Counter[str] = field(default_factory=Counter)
    phases: list[tuple[str, int, float]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a part of the run and count its requests."""
        sent, started = self.sent, time.perf_counter()
        try:
            yield
        finally:
            self.phases.append((name, self.sent - sent, time.perf_counter() - started))

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | Sequence[bytes] = b"",
        headers: Mapping[str, str] | Sequence[tuple[bytes, bytes]] = (),
        content_length: bool = True,
        must_refuse: bool = False,
        label: str = "",
    ) -> Reply:
        """Send one request; ``target`` is the percent-encoded path and query."""
        chunks = [body] if isinstance(body, bytes) else list(body)
        raw_headers = (
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
            if isinstance(headers, Mapping)
            else list(headers)
        )
        if content_length and not any(k == b"content-length" for k, _ in raw_headers):
            raw_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
        raw_path, _, query = target.encode("ascii").partition(b"?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), *raw_headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        before = self.observer.snapshot()
        reply = self.portal.call(exchange, self.app, scope, chunks)
        after = self.observer.snapshot()
        self.sent += 1
        self.by_status[reply.status] += 1
        self.by_class[f"{reply.status // 100}xx"] += 1
        where = f"{label} {method} {target[:200]!r} headers={raw_headers!r} body={chunks!r:.600}"
        if reply.error is not None and reply.status < 500:
            raise AssertionError(f"the app raised after answering {reply.status}: {where}")
        if reply.status >= 500 or reply.error is not None:
            raise AssertionError(f"{reply.status} for {where}") from reply.error
        assert reply.status >= 200, where
        refused = 400 <= reply.status < 500
        if must_refuse:
            assert refused, f"expected a 4xx, got {reply.status} {reply.body[:300]!r}: {where}"
        unchanged_expected = refused or self._not_stored(method, target, reply)
        if unchanged_expected and before != after:
            self.refused_writes += max(
                1, sum(abs(b - a) for a, b in zip(before[1:], after[1:], strict=True))
            )
            raise AssertionError(
                f"{reply.status} changed the database {before} -> {after}: {where}"
            )
        if refused and target.startswith("/api/") and not self._preflight(method, raw_headers):
            self._assert_json_error(reply, where)
        return reply

    @staticmethod
    def _not_stored(method: str, target: str, reply: Reply) -> bool:
        """A capture answered ``not_stored``, which must not write either."""
        if method != "POST" or target.split("?")[0] != "/api/capture" or reply.status != 200:
            return False
        return bool(json.loads(reply.body).get("status") == "not_stored")

    @staticmethod
    def _preflight(method: str, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        names = {name for name, _ in headers}
        return method == "OPTIONS" and b"access-control-request-method" in names

    @staticmethod
    def _assert_json_error(reply: Reply, where: str) -> None:
        content_type = reply.header(b"content-type") or b""
        assert content_type.startswith(b"application/json"), f"{content_type!r}: {where}"
        error = json.loads(reply.body)
        assert isinstance(error, dict), where
        for key in ("field", "reason", "message"):
            assert isinstance(error.get(key), str), f"{error!r}: {where}"
            assert error[key], f"{error!r}: {where}"

    def figures(self) -> str:
        classes = ", ".join(f"{name}: {count}" for name, count in sorted(self.by_class.items()))
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.by_status.items()))
        return (
            f"fuzz: {self.sent} requests sent; responses by class {{{classes}}}; "
            f"by status {{{statuses}}}; rows written by refused requests: "
            f"{self.refused_writes}; schema conformance failures: "
            f"{sum(self.conformance.values())}\n  by part: "
            + ", ".join(f"{name} {sent} in {took:.1f} s" for name, sent, took in self.phases)
        )


# -- strategies ----------------------------------------------------------------------

SPECIAL = [
    "\x00",
    "\x01",
    "\x08",
    "\x0b",
    "\x1f",
    "\x7f",
    "\t",
    "\n",
    "\r",
    "\u2028",
    "\ufeff",
    "\u200b",
    "\ud800",
    "\udfff",
    "\U0001d518",
    "é",
    "\\",
    '"',
    "%",
    "%00",
    "'",
    "<script>",
    "{{7*7}}",
    "${x}",
    "..",
    "/",
    "?",
    "#",
    "&",
    "=",
    ";",
    " ",
    "ß",
    "İ",
    "\u0130",
]

weird_text = st.one_of(
    st.sampled_from(SPECIAL),
    st.builds("{}{}{}".format, st.text(max_size=4), st.sampled_from(SPECIAL), st.text(max_size=4)),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]), min_size=1, max_size=4),
)
"""Short text with control characters, lone surrogates and other troublemakers.

Built from a few cheap draws: generating text character by character would make
Hypothesis, not the receiver, the bottleneck of this file."""

long_text = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "é", "\U0001d518", "\x00", "1", " ", "\ud800"]),
    st.one_of(
        st.sampled_from([63, 64, 65, 127, 128, 129, 255, 256, 257, 320, 321, 511, 512, 513]),
        st.integers(0, 20_000),
    ),
)
"""Strings around every length limit, and far beyond the body limit."""

any_text = st.one_of(st.text(max_size=12), weird_text, long_text)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    any_text,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=6,
)
"""Arbitrary JSON values (NaN and infinities included, as Python's json writes them)."""

plausible_emails = st.builds(
    "{}{}@{}".format,
    st.sampled_from(["jane", "Jo.Doe", "a+b", "ünïcode", "x" * 64, "x" * 65, "", " j "]),
    st.integers(0, 400),
    st.sampled_from(
        ["example.com", "shop.example", "GMAIL.com", "bücher.example", "localhost", "test"]
    ),
)
emails = st.one_of(plausible_emails, plausible_emails, plausible_emails, any_text)
countries = st.one_of(
    st.sampled_from(
        [
            "US",
            "USA",
            "840",
            "United States",
            "us",
            "CA",
            "DE",
            "Germany",
            "276",
            "FR",
            "ZZ",
            "XK",
            "",
            " ",
            "Réunion",
            "EU",
            "Ù.S.",
            "0",
            "-1",
            "999",
        ]
    ),
    any_text,
)
session_ids = st.integers(0, 2**40).map("s-{:x}".format)
tokens = st.one_of(session_ids, st.sampled_from(["a.b:c_d-e", "x" * 128, "x" * 129]), any_text)
field_names = st.one_of(
    st.sampled_from(
        [
            "email",
            "E-Mail",
            "billing[email]",
            "billing_email",
            "first_name",
            "last_name",
            "phone",
            "tel",
            "street",
            "house_number",
            "city",
            "state",
            "zip",
            "country",
            "newsletter",
            "subscribe",
            "address_2",
            "payment_plan",
            "installments",
            "card",
            "cc_number",
            "notes",
            "coupon",
            "",
        ]
    ),
    any_text,
)
field_values = st.one_of(
    emails,
    countries,
    st.sampled_from(["on", "off", "yes", "0", "4111 1111 1111 1111", "4111111111111111"]),
    json_values,
)


@st.composite
def submissions(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A capture body, mostly eligible and valid, then perhaps broken in one place.

    Returns the body and whether it is certainly invalid (must be answered 4xx).
    """
    body: dict[str, Any] = {
        "v": 1,
        "form_id": draw(st.sampled_from(["f1", "f2", "f3"])),
        "seller": draw(st.sampled_from(["us", "US", "eu", "", "acme"])),
        "fields": {
            "email": draw(emails),
            "country": draw(countries),
        },
    }
    for name in draw(st.lists(field_names, max_size=6)):
        body["fields"][name] = draw(field_values)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "product_id": st.sampled_from(["p1", "p2", "4111111111111111"]),
        "product_name": st.one_of(st.sampled_from(["Course", "Kurs für Anfänger"]), any_text),
        "cart_value": st.one_of(
            st.decimals(min_value=0, max_value=10**6, places=2).map(str), st.integers(0, 999)
        ),
        "currency": st.sampled_from(["USD", "usd", "EUR"]),
        "steps_total": st.integers(1, 5),
        "contact_step": st.integers(1, 2),
        "consent": st.dictionaries(
            st.sampled_from(["email", "sms", "push", "newsletter"]), st.booleans()
        ),
        "consent_version": st.sampled_from(["v1", "2026-01", ""]),
        "session_id": session_ids,
        "event_id": st.integers(0, 2**40).map("e-{:x}".format),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        body[key] = draw(optional[key])
    if "steps_total" in body and body.get("contact_step", 1) > body["steps_total"]:
        body["contact_step"] = body["steps_total"]

    breakage = draw(
        st.sampled_from(
            [
                "none",
                "none",
                "none",
                "wrong_type",
                "bad_value",
                "unknown_key",
                "bad_field",
                "bad_mapped_value",
                "whole_json",
            ]
        )
    )
    if breakage == "wrong_type":
        key = draw(
            st.sampled_from(
                [
                    "form_id",
                    "product_id",
                    "product_name",
                    "cart_value",
                    "currency",
                    "seller",
                    "steps_total",
                    "contact_step",
                    "consent_version",
                    "session_id",
                    "event_id",
                ]
            )
        )
        body[key] = draw(st.one_of(st.lists(json_scalars, max_size=3), st.just({"a": 1})))
        return body, True
    if breakage == "bad_value":
        key, value = draw(
            st.sampled_from(
                [
                    ("v", 2),
                    ("v", 0),
                    ("v", [1]),
                    ("form_id", ""),
                    ("form_id", "f" * 129),
                    ("form_id", "f\x00"),
                    ("form_id", "\ud800"),
                    ("product_name", "x" * 257),
                    ("session_id", "has space"),
                    ("session_id", "s" * 129),
                    ("event_id", ""),
                    ("currency", "ZZZ"),
                    ("currency", "US"),
                    ("steps_total", 0),
                    ("steps_total", 101),
                    ("contact_step", 0),
                    ("cart_value", -1),
                    ("cart_value", "abc"),
                    ("cart_value", "1e13"),
                    ("cart_value", "NaN"),
                    ("cart_value", "Infinity"),
                    ("fields", "email=a@b.co"),
                    ("fields", [1]),
                    ("consent", {"fax": True}),
                    ("consent", {"email": [True]}),
                    ("consent", "yes"),
                    ("seller", "s" * 65),
                ]
            )
        )
        body[key] = value
        return body, True
    if breakage == "unknown_key":
        key = draw(any_text.filter(lambda k: k not in body and k not in optional))
        body[key] = draw(json_values)
        return body, True
    if breakage == "bad_field":
        name = draw(
            st.sampled_from(["", "n" * 129, "a\x01b", "\ud800", "x\x7f"])
            | st.builds("{}\x00".format, st.text(max_size=5))
        )
        body["fields"][name] = "value"
        return body, True
    if breakage == "bad_mapped_value":
        name = draw(st.sampled_from(["email", "phone", "City", "billing[email]", "zip"]))
        body["fields"][name] = draw(
            st.one_of(
                st.lists(json_scalars, max_size=2),
                st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
                st.just(True),
                st.just("x" * 513),
                st.builds("{}\x01{}".format, st.text(max_size=5), st.text(max_size=5)),
                st.builds("a{}b".format, st.characters(categories=["Cs"])),
            )
        )
        return body, True
    if breakage == "whole_json":
        return {"_": draw(json_values)} if draw(st.booleans()) else draw(json_values), False
    return body, False


def encode(value: Any, *, ascii_only: bool) -> bytes:
    """JSON bytes; with ``ascii_only=False`` lone surrogates become invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


ACCEPTED_TYPES = [
    "application/json",
    "text/plain",
    "text/plain;charset=UTF-8",
    "APPLICATION/JSON",
    "application/json; charset=utf-8",
    "text/plain ; charset=latin-1",
]
REFUSED_TYPES = [
    "",
    "text/html",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json-patch+json",
    "text/plain-ish",
    "json",
    ";",
    "application/octet-stream",
]


@st.composite
def content_types(draw: st.DrawFn) -> tuple[str | None, bool]:
    """A Content-Type header (``None``: absent) and whether the receiver refuses it."""
    if draw(st.integers(0, 9)) < 8:
        return draw(st.sampled_from(ACCEPTED_TYPES)), False
    if draw(st.booleans()):
        return None, True
    return draw(st.sampled_from(REFUSED_TYPES)), True


@st.composite
def origins(draw: st.DrawFn) -> tuple[str | None, bool]:
    """An Origin header (``None``: absent) and whether it is refused."""
    choice = draw(st.integers(0, 9))
    if choice < 6:
        return None, False
    if choice < 8:
        return draw(st.sampled_from([ORIGIN, ORIGIN + "/", "http://127.0.0.1:8000"])), False
    return draw(
        st.sampled_from(["https://evil.example", "null", "https://shop.example.evil"])
    ), True


NUMBER_LITERALS = [
    "1" * 4301,
    "1" * 5000,
    "-" + "9" * 4400,
    "1e400",
    "-1e400",
    "1E-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "01",
    "1.",
    ".5",
    "+1",
    "1e",
    "-",
    "1_000",
    "123456789" * 40,
]
RAW_TEMPLATES = [
    '{"form_id":"f1","fields":{"email":"raw@example.com","country":"US"},"cart_value":%s}',
    '{"form_id":"f1","seller":"us","steps_total":%s}',
    '{"form_id":"f1","fields":{"email":%s}}',
    '{"form_id":"f1","fields":{"notes":%s}}',
    '{"session_id":"s-1","v":%s}',
    '{"email":"raw@example.com","revenue":%s}',
    '{"x":%s}',
    "%s",
    "[%s]",
]
RAW_BODIES = [
    b"",
    b" ",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b'""',
    b"{",
    b"}",
    b'{"a":}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b'{"form_id":"f1"}\x00',
    b'{"form_id":"f1"} trailing',
    b'{"form_id":"f1","form_id":"f2"}',
    b'{"form_id":"\xc0\xaf"}',
    b'{"form_id":"\xed\xa0\x80"}',
    b'{"form_id":"f1","fields":{"email":"a@b.co","email":"c@d.co"}}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b'{"form_id":"f1","fields":' + b'{"a":' * 900 + b"1" + b"}" * 901,
    b"[" * 20_000,
    b"\x00" * 100,
    b"\r\n\r\n",
    b'{"form_id":"f1"}' * 1000,
]


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes that are almost JSON, or JSON that Python parses in surprising ways."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from(RAW_BODIES))
    if kind == 1:
        template = draw(st.sampled_from(RAW_TEMPLATES))
        return (template % draw(st.sampled_from(NUMBER_LITERALS))).encode()
    if kind == 2:
        valid = encode(draw(submissions())[0], ascii_only=draw(st.booleans()))
        cut = draw(st.integers(0, max(0, len(valid) - 1)))
        return valid[:cut] + draw(st.binary(max_size=8))
    return draw(st.binary(max_size=200))


session_events = st.fixed_dictionaries(
    {"session_id": tokens},
    optional={
        "v": st.one_of(st.just(1), json_scalars),
        "event_id": tokens,
        "form_id": st.one_of(st.sampled_from(["f1", "f2", ""]), any_text),
        "extra": json_values,
    },
)
orders = st.fixed_dictionaries(
    {},
    optional={
        "email": emails,
        "session_id": tokens,
        "form_id": st.one_of(st.sampled_from(["f1", "f2"]), any_text),
        "order_id": st.one_of(st.sampled_from(["o-1", "4111111111111111"]), any_text),
        "revenue": st.one_of(
            st.integers(-5, 10**13),
            st.decimals(allow_nan=True, allow_infinity=True).map(str),
            st.floats(),
            json_values,
        ),
        "unknown": json_values,
    },
)


# -- the test ------------------------------------------------------------------------


def fuzz_settings(tmp_path: Path) -> Settings:
    return Settings(
        database=tmp_path / "fuzz.sqlite3",
        admin_password="correct horse battery",
        secret_key=SECRET_KEY,
        allowed_origins=(ORIGIN,),
        api_secret=API_SECRET,
        trusted_country_header="cf-ipcountry",
        trusted_client_ip_header="x-forwarded-for",
        capture_worker="thread",  # the fake clock
        form_urls={"f1": "https://shop.example/checkout?step=1"},
        forms={
            "f2": OrderForm(
                form_id="f2",
                seller="us",
                steps_total=3,
                contact_step=1,
                placeholders={"email": "you@example.com"},
                field_map={"kontakt_email": "email"},
            ),
            "f3": OrderForm(form_id="f3", steps_total=1, contact_step=1),
        },
        # Rate limiting must not hide bugs.
        rate_per_minute=10**9,
        rate_burst=10**9,
        # Durability is test_crash.py's business; this file wants requests per second.
        synchronous="NORMAL",
        # No background writer: a refused request must leave the database exactly as it
        # was, and the recovery and webhook workers write whenever they tick.
        dispatcher=False,
        run_workers=False,
    )


@pytest.fixture
def fuzzer(tmp_path: Path, clock: FakeClock) -> Iterator[Fuzzer]:
    app = create_app(fuzz_settings(tmp_path), clock=clock)
    with TestClient(app) as client:
        assert client.portal is not None
        observer = Observer(tmp_path / "fuzz.sqlite3")
        try:
            yield Fuzzer(app=app, portal=client.portal, observer=observer)
        finally:
            observer.close()


def run_schemathesis(fuzzer: Fuzzer, document: dict[str, Any], clock: FakeClock) -> None:
    """Positive and negative cases of every operation, checked against the document."""
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise result.err()
        operation = result.ok()
        schemathesis_cases(fuzzer, operation, GenerationMode.POSITIVE, clock)
        if len(operation.body) or len(operation.query) or len(operation.headers):
            # (A lone string path parameter has no schema-violating value.)
            schemathesis_cases(fuzzer, operation, GenerationMode.NEGATIVE, clock)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def schemathesis_cases(
    fuzzer: Fuzzer,
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    clock: FakeClock,
) -> None:
    @search(SCHEMATHESIS_EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode), sign=st.booleans())
    def send_case(case: schemathesis.Case[Any], sign: bool) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        if "json" in kwargs:
            content = json.dumps(kwargs["json"]).encode()
        else:
            data = kwargs.get("data") or b""
            content = data.encode() if isinstance(data, str) else bytes(data)
        headers = {str(k).lower(): str(v) for k, v in kwargs["headers"].items()}
        if case.path == "/api/orders" and sign and mode is GenerationMode.POSITIVE:
            # Signed with the real secret, so the body itself gets validated.
            timestamp = int(clock.now.timestamp())
            headers.update(webhook_headers(API_SECRET, "msg_s", timestamp, content))
        request = httpx.Request(
            kwargs["method"], kwargs["url"], params=kwargs.get("params") or None
        )
        try:
            encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        except UnicodeEncodeError:
            return  # not sendable over HTTP/1.1; a real server never sees it
        reply = fuzzer.request(
            case.method.upper(),
            request.url.raw_path.decode("ascii"),
            body=content,
            headers=encoded,
            label="schemathesis",
        )
        if mode is GenerationMode.NEGATIVE and reply.status == 413:
            return  # refused for its size before anything read it (a documented answer)
        response = httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )
        response.elapsed = timedelta(0)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
            for failure in failures:
                key = f"{operation.label} {mode.value}: {failure.title}: {failure.message}"
                fuzzer.conformance[key[:500]] += 1

    send_case()


def test_fuzzing_finds_no_server_error_and_no_write_from_refused_input(
    fuzzer: Fuzzer, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        run_all(fuzzer, clock)
    finally:
        with capsys.disabled():
            print("\n" + fuzzer.figures(), flush=True)
            for failure in list(fuzzer.conformance)[:10]:
                print("  conformance:", failure)
    assert fuzzer.sent >= MIN_REQUESTS
    assert fuzzer.by_class["5xx"] == 0
    assert fuzzer.refused_writes == 0
    assert not fuzzer.conformance


def run_all(fuzzer: Fuzzer, clock: FakeClock) -> None:
    # The document as the app serves it (test_api.py holds the committed file to it).
    document = json.loads(fuzzer.request("GET", "/openapi.json").body)
    with warnings.catch_warnings():
        # Hypothesis inside Schemathesis may warn about generated data it had to skip;
        # those are about the generator, not the receiver.
        warnings.filterwarnings("ignore", module=r"schemathesis(\.|$)")
        with fuzzer.phase("schemathesis"):
            run_schemathesis(fuzzer, document, clock)

    # A few stored carts first, so tokens, orders and session events find something.
    for number in range(5):
        body = {
            "form_id": "f1",
            "seller": "us",
            "session_id": f"s-seed{number}",
            "fields": {"email": f"seed{number}@example.com", "country": "US"},
        }
        reply = fuzzer.request(
            "POST",
            "/api/capture",
            body=encode(body, ascii_only=True),
            headers={"content-type": "text/plain"},
        )
        assert json.loads(reply.body)["status"] == "stored"

    with fuzzer.phase("capture bodies"):
        capture_bodies(fuzzer)
    with fuzzer.phase("raw bytes"):
        raw_bytes(fuzzer)
    with fuzzer.phase("session events"):
        session_bodies(fuzzer)
    with fuzzer.phase("orders"):
        signed_orders(fuzzer, clock)
    with fuzzer.phase("links"):
        links(fuzzer, clock)
    with fuzzer.phase("headers"):
        header_edges(fuzzer)


def capture_bodies(fuzzer: Fuzzer) -> None:
    @search(CAPTURE_EXAMPLES)
    @given(
        drawn=submissions(),
        update=st.dictionaries(field_names, field_values, max_size=3),
        then=st.sampled_from(["complete", "optout", "capture body"]),
        content_type=content_types(),
        origin=origins(),
        ascii_only=st.booleans(),
        chunked=st.booleans(),
        country_header=st.one_of(st.none(), st.sampled_from(["US", "DE", "", "T1", "XX"])),
    )
    def send(
        drawn: tuple[Any, bool],
        update: dict[str, Any],
        then: str,
        content_type: tuple[str | None, bool],
        origin: tuple[str | None, bool],
        ascii_only: bool,
        chunked: bool,
        country_header: str | None,
    ) -> None:
        body, invalid = drawn
        raw = encode(body, ascii_only=ascii_only)
        headers = {}
        if content_type[0] is not None:
            headers["content-type"] = content_type[0]
        if origin[0] is not None:
            headers["origin"] = origin[0]
        if country_header is not None:
            headers["cf-ipcountry"] = country_header
        chunks = [raw[i : i + 1000] for i in range(0, len(raw), 1000)] if chunked else [raw]
        refused = content_type[1] or origin[1] or len(raw) > LIMIT or invalid or not _is_utf8(raw)
        fuzzer.request(
            "POST",
            "/api/capture",
            body=chunks,
            headers=headers,
            content_length=not chunked,
            must_refuse=refused,
            label="capture",
        )
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            return
        # The same prospect again with some fields changed: merged into the open cart.
        # A broken body keeps its own values, so the update cannot repair it by chance.
        merged = {**update, **body["fields"]} if invalid else {**body["fields"], **update}
        again = {**body, "fields": merged}
        fuzzer.request(
            "POST",
            "/api/capture",
            body=encode(again, ascii_only=ascii_only),
            headers={"content-type": "text/plain;charset=UTF-8"},
            must_refuse=invalid,
            label="capture-again",
        )
        # Then the session's end, or the capture body where a session event belongs.
        event: dict[str, Any] = {"session_id": body.get("session_id", "s-none")}
        if "form_id" in body and then == "complete":
            event["form_id"] = body["form_id"]
        session_body = body if then == "capture body" else event
        fuzzer.request(
            "POST",
            "/api/capture/optout" if then == "optout" else "/api/capture/complete",
            body=encode(session_body, ascii_only=ascii_only),
            headers={"content-type": "text/plain"},
            must_refuse=then == "capture body",
            label="capture-session",
        )

    send()


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def raw_bytes(fuzzer: Fuzzer) -> None:
    @search(RAW_EXAMPLES)
    @given(raw=raw_bodies(), content_type=st.sampled_from(ACCEPTED_TYPES))
    def send(raw: bytes, content_type: str) -> None:
        headers = {"content-type": content_type}
        for path in ("/api/capture", "/api/capture/complete", "/api/capture/optout"):
            fuzzer.request("POST", path, body=raw, headers=headers, label="raw")
        fuzzer.request("POST", "/api/orders", body=raw, headers=headers, must_refuse=True)

    send()


def session_bodies(fuzzer: Fuzzer) -> None:
    @search(SESSION_EXAMPLES)
    @given(
        body=session_events,
        content_type=content_types(),
        ascii_only=st.booleans(),
    )
    def send(body: dict[str, Any], content_type: tuple[str | None, bool], ascii_only: bool) -> None:
        headers = {} if content_type[0] is None else {"content-type": content_type[0]}
        raw = encode(body, ascii_only=ascii_only)
        refused = content_type[1] or "extra" in body or not _is_utf8(raw)
        # Complete first: opting out afterwards would leave nothing to complete.
        for path in ("/api/capture/complete", "/api/capture/optout"):
            fuzzer.request(
                "POST", path, body=raw, headers=headers, must_refuse=refused, label="session"
            )

    send()


def signed_orders(fuzzer: Fuzzer, clock: FakeClock) -> None:
    @search(ORDER_EXAMPLES)
    @given(
        body=st.one_of(orders, json_values),
        ascii_only=st.booleans(),
        skew=st.sampled_from([0, 0, 0, -299, 301, -(10**6)]),
        tamper=st.sampled_from(["none", "none", "body", "signature", "missing", "id"]),
        msg_id=st.one_of(st.just("msg_1"), st.text(min_size=1, max_size=20)),
    )
    def send(body: Any, ascii_only: bool, skew: int, tamper: str, msg_id: str) -> None:
        raw = encode(body, ascii_only=ascii_only)
        timestamp = int(clock.now.timestamp()) + skew
        signed = webhook_headers(API_SECRET, msg_id, timestamp, raw)
        headers = {"content-type": "application/json", **signed}
        if tamper == "body":
            raw += b" "
        elif tamper == "signature":
            headers["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
        elif tamper == "missing":
            del headers["webhook-id"]
        elif tamper == "id":
            headers["webhook-id"] = msg_id + "x"
        try:
            encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        except UnicodeEncodeError:
            encoded = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in headers.items()]
        bad_signature = tamper != "none" or abs(skew) > 300
        fuzzer.request(
            "POST",
            "/api/orders",
            body=raw,
            headers=encoded,
            must_refuse=bad_signature or len(raw) > LIMIT,
            label="orders",
        )
        # The same body unsigned, then as a capture.
        fuzzer.request(
            "POST",
            "/api/orders",
            body=raw,
            headers={"content-type": "application/json"},
            must_refuse=True,
            label="orders-unsigned",
        )
        fuzzer.request(
            "POST",
            "/api/capture",
            body=raw,
            headers={"content-type": "text/plain"},
            label="order-as-capture",
        )

    send()


def links(fuzzer: Fuzzer, clock: FakeClock) -> None:
    signer = LinkSigner(SECRET_KEY)
    expired_signer = LinkSigner(SECRET_KEY, recovery_ttl=timedelta(seconds=-1))
    foreign = LinkSigner(b"another-key-of-at-least-32-bytes!!!!")
    cart_ids = fuzzer.observer.cart_ids()
    assert cart_ids
    ids = st.one_of(st.sampled_from(cart_ids), st.just("cart_gone"), st.text(max_size=10))
    channels = st.sampled_from(["email", "sms", "push", "newsletter"])

    def tamper(token: str, index: int, replacement: str) -> str:
        position = index % (len(token) + 1)
        return token[:position] + replacement + token[position + 1 :]

    token_strategy = st.one_of(
        st.builds(lambda c: signer.recovery_token(c, now=clock.now), ids),
        st.builds(lambda c: expired_signer.recovery_token(c, now=clock.now), ids),
        st.builds(lambda c, ch: signer.unsubscribe_token(c, ch), ids, channels),
        st.builds(lambda c: foreign.recovery_token(c, now=clock.now), ids),
        st.builds(
            tamper,
            st.builds(lambda c: signer.recovery_token(c, now=clock.now), ids),
            st.integers(0, 400),
            st.sampled_from(["", "A", ".", "..", "=", "%", "\x00", "é"]),
        ),
        any_text,
        st.builds(
            lambda a, b: f"{base64.urlsafe_b64encode(a).decode()}.{b:x}",
            st.binary(max_size=40),
            st.integers(0, 2**256),
        ),
    )
    utm = st.dictionaries(
        st.sampled_from(
            [
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_content",
                "utm_term",
                "other",
                "utm_source[]",
            ]
        ),
        st.one_of(st.text(max_size=12), weird_text, long_text, st.just("4111 1111 1111 1111")),
        max_size=4,
    )

    @search(LINK_EXAMPLES)
    @given(
        token=token_strategy,
        query=utm,
        body=st.one_of(st.binary(max_size=64), st.sampled_from([b"x" * 4097, b"x" * 20_000])),
        chunked=st.booleans(),
        odd_method=st.sampled_from([None, None, "PUT", "DELETE", "PATCH"]),
    )
    def send(
        token: str, query: dict[str, str], body: bytes, chunked: bool, odd_method: str | None
    ) -> None:
        quoted = quote(token.encode("utf-8", "surrogatepass"), safe="")
        encoded = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
        fuzzer.request("GET", f"/r/{quoted}" + (f"?{encoded}" if encoded else ""), label="links")
        fuzzer.request("GET", f"/u/{quoted}", label="links")
        chunks = [body[i : i + 512] for i in range(0, len(body), 512)] or [b""]
        fuzzer.request(
            "POST",
            f"/u/{quoted}",
            body=chunks if chunked else body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            content_length=not chunked,
            must_refuse=len(body) > 4096,
            label="links",
        )
        if odd_method is not None:
            # 405 (a "/" in the token may instead redirect to the path without it).
            refused = "/" not in token
            fuzzer.request(odd_method, f"/r/{quoted}", must_refuse=refused, label="links")

    send()


def header_edges(fuzzer: Fuzzer) -> None:
    """Header values a lenient ASGI server could pass on, and odd methods on /api/*."""
    latin1 = st.binary(max_size=24).map(lambda raw: raw.decode("latin-1"))
    valid = encode(
        {"form_id": "f1", "seller": "us", "fields": {"email": "h@example.com", "country": "US"}},
        ascii_only=True,
    )

    @search(HEADER_EXAMPLES)
    @given(
        name=st.sampled_from(
            [
                "content-length",
                "content-type",
                "origin",
                "cf-ipcountry",
                "x-forwarded-for",
                "webhook-timestamp",
                "webhook-signature",
            ]
        ),
        value=st.one_of(
            latin1,
            st.sampled_from(["\u00b2", "\u00b9\u00b2", "-1", "+5", " 5", "1e3", "0x10", "9" * 30]),
        ),
        path=st.sampled_from(["/api/capture", "/api/capture/optout", "/api/orders", "/u/x.y"]),
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "PATCH", "OPTIONS"]),
    )
    def send(name: str, value: str, path: str, method: str) -> None:
        headers = [(b"content-type", b"text/plain"), (b"origin", ORIGIN.encode())]
        headers = [(k, v) for k, v in headers if k != name.encode()]
        headers.append((name.encode(), value.encode("latin-1")))
        if method == "OPTIONS" and name != "origin":
            headers.append((b"access-control-request-method", b"POST"))
        fuzzer.request(method, path, body=valid, headers=headers, label="headers")

    send()


def test_the_checker_sees_writes_and_unexpected_acceptance(fuzzer: Fuzzer) -> None:
    """The fuzzer's own checks: a stored capture changes the snapshot, and a request
    built to be refused that is accepted fails the test."""
    before = fuzzer.observer.snapshot()
    for number, must_refuse in ((1, False), (2, True)):
        body = {
            "form_id": "f1",
            "seller": "us",
            "fields": {"email": f"w{number}@example.com", "country": "US"},
        }
        headers = {"content-type": "application/json"}
        if not must_refuse:
            fuzzer.request(
                "POST", "/api/capture", body=encode(body, ascii_only=True), headers=headers
            )
            assert fuzzer.observer.snapshot() != before
            continue
        with pytest.raises(AssertionError, match="expected a 4xx"):
            fuzzer.request(
                "POST", "/api/capture", body=encode(body, ascii_only=True), headers=headers,
                must_refuse=True,
            )  # fmt: skip
