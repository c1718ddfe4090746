"""Helpers shared by the SDK tests: submissions, card-number strategies, raw-DB scans."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from cartback import DomainEvent, Settlement, Store, contains_card_number

US_SELLER = "us"
ID_KEYS = frozenset({"id", "cart_id", "event_id", "seq"})
"""Generated identifiers: random, never user data, so scans skip them."""


def submission(
    *,
    email: str | None = "alice@example.com",
    country: str | int | None = "US",
    form_id: str = "checkout",
    seller: str | None = US_SELLER,
    **extra: Any,
) -> dict[str, Any]:
    """A JSON-like submission as the snippet sends it, eligible by default."""
    fields: dict[str, Any] = {}
    if email is not None:
        fields["email"] = email
    if country is not None:
        fields["country"] = country
    fields.update(extra.pop("fields", {}))
    body: dict[str, Any] = {"form_id": form_id, "fields": fields}
    if seller is not None:
        body["seller"] = seller
    body.update(extra)
    return body


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_ok(digits: str) -> bool:
    """A plain reference Luhn check, independent of the SDK's."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


ISSUED_RANGES: tuple[tuple[str, frozenset[int]], ...] = (
    # (first prefix-last prefix, lengths), per network, written out from the sources the
    # SDK cites (Wikipedia's "Payment card number" IIN table, braintree/credit-card-type),
    # independently of the SDK's table, so that the two are checked against each other.
    ("1-1", frozenset({15})),  # UATP
    ("1800-1800", frozenset(range(15, 20))),  # JCB
    ("2131-2131", frozenset(range(15, 20))),  # JCB
    ("1946-1946", frozenset({16, 18, 19})),  # GPN
    ("2200-2204", frozenset(range(16, 20))),  # Mir
    ("2205-2205", frozenset({16})),  # BORICA
    ("2221-2720", frozenset({16})),  # Mastercard
    ("300-305", frozenset(range(14, 20))),  # Diners Club
    ("309-309", frozenset(range(14, 20))),  # Diners Club
    ("36-36", frozenset(range(14, 20))),  # Diners Club International
    ("38-39", frozenset(range(14, 20))),  # Diners Club
    ("31-31", frozenset({19})),  # China T-Union
    ("34-34", frozenset({15})),  # American Express
    ("37-37", frozenset({15})),  # American Express
    ("3528-3589", frozenset(range(16, 20))),  # JCB
    ("4-4", frozenset({13, 16, 18, 19})),  # Visa
    ("50-50", frozenset(range(13, 20))),  # Maestro
    ("51-55", frozenset({16})),  # Mastercard
    ("56-59", frozenset(range(13, 20))),  # Maestro
    ("6-6", frozenset(range(13, 20))),  # Maestro, Discover, UnionPay, RuPay, Troy, ...
    ("810-810", frozenset(range(14, 20))),  # UnionPay
    ("8110-8171", frozenset(range(14, 20))),  # UnionPay
    ("81-82", frozenset({16})),  # RuPay
    ("8600-8600", frozenset({16})),  # UzCard
    ("9360-9360", frozenset(range(16, 20))),  # GPN national IIN
    ("9704-9704", frozenset({16, 19})),  # Napas
    ("9792-9792", frozenset({16})),  # Troy
    ("9860-9860", frozenset({16})),  # Humo
)
"""Issued card-number ranges: which first digits, at which lengths (13-19 digits)."""


def issued(digits: str) -> bool:
    """Whether ASCII ``digits`` are a Luhn-valid number of an issued range."""
    for span, lengths in ISSUED_RANGES:
        first, last = span.split("-")
        head = digits[: len(first)]
        if len(digits) in lengths and int(first) <= int(head) <= int(last):
            return luhn_ok(digits)
    return False


SEPARATOR_CHARS = " \t-."
"""What may stand between two digits of a card number, up to four of them in a row."""
OTHER_DIGITS = ("０", "٠", "०")
"""The zeros of full-width, Arabic-Indic and Devanagari digits (each script's 0-9 follow)."""


@st.composite
def issued_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of an issued range, as ASCII digits."""
    span, lengths = draw(st.sampled_from(ISSUED_RANGES))
    first, last = span.split("-")
    length = draw(st.sampled_from(sorted(lengths)))
    prefix = str(draw(st.integers(int(first), int(last)))).zfill(len(first))
    size = length - len(prefix) - 1
    payload = prefix + draw(st.text(alphabet="0123456789", min_size=size, max_size=size))
    return payload + luhn_check_digit(payload)


@st.composite
def typed(draw: st.DrawFn, digits: str, *, scripts: bool = False) -> str:
    """``digits`` as someone might type them: any separators (up to four between two
    digits, often none), and with ``scripts`` sometimes in another script's digits."""
    gaps = st.one_of(st.just(""), st.text(alphabet=SEPARATOR_CHARS, min_size=1, max_size=4))
    if scripts and draw(st.booleans()):
        zero = ord(draw(st.sampled_from(OTHER_DIGITS)))
        digits = "".join(chr(zero + int(digit)) for digit in digits)
    return digits[0] + "".join(draw(gaps) + digit for digit in digits[1:])


def digits_of(text: str) -> str:
    """The decimal digits of ``text`` (any script), as ASCII, in order."""
    return "".join(str(int(char)) for char in text if char.isdecimal())


def raw_bytes(db_path: Path) -> bytes:
    """The SQLite file and its -wal and -shm companions, as bytes on disk."""
    data = b""
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(db_path) + suffix)
        if path.exists():
            data += path.read_bytes()
    return data


@contextlib.contextmanager
def reader(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A separate read-only connection to the store's file."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()


def table_names(db: sqlite3.Connection) -> list[str]:
    """Every user table of the database."""
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return [str(name) for (name,) in rows]


def _walk_strings(value: object, key: str | None = None) -> Iterator[str]:
    if key in ID_KEYS:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, dict):
        for child_key, child in value.items():
            yield str(child_key)
            yield from _walk_strings(child, str(child_key))
    elif isinstance(value, list):
        for child in value:
            yield from _walk_strings(child)


def _cells(db_path: Path) -> Iterator[tuple[str, str, object]]:
    """``(table, column, value)`` for every non-NULL cell of every table."""
    with reader(db_path) as db:
        for table in table_names(db):
            cursor = db.execute(f"SELECT * FROM {table}")
            columns = [str(description[0]) for description in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        yield table, column, value


def stored_strings(db_path: Path) -> Iterator[tuple[str, str, str]]:
    """``(table, column, text)`` for every stored value, JSON columns decoded.

    Generated id columns and keys (``id``, ``cart_id``, ``event_id``, ``seq``) are skipped.
    """
    for table, column, value in _cells(db_path):
        if column in ID_KEYS:
            continue
        if column in ("body", "payload"):
            for text in _walk_strings(json.loads(str(value))):
                yield table, column, text
        else:
            yield table, column, str(value)


def card_numbers_stored(db_path: Path) -> list[tuple[str, str, str]]:
    """Every stored value in which ``contains_card_number`` finds a card number."""
    return [hit for hit in stored_strings(db_path) if contains_card_number(hit[2])]


def digits_stored(db_path: Path) -> list[str]:
    """The digits of every stored value (as ``digits_of``), ids skipped: a card number
    stored in any form, whatever its separators, shows up as a substring of one of them."""
    return [digits_of(text) for _, _, text in stored_strings(db_path)]


def rows_mentioning(db_path: Path, needle: str) -> list[tuple[str, str]]:
    """``(table, column)`` of every stored value containing ``needle`` (case-insensitive)."""
    folded = needle.casefold()
    return [
        (table, column)
        for table, column, value in _cells(db_path)
        if folded in str(value).casefold()
    ]


_PROBE_TIME = datetime(2999, 1, 1, tzinfo=UTC)


def outbox(store: Store) -> list[DomainEvent]:
    """Every event in the store's outbox, oldest first, read by a consumer of its own
    (so the other consumers, and the next call, still see them all)."""
    name = "probe-" + secrets.token_hex(4)
    store.register_consumer(name, start="beginning")
    found: list[DomainEvent] = []
    while batch := store.claim(name, owner="probe", now=_PROBE_TIME, limit=1000):
        found += [delivery.event for delivery in batch]
        store.settle(name, [Settlement.done(d.seq) for d in batch], now=_PROBE_TIME)
    return found
