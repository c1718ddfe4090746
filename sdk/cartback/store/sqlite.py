"""The embedded default store: one SQLite file, WAL, migrations in code."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from cartback._contact_values import normalize_email
from cartback._errors import CartNotFoundError, ConfigurationError, InvalidInputError, StoreError
from cartback._ids import new_id
from cartback._merge import merge_into, new_cart
from cartback._models import Cart, ConsentEvent, OutboxEvent
from cartback._types import EventType
from cartback.capture import CapturePlan
from cartback.consent import decide_consent
from cartback.store._protocol import (
    CartPage,
    CartQuery,
    ErasureReport,
    OrderClosure,
    SaveOutcome,
    SaveStatus,
)
from cartback.store._schema import MIGRATIONS

__all__ = ["SQLiteStore"]

MAX_PAGE_SIZE = 1000


def _ts(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order."""
    if value.tzinfo is None:
        raise InvalidInputError(
            "datetimes must be timezone-aware", field="at", reason="naive_datetime"
        )
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _bound(value: date | datetime, *, end: bool) -> str:
    if isinstance(value, datetime):
        return _ts(value)
    return _ts(datetime.combine(value, time.max if end else time.min, tzinfo=UTC))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SQLiteStore:
    """A ``Store`` in one SQLite file (or ``":memory:"``).

    WAL journal; ``synchronous="FULL"`` by default so that a write acknowledged to a
    client survives a crash or power loss (``"NORMAL"`` survives a process crash only,
    and is faster). One connection guarded by a lock: SQLite serialises writers anyway.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError("synchronous must be FULL or NORMAL", setting="synchronous")
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=busy_timeout_ms / 1000,
        )
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if self._path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        self._db.execute("PRAGMA foreign_keys = ON")
        # Erased rows are overwritten, not left in free pages of the file.
        self._db.execute("PRAGMA secure_delete = ON")
        self._migrate()

    # -- lifecycle ---------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > len(MIGRATIONS):
                self._db.close()
                raise StoreError(
                    f"database schema version {version} is newer than this cartback "
                    f"({len(MIGRATIONS)}); upgrade cartback"
                )
            for number in range(version + 1, len(MIGRATIONS) + 1):
                with self._transaction() as db:
                    # One statement at a time: executescript() would commit mid-migration.
                    for statement in MIGRATIONS[number - 1].split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def check_integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` verdict (``"ok"`` when healthy)."""
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writes --------------------------------------------------------------------

    def _outbox(
        self,
        db: sqlite3.Connection,
        type_: EventType,
        at: datetime,
        payload: dict[str, Any] | str,
        *,
        cart_id: str | None,
        prospect: str | None,
        session_id: str | None = None,
    ) -> None:
        """Append an event; ``payload`` is a JSON-able dict or JSON text already made."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        db.execute(
            "INSERT INTO outbox (event_id, type, occurred_at, cart_id, prospect, session_id,"
            " payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_id("evt_"), type_, _ts(at), cart_id, prospect, session_id, text),
        )

    def _write_cart(self, db: sqlite3.Connection, cart: Cart, *, insert: bool) -> str:
        """Insert or update the cart's row; returns the cart as JSON text."""
        prospect = cart.contact.prospect_key
        body = cart.model_dump_json()
        row = (
            prospect,
            cart.context.form_id,
            cart.context.product_id,
            cart.status,
            _ts(cart.created_at),
            _ts(cart.updated_at),
            body,
            cart.id,
        )
        if insert:
            db.execute(
                "INSERT INTO carts (prospect, form_id, product_id, status, created_at,"
                " updated_at, body, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        else:
            db.execute(
                "UPDATE carts SET prospect = ?, form_id = ?, product_id = ?, status = ?,"
                " created_at = ?, updated_at = ?, body = ? WHERE id = ?",
                row,
            )
        if cart.session_id:
            db.execute(
                "INSERT OR IGNORE INTO cart_sessions (session_id, cart_id) VALUES (?, ?)",
                (cart.session_id, cart.id),
            )
        return body

    def _append_consent(
        self, db: sqlite3.Connection, events: Sequence[ConsentEvent], *, changes_only: bool
    ) -> int:
        written = 0
        for event in events:
            if changes_only:
                # The ledger's own rule decides what is in force (no events: nothing is).
                rows = db.execute(
                    "SELECT body FROM consent_events WHERE prospect = ? AND channel = ?",
                    (event.prospect, event.channel),
                ).fetchall()
                history = [ConsentEvent.model_validate_json(body) for (body,) in rows]
                in_force = decide_consent(history, event.channel, event.at, defaults={}).allowed
                if in_force == (event.action == "granted"):
                    continue
            body = event.model_dump_json()
            db.execute(
                "INSERT INTO consent_events (prospect, channel, action, at, session_id, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    event.prospect,
                    event.channel,
                    event.action,
                    _ts(event.at),
                    event.session_id,
                    body,
                ),
            )
            self._outbox(
                db,
                "consent.changed",
                event.at,
                body,  # the row's JSON: serialised once
                cart_id=None,
                prospect=event.prospect,
                session_id=event.session_id,
            )
            written += 1
        return written

    def _save_one(self, db: sqlite3.Connection, plan: CapturePlan) -> SaveOutcome:
        if plan.contact is None or plan.context is None:
            raise InvalidInputError(
                "only an eligible capture can be saved", field="plan", reason="not_eligible"
            )
        prospect = plan.contact.prospect_key
        row = db.execute(
            "SELECT body FROM carts WHERE prospect = ? AND form_id = ? AND status = 'open'",
            (prospect, plan.context.form_id),
        ).fetchone()
        status: SaveStatus
        body = ""
        if row is None:
            cart = new_cart(plan, new_id("cart_"))
            body = self._write_cart(db, cart, insert=True)
            status = "stored"
        else:
            existing = Cart.model_validate_json(row[0])
            merged = merge_into(existing, plan)
            if merged is None:
                cart, status = existing, "unchanged"
            else:
                cart, status = merged, "updated"
                body = self._write_cart(db, cart, insert=False)
        if status != "unchanged":
            self._outbox(
                db,
                "cart.captured" if status == "stored" else "cart.updated",
                plan.captured_at,
                '{"cart":' + body + "}",  # the row's JSON: serialised once
                cart_id=cart.id,
                prospect=prospect,
                session_id=plan.session_id,
            )
        consents = self._append_consent(db, plan.consents, changes_only=True)
        return SaveOutcome(status=status, cart=cart, consents_recorded=consents)

    def save_capture(self, plan: CapturePlan) -> SaveOutcome:
        """Merge into the open cart of this prospect and form, or open one."""
        with self._transaction() as db:
            return self._save_one(db, plan)

    def save_captures(self, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
        """Several captures in one transaction: one commit, one fsync."""
        with self._transaction() as db:
            return [self._save_one(db, plan) for plan in plans]

    def record_click(self, cart_id: str, at: datetime, utm: Mapping[str, str]) -> None:
        """Record a recovery-link click with its UTM parameters."""
        with self._transaction() as db:
            row = db.execute("SELECT prospect FROM carts WHERE id = ?", (cart_id,)).fetchone()
            if row is None:
                raise CartNotFoundError("no such cart", cart_id=cart_id)
            clean = {str(key): str(value) for key, value in utm.items()}
            db.execute(
                "INSERT INTO link_clicks (cart_id, at, utm) VALUES (?, ?, ?)",
                (cart_id, _ts(at), json.dumps(clean, sort_keys=True)),
            )
            self._outbox(
                db,
                "link.clicked",
                at,
                {"cart_id": cart_id, "at": _ts(at), "utm": clean},
                cart_id=cart_id,
                prospect=row[0],
            )

    def clicks(self, cart_id: str) -> list[tuple[datetime, dict[str, str]]]:
        """A cart's recovery-link clicks, oldest first, with their UTM parameters."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, utm FROM link_clicks WHERE cart_id = ? ORDER BY seq", (cart_id,)
            ).fetchall()
        return [(datetime.fromisoformat(at), json.loads(utm)) for at, utm in rows]

    def append_consent(self, events: Sequence[ConsentEvent]) -> int:
        """Append consent events, each with a ``consent.changed`` outbox event."""
        with self._transaction() as db:
            return self._append_consent(db, events, changes_only=False)

    def close_open_carts(
        self,
        closure: OrderClosure,
        *,
        prospect: str | None = None,
        session_id: str | None = None,
        form_id: str | None = None,
    ) -> list[Cart]:
        """Mark the matching open carts ordered and emit ``cart.ordered`` for each."""
        if prospect is None and session_id is None:
            raise InvalidInputError(
                "name a prospect or a session", field="prospect", reason="missing"
            )
        sql = "SELECT body FROM carts WHERE status = 'open'"
        params: list[str] = []
        if prospect is not None:
            sql += " AND prospect = ?"
            params.append(prospect)
        if session_id is not None:
            sql += " AND id IN (SELECT cart_id FROM cart_sessions WHERE session_id = ?)"
            params.append(session_id)
        if form_id is not None:
            sql += " AND form_id = ?"
            params.append(form_id)
        closed: list[Cart] = []
        with self._transaction() as db:
            for (body,) in db.execute(sql, params).fetchall():
                cart = Cart.model_validate_json(body).model_copy(
                    update={
                        "status": "ordered",
                        "order_id": closure.order_id,
                        "revenue": closure.revenue,
                        "ordered_at": closure.at,
                    }
                )
                body = self._write_cart(db, cart, insert=False)
                self._outbox(
                    db,
                    "cart.ordered",
                    closure.at,
                    '{"cart":' + body + "}",
                    cart_id=cart.id,
                    prospect=cart.contact.prospect_key,
                )
                closed.append(cart)
        return closed

    # -- reads ---------------------------------------------------------------------

    def consent_events(self, prospect: str) -> list[ConsentEvent]:
        """A prospect's consent events, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM consent_events WHERE prospect = ? ORDER BY at, seq",
                (prospect,),
            ).fetchall()
        return [ConsentEvent.model_validate_json(body) for (body,) in rows]

    def get_cart(self, cart_id: str) -> Cart:
        """One cart by id."""
        with self._lock:
            row = self._db.execute("SELECT body FROM carts WHERE id = ?", (cart_id,)).fetchone()
        if row is None:
            raise CartNotFoundError("no such cart", cart_id=cart_id)
        return Cart.model_validate_json(row[0])

    @staticmethod
    def _where(query: CartQuery) -> tuple[str, list[str]]:
        clauses: list[str] = []
        params: list[str] = []
        if query.start is not None:
            clauses.append("created_at >= ?")
            params.append(_bound(query.start, end=False))
        if query.end is not None:
            clauses.append("created_at <= ?")
            params.append(_bound(query.end, end=True))
        if query.email:
            email = query.email.strip()
            clauses.append("prospect = ?")
            params.append((normalize_email(email) or email).lower())
        if query.email_contains:
            clauses.append("prospect LIKE ? ESCAPE '\\'")
            params.append("%" + _escape_like(query.email_contains.strip().lower()) + "%")
        if query.form_id is not None:
            clauses.append("form_id = ?")
            params.append(query.form_id)
        if query.product_id is not None:
            clauses.append("product_id = ?")
            params.append(query.product_id)
        if query.status is not None:
            clauses.append("status = ?")
            params.append(query.status)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def list_carts(self, query: CartQuery, *, limit: int = 50, offset: int = 0) -> CartPage:
        """Carts matching ``query``, newest first."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(
                f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit", reason="out_of_range"
            )
        if offset < 0:
            raise InvalidInputError(
                "offset must not be negative", field="offset", reason="out_of_range"
            )
        where, params = self._where(query)
        with self._lock:
            (total,) = self._db.execute(f"SELECT count(*) FROM carts{where}", params).fetchone()  # noqa: S608
            rows = self._db.execute(
                f"SELECT body FROM carts{where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
                [*params, limit, offset],
            ).fetchall()
        items = tuple(Cart.model_validate_json(body) for (body,) in rows)
        return CartPage(items=items, total=int(total), limit=limit, offset=offset)

    def count_carts_by(
        self, key: Literal["product_id", "form_id"], query: CartQuery
    ) -> list[tuple[str | None, int]]:
        """Matching carts counted per product or per form, most first."""
        if key not in ("product_id", "form_id"):
            raise InvalidInputError("count by product_id or form_id", field="key", reason="invalid")
        where, params = self._where(query)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {key}, count(*) AS n FROM carts{where} GROUP BY {key}"  # noqa: S608
                f" ORDER BY n DESC, {key}",
                params,
            ).fetchall()
        return [(value, int(count)) for value, count in rows]

    # -- erasure and retention -----------------------------------------------------

    def erase_prospect(self, prospect: str) -> ErasureReport:
        """Remove a prospect from carts, the consent ledger and the outbox."""
        with self._transaction() as db:
            carts = db.execute("DELETE FROM carts WHERE prospect = ?", (prospect,)).rowcount
            consents = db.execute(
                "DELETE FROM consent_events WHERE prospect = ?", (prospect,)
            ).rowcount
            outbox = db.execute("DELETE FROM outbox WHERE prospect = ?", (prospect,)).rowcount
        self._checkpoint()
        return ErasureReport(carts=carts, consent_events=consents, outbox_events=outbox)

    def _checkpoint(self) -> None:
        """Move the WAL into the database file and truncate it, so erased values do not
        linger in the log. Best effort: a concurrent reader may postpone it."""
        if self._path != ":memory:":
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget_session(self, session_id: str) -> ErasureReport:
        """Remove the carts a browser session touched, its consent events and their events."""
        with self._transaction() as db:
            cart_ids = [
                cart_id
                for (cart_id,) in db.execute(
                    "SELECT cart_id FROM cart_sessions WHERE session_id = ?", (session_id,)
                ).fetchall()
            ]
            outbox = 0
            for cart_id in cart_ids:
                outbox += db.execute("DELETE FROM outbox WHERE cart_id = ?", (cart_id,)).rowcount
            carts = sum(
                db.execute("DELETE FROM carts WHERE id = ?", (cart_id,)).rowcount
                for cart_id in cart_ids
            )
            consents = db.execute(
                "DELETE FROM consent_events WHERE session_id = ?", (session_id,)
            ).rowcount
            outbox += db.execute("DELETE FROM outbox WHERE session_id = ?", (session_id,)).rowcount
        self._checkpoint()
        return ErasureReport(carts=carts, consent_events=consents, outbox_events=outbox)

    def purge(self, older_than: datetime) -> int:
        """Remove carts last updated before ``older_than``, with their outbox events."""
        cutoff = _ts(older_than)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM outbox WHERE cart_id IN (SELECT id FROM carts WHERE updated_at < ?)",
                (cutoff,),
            )
            db.execute(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND occurred_at < ?", (cutoff,)
            )
            return db.execute("DELETE FROM carts WHERE updated_at < ?", (cutoff,)).rowcount

    # -- outbox --------------------------------------------------------------------

    def pending_events(self, limit: int = 100) -> list[OutboxEvent]:
        """Undelivered outbox events, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, type, occurred_at, cart_id, payload FROM outbox"
                " WHERE delivered_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            OutboxEvent(
                seq=seq,
                event_id=event_id,
                type=type_,
                occurred_at=datetime.fromisoformat(occurred_at),
                cart_id=cart_id,
                payload=json.loads(payload),
            )
            for seq, event_id, type_, occurred_at, cart_id, payload in rows
        ]

    def mark_delivered(self, seqs: Sequence[int], at: datetime) -> None:
        """Acknowledge outbox events by ``seq``."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET delivered_at = ? WHERE seq = ?", [(_ts(at), seq) for seq in seqs]
            )
