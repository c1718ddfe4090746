"""One dispatcher tick with 1,000 enrolments due among 10k, 100k and 1M open carts,
next to floors measured on the same database in the same run.

For each backend and size it prints, in ms (best of ``--rounds``, each round on the
same 1,000 due enrolments, put back as loaded between rounds, untimed):

  tick              ``Dispatcher.tick()`` with senders that accept at once (nothing
                    leaves the machine, nothing is kept; ``--dry-run`` uses
                    ``DryRunSender``, which also describes and keeps each message):
                    lease what is due, read the carts and what the planner reads per
                    prospect, plan, build each email, hand it over, record ``sending``
                    and ``sent``, write the enrolments' new positions and the
                    ``message.sent`` events; the settings' batch is the number due, so
                    one tick does them all
  floor: due query  the bare indexed query that selects the due rows (cart id and body,
                    ``due_at <= now`` by due time), through the driver alone
  floor: write      writing 1,000 message rows in one transaction, through the driver
                    alone (what recording the tick's outcomes costs at the least)
  floor: build      ``build_email()`` alone for the same 1,000 carts (no store): the CPU
                    the messages themselves cost, whatever the database

then tick / floor for each (times: how many floors one tick costs), the time the tick
spent in store calls (the part that must not grow with the number of open carts; its
best round) over the database floors, and the query
plan of the store's claim statement (it must search the ``enrolments_due`` index, not
scan the table). The target (issue 12) is a tick flat across sizes and under 50 ms at
1M. The stores are loaded by ``_bulk.py`` (seeded; "open carts": no cart is ordered;
the SQLite files are cached between runs).

    python bench/bench_tick.py [--sizes 10000,100000,1000000] [--due 1000] [--rounds 5]
                               [--backend sqlite|postgres|both] [--synchronous FULL|NORMAL]
                               [--dry-run] [--postgres-dsn DSN] [--cache DIR]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, cast

import _backends
import _bulk
from _backends import Backend, Raw
from _bulk import message_id_of
from cartback import Cart, Cartback, LinkSigner, ShopSettings, Store
from cartback._dispatcher import Dispatcher, DispatcherSettings, TickReport
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.flows import FlowAssignments, conversational_flow
from cartback.messages import MessageRequest, build_email
from cartback.senders import (
    DryRunLog,
    DryRunSender,
    OutgoingMessage,
    Sender,
    SendResult,
    dry_run_provider_id,
)

SHOP = ShopSettings(
    shop_name="Sourdough School",
    sender_name="Claire",
    sender_email="claire@sourdough.example",
    reply_to="claire@sourdough.example",
    public_url="https://carts.sourdough.example",
)
CLAIM = (
    "SELECT cart_id FROM enrolments WHERE due_at <= ?"
    " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?"
)
"""The claim statement's inner select, as the store runs it (``_sql.claim_enrolments``)."""


FORGET_FLOOR = "DELETE FROM messages WHERE cart_id >= 'cart_floor_' AND cart_id < 'cart_floor`'"
"""Removes the write floor's rows (no ``%``: psycopg would read it as a placeholder)."""


def best(work: Callable[[], object], rounds: int, reset: Callable[[], object]) -> float:
    """The best of ``rounds`` timings of ``work``, ``reset`` run untimed before each."""
    times = []
    for _ in range(rounds):
        reset()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def restore(raw: Raw, due: list[_bulk.DueRow]) -> None:
    """Put the due enrolments back as loaded; forget the tick's messages and events."""
    ids = [(cart_id,) for cart_id, _, _ in due]
    raw.transaction(
        [
            (
                raw.sql(
                    "UPDATE enrolments SET due_at = ?, exit_reason = NULL, lease_owner = NULL,"
                    " lease_until = NULL, body = ? WHERE cart_id = ?"
                ),
                [(raw.ts(at), body, cart_id) for cart_id, at, body in due],
            ),
            (raw.sql("DELETE FROM messages WHERE cart_id = ?"), ids),
            ("DELETE FROM outbox", [()]),
            ("DELETE FROM deliveries", [()]),
            ("UPDATE consumers SET cursor = 0", [()]),
        ]
    )


class Timed:
    """A store whose every call is timed (the part of a tick spent in the store)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return found(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


class Accepting:
    """A sender that accepts every message at once and keeps nothing."""

    def __init__(self, channel: MessageChannel) -> None:
        self.channel: MessageChannel = channel

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        return SendResult.accepted(dry_run_provider_id(idempotency_key))


def dispatcher(
    store: Store, due: int, *, dry_run: bool = False
) -> tuple[Dispatcher, DryRunLog, Timed]:
    log = DryRunLog()
    clock = lambda: _bulk.NOW  # noqa: E731
    timed = Timed(store)
    client = Cartback(cast(Store, timed), clock=clock)
    senders: dict[MessageChannel, Sender] = {
        channel: DryRunSender(channel, log=log, clock=clock) if dry_run else Accepting(channel)
        for channel in MESSAGE_CHANNELS
    }
    settings = DispatcherSettings(
        assignments=FlowAssignments(flows=(conversational_flow(),), default="conversational"),
        shop=SHOP,
        batch=max(due, 1),
    )
    signer = LinkSigner(b"k" * 32)
    return Dispatcher(client, senders, settings, signer=signer, owner="bench"), log, timed


def message_rows(raw: Raw, count: int) -> list[tuple[object, ...]]:
    """``count`` message rows shaped as the tick's (bodies of the same length)."""
    body = '{"id":"msg_x","cart_id":"cart_x","channel":"email","status":"sent"}'.ljust(420)
    at = raw.ts(_bulk.NOW)
    return [
        (f"msg_floor_{n:06d}", f"p{n}@example.com", f"cart_floor_{n}", "email", "sent", at, body)
        for n in range(count)
    ]


def build_all(carts: list[Cart]) -> None:
    signer = LinkSigner(b"k" * 32)
    for cart in carts:
        request = MessageRequest(
            cart=cart,
            message_id=message_id_of(cart.id),
            at=_bulk.NOW,
            flow="conversational",
            step="email",
            template="conversational",
        )
        build_email(request, shop=SHOP, signer=signer, consent={"email": True})


def reasons(report: TickReport) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(report.reasons.items()))


def run_size(backend: Backend, loaded: _bulk.Loaded, size: int, args: argparse.Namespace) -> None:
    raw = Raw(backend, loaded.database)
    store = _backends.open_store(backend, loaded.database, args.synchronous)
    try:
        restore(raw, loaded.due)
        ticker, log, timed = dispatcher(store, len(loaded.due), dry_run=args.dry_run)
        reports: list[TickReport] = []
        in_store: list[float] = []

        def reset() -> None:
            restore(raw, loaded.due)
            log.clear()
            timed.seconds = 0.0

        def one() -> None:
            reports.append(ticker.tick())
            in_store.append(timed.seconds)

        tick = best(one, args.rounds, reset)
        store_part = min(in_store)
        last = reports[-1]
        moment, limit = raw.ts(_bulk.NOW), len(loaded.due)
        params = [moment, moment, limit]
        restore(raw, loaded.due)
        selected = raw.rows(CLAIM, params)
        assert len(selected) == limit, "the due query must select every due row"
        query = best(
            lambda: raw.rows(CLAIM.replace("SELECT cart_id", "SELECT cart_id, body"), params),
            args.rounds * 4,
            lambda: None,
        )
        rows = message_rows(raw, limit)
        insert = raw.sql("INSERT INTO messages (id, prospect, cart_id, channel, status, at, body)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)")  # fmt: skip
        write = best(
            lambda: raw.transaction([(insert, rows)]),
            args.rounds,
            lambda: raw.transaction([(FORGET_FLOOR, [()])]),
        )
        raw.transaction([(FORGET_FLOOR, [()])])
        carts = list(store.get_carts([cart_id for cart_id, _, _ in loaded.due]).values())
        build = best(lambda: build_all(carts), args.rounds, lambda: None)
        plan = raw.plan(CLAIM, params)
        restore(raw, loaded.due)
        raw.transaction([("DELETE FROM consumers", [()])])
    finally:
        store.close()
        raw.close()
    print(
        f"{backend:<8} {size:>9,} carts  tick {tick * 1e3:8.1f} ms"
        f"  (planned {last.planned}, sent {last.sent}, skipped {last.skipped},"
        f" deferred {last.deferred}; {reasons(last)})"
    )
    print(
        f"{'':<8} {'':>9}        floor: due query {query * 1e3:7.2f} ms  tick/floor"
        f" {tick / query:7.1f}   floor: write {limit:,} rows {write * 1e3:7.1f} ms"
        f"  tick/floor {tick / write:5.1f}"
    )
    print(
        f"{'':<8} {'':>9}        floor: build {len(carts):,} emails {build * 1e3:7.1f} ms"
        f"  tick/floor {tick / build:5.2f}   in the store {store_part * 1e3:7.1f} ms"
        f" (best round; tick/floor: due query {store_part / query:5.0f}, write"
        f" {store_part / write:5.1f})"
    )
    index = "uses enrolments_due" if any("enrolments_due" in line for line in plan) else "SCANS"
    print(f"{'':<8} {'':>9}        claim plan ({index}): " + " | ".join(p.strip() for p in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="send through DryRunSender")
    _backends.add_arguments(parser)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"dispatcher tick, {args.due:,} due, best of {args.rounds}; SQLite synchronous="
          f"{args.synchronous}; now {_bulk.NOW.isoformat()}")  # fmt: skip
    for backend in _backends.backends(args.backend):
        if backend == "sqlite":
            for size in sizes:
                shape = _bulk.Shape(carts=size, due=args.due, ordered_share=0.0)
                loaded = _bulk.cached_sqlite(shape, folder=args.cache, progress=_quiet)
                _loaded_line(backend, size, loaded)
                run_size(backend, loaded, size, args)
            continue
        with _backends.postgres(args.postgres_dsn) as server:
            if isinstance(server, str) or server is None:
                print(f"postgres skipped: {server}")
                continue
            for size in sizes:
                with _backends.fresh_schema(server) as dsn:
                    shape = _bulk.Shape(carts=size, due=args.due, ordered_share=0.0)
                    loaded = _bulk.load_postgres(dsn, shape, progress=_quiet)
                    _loaded_line(backend, size, loaded)
                    run_size(backend, loaded, size, args)


def _quiet(line: str) -> None:
    del line


def _loaded_line(backend: str, size: int, loaded: _bulk.Loaded) -> None:
    how = "from the cache" if loaded.seconds is None else f"loaded in {loaded.seconds:.1f} s"
    print(f"{backend:<8} {size:>9,} carts  ({how}; {len(loaded.due):,} due)")


if __name__ == "__main__":
    main()
