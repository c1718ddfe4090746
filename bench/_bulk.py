"""Bulk-load a store with seeded, realistic carts, straight into the schema.

Capturing a million carts through ``Cartback.capture`` would take hours; this writes the
rows the store itself would have written (the same tables, columns and JSON bodies: a
self-check parses a sample of every table's bodies with the store's models and compares
them with what those models write back), with ``executemany`` in large transactions
(SQLite) or ``COPY`` (PostgreSQL), the secondary indexes dropped during the load and
created again from the store's own definitions afterwards.

What a store of ``Shape(carts=N, due=D)`` holds (``NOW`` is Monday 2 November 2026,
19:00 UTC; everything seeded):

- ``N`` carts over the 90 days before ``NOW`` on four order forms and twenty products,
  with names, a US, Canadian or British address and phone, cart values 19.90 to 249;
  emails unique per prospect, one prospect in ten has a second cart on another form;
  ``ordered_share`` of them ordered (order id, revenue, order time); each with its
  browser session (``cart_sessions``).
- Consent: an email ``granted`` ledger entry (the form's newsletter box) for 40% of
  prospects.
- One enrolment per cart in the shipped conversational flow (one email three hours
  after the abandonment):
  - the first ``D`` carts were captured 3 to 27 hours before ``NOW`` and are due: still
    at their first step, due three hours after capture (all US, so email is allowed);
  - carts captured in the last three hours wait, due three hours after capture;
  - of the other open carts, one in five was deferred and waits, due up to seven days
    ahead (so the due index holds about N/5 rows that are not due), the rest finished
    (``completed``) with their email sent;
  - ordered carts finished (``ordered``), with the email sent when the order came after
    it.
- Each sent email: its message record, and engagements (delivered 90%, opened 35%,
  clicked 12%; an ordered cart's order follows its click when there is one).

No outbox events, deliveries, receipts or consumers: those of a real store are short-lived
(delivered, purged) and a bench starts from none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from cartback import PostgresStore, SQLiteStore
from cartback._dispatcher import message_id
from cartback._models import Cart, ConsentEvent, MessageRecord
from cartback.flows import Enrolment
from cartback.store._postgres_schema import MIGRATIONS as PG_MIGRATIONS
from cartback.store._sqlite_schema import MIGRATIONS as SQLITE_MIGRATIONS

NOW: Final = datetime(2026, 11, 2, 19, 0, tzinfo=UTC)
"""The moment every bench runs at (its clock)."""
DAYS: Final = 90
LOADER_VERSION: Final = 1
"""Bump when the rows change, so cached files are rebuilt."""

_FORMS: Final = ("checkout", "checkout", "course-signup", "webinar", "upsell")
_PRODUCTS: Final = tuple(
    (f"p{n:02d}", name, Decimal(value))
    for n, (name, value) in enumerate(
        [
            ("Sourdough course", "49.00"),
            ("Sourdough course, second edition", "129.00"),
            ("Starter kit", "19.90"),
            ("Baking masterclass", "249.00"),
            ("Bread basket", "34.50"),
        ]
        * 4
    )
)
_FIRST: Final = ("Ana", "Ben", "Chloé", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jon")
_LAST: Final = ("Lopez", "Smith", "Nguyen", "Müller", "Okafor", "Rossi", "Kim", "Brown")
_DOMAINS: Final = ("example.com", "mail.example", "post.example", "inbox.example")
# (country, state, city, postal code, phone format, time zone, currency)
_PLACES: Final = (
    ("US", "OR", "Portland", "97201", "+1503555{:04d}", "America/Los_Angeles", "USD"),
    ("US", "NY", "New York", "10001", "+1212555{:04d}", "America/New_York", "USD"),
    ("US", "IL", "Chicago", "60601", "+1312555{:04d}", "America/Chicago", "USD"),
    ("US", "TX", "Austin", "73301", "+1512555{:04d}", "America/Chicago", "USD"),
    ("CA", "ON", "Toronto", "M5H 2N2", "+1416555{:04d}", "America/Toronto", "CAD"),
    ("GB", None, "Leeds", "LS1 4AP", "+447700900{:03d}", "Europe/London", "GBP"),
)
_LETTERS: Final = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


@dataclass(frozen=True)
class Shape:
    """What to load."""

    carts: int
    """Carts in all."""
    due: int = 0
    """Of those, enrolments due at ``NOW``."""
    ordered_share: float = 0.12
    """Share of the other carts that were ordered."""
    seed: int = 5
    """The random seed."""

    @property
    def key(self) -> str:
        """Names a cached file: the shape, the loader and the schema version."""
        share = f"{self.ordered_share:.3f}".replace(".", "")
        version = f"s{len(SQLITE_MIGRATIONS)}l{LOADER_VERSION}"
        return f"{version}-{self.carts}-{self.due}-{share}-{self.seed}"


@dataclass
class Rows:
    """One batch of rows per table (times as aware datetimes)."""

    carts: list[tuple[Any, ...]] = field(default_factory=list)
    cart_sessions: list[tuple[Any, ...]] = field(default_factory=list)
    consent_events: list[tuple[Any, ...]] = field(default_factory=list)
    enrolments: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    engagements: list[tuple[Any, ...]] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(rows) for rows in self.tables().values())

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            "carts": self.carts,
            "cart_sessions": self.cart_sessions,
            "consent_events": self.consent_events,
            "enrolments": self.enrolments,
            "messages": self.messages,
            "engagements": self.engagements,
        }


COLUMNS: Final = {
    "carts": "id, prospect, form_id, product_id, status, created_at, updated_at, body",
    "cart_sessions": "session_id, cart_id",
    "consent_events": "id, prospect, channel, action, at, session_id, body",
    "enrolments": "cart_id, prospect, flow_id, flow_version, due_at, exit_reason, body",
    "messages": "id, prospect, cart_id, channel, status, at, body",
    "engagements": "message_id, cart_id, kind, at, utm",
}
"""The columns the loader fills, per table (as the store's ``apply`` does)."""
_MODELS: Final[dict[str, type[BaseModel]]] = {
    "carts": Cart,
    "consent_events": ConsentEvent,
    "enrolments": Enrolment,
    "messages": MessageRecord,
}


def _stamp(value: datetime) -> str:
    """A time as pydantic writes it in a JSON body (whole seconds here)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Ids:
    """Ids as the SDK makes them (prefix, 13 letters of time, 16 of randomness), seeded."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last = 0

    def new(self, prefix: str, at: datetime) -> str:
        micros = max(int(at.timestamp() * 1_000_000), self._last + 1)
        self._last = micros
        return prefix + f"{micros:013x}{self._rng.getrandbits(64):016x}".translate(_LETTERS)


def generate(shape: Shape, *, batch: int = 50_000) -> Iterator[Rows]:
    """The store's rows for ``shape``, ``batch`` carts at a time, oldest carts first
    within each batch (ids sort in creation order, as the SDK's do)."""
    rng = random.Random(shape.seed)
    ids = _Ids(random.Random(shape.seed + 1))
    for start in range(0, shape.carts, batch):
        rows = Rows()
        plan = []
        for number in range(start, min(shape.carts, start + batch)):
            if number < shape.due:
                age = timedelta(hours=3, seconds=rng.randrange(1, 24 * 3600))
            else:
                age = timedelta(seconds=rng.randrange(60, DAYS * 24 * 3600))
            plan.append((NOW - age, number))
        plan.sort()
        previous: tuple[str, str] | None = None
        for created, number in plan:
            previous = _cart(rows, shape, rng, ids, number, created, previous)
        yield rows


def _cart(
    rows: Rows,
    shape: Shape,
    rng: random.Random,
    ids: _Ids,
    number: int,
    created: datetime,
    previous: tuple[str, str] | None,
) -> tuple[str, str] | None:
    due = number < shape.due
    place = _PLACES[rng.randrange(4) if due else rng.choice((0, 0, 1, 1, 2, 3, 4, 5))]
    country, state, city, postal, phone_format, zone, currency = place
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    form = rng.choice(_FORMS)
    reused = previous is not None and number % 10 == 9 and not due
    if previous is not None and reused:
        email, other_form = previous  # a second cart of the last prospect, another form
        form = "upsell" if other_form != "upsell" else "webinar"
    else:
        local = f"{first}.{last}".lower().replace("é", "e").replace("ü", "u")
        email = f"{local}{number}@{_DOMAINS[number % len(_DOMAINS)]}"
    product_id, product_name, value = rng.choice(_PRODUCTS)
    ordered = not due and created < NOW - timedelta(hours=1) and rng.random() < shape.ordered_share
    cart_id = ids.new("cart_", created)
    session = ids.new("ses_", created)
    sent_at = created + timedelta(hours=3)
    age = NOW - created
    clicked_at: datetime | None = None
    ordered_at: datetime | None = None
    if ordered:
        ordered_at = min(created + timedelta(minutes=rng.randrange(10, 96 * 60)), NOW)
    # The email went out for every cart old enough, but those ordered before it.
    emailed = age > timedelta(hours=3) and not due and (ordered_at is None or ordered_at > sent_at)
    if emailed:
        clicked_at = _message(rows, rng, cart_id, email, sent_at, ordered_at)
    if ordered_at is not None and clicked_at is not None and ordered_at <= clicked_at:
        ordered_at = min(clicked_at + timedelta(minutes=rng.randrange(2, 120)), NOW)
    updated = ordered_at or created
    body: dict[str, Any] = {
        "id": cart_id,
        "status": "ordered" if ordered else "open",
        "created_at": _stamp(created),
        "updated_at": _stamp(updated),
        "contact": {
            "email": email,
            "phone": phone_format.format(number % (1000 if country == "GB" else 10_000)),
            "phone_e164": True,
            "first_name": first,
            "last_name": last,
            "street": f"{rng.randrange(1, 999)} Market Street",
            "house_number": None,
            "city": city,
            "state": state,
            "postal_code": postal,
            "country": country,
            "address_extra": {},
        },
        "context": {
            "form_id": form,
            "product_id": product_id,
            "product_name": product_name,
            "cart_value": str(value),
            "currency": currency,
            "seller": "us",
            "step": rng.choice((None, 1, 2, 2, 3)),
            "last_field": rng.choice(("email", "phone", "postal_code", "card_name")),
        },
        "newsletter_opt_in": rng.random() < 0.4,
        "session_id": session,
        "capture_count": rng.choice((1, 1, 1, 2, 3)),
        "order_id": f"ord-{number}" if ordered else None,
        "revenue": str(value) if ordered else None,
        "ordered_at": _stamp(ordered_at) if ordered_at is not None else None,
        "submitted_at": None,
        "payment_failures": [],
    }
    status = body["status"]
    rows.carts.append(
        (cart_id, email, form, product_id, status, created, updated, _dump(body))
    )  # fmt: skip
    rows.cart_sessions.append((session, cart_id))
    if body["newsletter_opt_in"]:
        consent_id = ids.new("cns_", created)
        event = {
            "id": consent_id,
            "prospect": email,
            "channel": "email",
            "action": "granted",
            "at": _stamp(created),
            "source": {"kind": "form", "ref": form},
            "text_version": "newsletter-v1",
            "session_id": session,
        }
        rows.consent_events.append(
            (consent_id, email, "email", "granted", created, session, _dump(event))
        )
    _enrolment(rows, rng, cart_id, email, zone, created, due, ordered_at, emailed)
    return None if reused else (email, form)


def message_id_of(cart_id: str) -> str:
    """The id of a cart's conversational email (as the dispatcher derives it)."""
    basis = f"{cart_id}\x00conversational\x001\x00email"
    return "msg_" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def _message(
    rows: Rows,
    rng: random.Random,
    cart_id: str,
    email: str,
    at: datetime,
    ordered_at: datetime | None,
) -> datetime | None:
    """Record the email sent at ``at`` and its engagements; when it was clicked."""
    msg_id = message_id_of(cart_id)
    provider = "dry-run-" + hashlib.sha256(msg_id.encode()).hexdigest()[:24]
    record = {
        "id": msg_id,
        "cart_id": cart_id,
        "prospect": email,
        "channel": "email",
        "status": "sent",
        "at": _stamp(at),
        "flow_id": "conversational",
        "flow_version": 1,
        "step_id": "email",
        "variant": None,
        "template": "conversational",
        "reason": None,
        "provider_id": provider,
        "coupon_code": None,
        "attempts": 1,
    }
    rows.messages.append((msg_id, email, cart_id, "email", "sent", at, _dump(record)))
    clicked: datetime | None = None
    limit = NOW if ordered_at is None else max(ordered_at, at + timedelta(minutes=2))
    for kind, chance in (("delivered", 0.9), ("opened", 0.35), ("clicked", 0.12)):
        boost = 0.5 if ordered_at is not None and kind == "clicked" else 0.0
        if rng.random() < chance + boost:
            moment = min(at + timedelta(minutes=rng.randrange(1, 600)), limit, NOW)
            utm = '{"utm_medium": "email", "utm_source": "cartback"}' if kind == "clicked" else None
            rows.engagements.append((msg_id, cart_id, kind, moment, utm))
            if kind == "clicked":
                clicked = moment
    return clicked


def _enrolment(
    rows: Rows,
    rng: random.Random,
    cart_id: str,
    email: str,
    zone: str,
    created: datetime,
    due: bool,
    ordered_at: datetime | None,
    emailed: bool,
) -> None:
    sent_at = created + timedelta(hours=3)
    runs = [{"step_id": "email", "at": _stamp(sent_at), "outcome": "sent", "reason": None}]
    due_at: datetime | None
    if ordered_at is not None:
        position, since, finished, reason, due_at = None, ordered_at, ordered_at, "ordered", None
        runs = runs if emailed else []
    elif due or NOW - created < timedelta(hours=3):
        position, since, finished, reason, due_at = "wait_3h", created, None, None, sent_at
        runs = []
    elif rng.random() < 0.2:  # deferred (quiet hours, a cap): waits, due later
        position, since, finished, reason = "wait_3h", created, None, None
        due_at = NOW + timedelta(seconds=rng.randrange(60, 7 * 24 * 3600))
        runs = []
    else:
        position, since, finished, reason, due_at = None, sent_at, sent_at, "completed", None
    body = {
        "cart_id": cart_id,
        "prospect": email,
        "flow_id": "conversational",
        "flow_version": 1,
        "started_at": _stamp(created),
        "position": position,
        "since": _stamp(since),
        "time_zone": zone,
        "variant": None,
        "runs": runs,
        "resumed_at": None,
        "finished_at": _stamp(finished) if finished is not None else None,
        "exit_reason": reason,
    }
    rows.enrolments.append(
        (cart_id, email, "conversational", 1, due_at, reason, _dump(body))
    )  # fmt: skip


def check(rows: Rows, *, sample: int = 200) -> None:
    """Raise ``AssertionError`` unless every sampled JSON body is exactly what the store's
    model writes for it (so the loaded rows are shaped as the store's own)."""
    for table, model in _MODELS.items():
        found = rows.tables()[table]
        for row in found[:: max(1, len(found) // sample)]:
            body = row[-1]
            again = model.model_validate_json(body).model_dump_json()
            if again != body:
                raise AssertionError(f"{table} body differs from the model's:\n{body}\n{again}")


# -- SQLite --------------------------------------------------------------------------


def _iso(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


DueRow = tuple[str, datetime, str]
"""An enrolment due at ``NOW`` as loaded: cart id, due time, body (to restore it)."""


def _due(rows: Rows) -> list[DueRow]:
    return [(r[0], r[4], r[6]) for r in rows.enrolments if r[4] is not None and r[4] <= NOW]


def load_sqlite(
    path: Path, shape: Shape, *, progress: Callable[[str], None] = print
) -> tuple[float, list[DueRow]]:
    """Create a SQLite store at ``path`` holding ``shape``; the seconds it took and the
    enrolments due at ``NOW``."""
    due: list[DueRow] = []
    began = time.perf_counter()
    SQLiteStore(path, synchronous="NORMAL").close()  # the schema, by the store's migrations
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")
        tables = tuple(COLUMNS)
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({', '.join('?' * len(tables))})",
            tables,
        ).fetchall()
        for name, _ in indexes:
            db.execute(f"DROP INDEX {name}")
        loaded = 0
        for rows in generate(shape):
            check(rows, sample=20)
            due += _due(rows)
            db.execute("BEGIN")
            for table, found in rows.tables().items():
                if found:
                    width = len(found[0])
                    db.executemany(
                        f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({', '.join('?' * width)})",
                        [tuple(_iso(v) for v in row) for row in found],
                    )
            db.execute("COMMIT")
            loaded += len(rows.carts)
            progress(f"  sqlite: {loaded:,} carts loaded ({time.perf_counter() - began:.0f} s)")
        for _, sql in indexes:
            db.execute(sql)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.perf_counter() - began, due


@dataclass(frozen=True)
class Loaded:
    """A loaded store."""

    database: str
    """The SQLite file's path or the PostgreSQL DSN."""
    seconds: float | None
    """How long loading took (``None``: the SQLite file came from the cache)."""
    due: list[DueRow]
    """The enrolments due at ``NOW``, as loaded."""


def cached_sqlite(
    shape: Shape, *, folder: Path | None = None, progress: Callable[[str], None] = print
) -> Loaded:
    """A SQLite file holding ``shape``, from the cache folder when built before. The
    cache (``$TMPDIR/cartback-bench``) is keyed by shape, loader and schema version."""
    base = folder or Path(tempfile.gettempdir()) / "cartback-bench"
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{shape.key}.sqlite3"
    side = base / f"{shape.key}.due.json"
    if path.exists() and side.exists():
        due = [(c, datetime.fromisoformat(d), b) for c, d, b in json.loads(side.read_text())]
        return Loaded(str(path), None, due)
    partial = base / f"{shape.key}.partial.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{partial}{suffix}")
    seconds, due = load_sqlite(partial, shape, progress=progress)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{partial}{suffix}")
    side.write_text(json.dumps([(c, d.isoformat(), b) for c, d, b in due]))
    partial.rename(path)
    return Loaded(str(path), seconds, due)


# -- PostgreSQL ----------------------------------------------------------------------


def load_postgres(dsn: str, shape: Shape, *, progress: Callable[[str], None] = print) -> Loaded:
    """Create a store in ``dsn``'s schema (empty) holding ``shape``, by ``COPY``; then
    ``VACUUM ANALYZE`` (what autovacuum does after a large load)."""
    import psycopg

    due: list[DueRow] = []
    began = time.perf_counter()
    PostgresStore(dsn, pool_size=1).close()  # the schema, by the store's migrations
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = list(COLUMNS)
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (tables,),
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        loaded = 0
        for rows in generate(shape):
            check(rows, sample=20)
            due += _due(rows)
            with conn.transaction(), conn.cursor() as cursor:
                for table, found in rows.tables().items():
                    if not found:
                        continue
                    with cursor.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                        for row in found:
                            copy.write_row(row)
            loaded += len(rows.carts)
            progress(f"  postgres: {loaded:,} carts loaded ({time.perf_counter() - began:.0f} s)")
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("VACUUM ANALYZE")
    return Loaded(dsn, time.perf_counter() - began, due)


def schema_versions() -> tuple[int, int]:
    """The SQLite and PostgreSQL schema versions the loader writes into."""
    return len(SQLITE_MIGRATIONS), len(PG_MIGRATIONS)


def table_counts(rows: Sequence[Rows]) -> dict[str, int]:
    """Rows per table over some batches (for the benches' description lines)."""
    counts: dict[str, int] = {}
    for batch in rows:
        for table, found in batch.tables().items():
            counts[table] = counts.get(table, 0) + len(found)
    return counts


def message_id_check() -> None:
    """The loader's message ids are the dispatcher's (an enrolment's email step)."""
    enrolment = Enrolment(
        cart_id="cart_x",
        prospect="a@example.com",
        flow_id="conversational",
        flow_version=1,
        started_at=NOW,
        position="wait_3h",
        since=NOW,
    )
    if message_id(enrolment, "email") != message_id_of("cart_x"):
        raise AssertionError("the loader's message ids differ from the dispatcher's")
