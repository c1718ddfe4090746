"""Reports on a store of 1M carts, next to floors measured on the same database in the
same run.

For each backend it prints (each figure the best of ``--rounds``):

  filtered report     ms per ``Cartback.list_carts(CartQuery(start, end, email=...))``,
                      a 30-day range and one prospect's exact email, the first page of
                      50 with its total (what the CLI and the SDK filter by), averaged
                      over 20 seeded prospects; beside the floor, the bare SQL of the same
                      filter (count, then the page's bodies) through the driver alone.
                      The same for the dashboard's filter, part of an email address
                      (``email_contains``, a ``LIKE '%...%'``), over a 7-day range.
                      Target (issue 14): under 10 ms.
  headline            ms for ``Cartback.headline()`` over 30 days (abandoned,
                      contacted, recovered with last-click attribution, revenue,
                      lifts); floor: the bare SQL counting the period's carts and its
                      ordered ones.
  CSV export          rows/s for ``iter_csv(cartback.iter_carts(query), "tools")`` over 7
                      and 30 days (every row read from the store, parsed, formatted);
                      floors: the bare query reading the same rows' bodies page by page
                      (keyset, as ``iter_carts``), and the csv module alone writing the
                      same rows already as text into the same 64 KB chunks. Target: 300k
                      rows/s. Then the export's peak memory (tracemalloc) at both sizes:
                      equal figures mean memory is flat in the number of rows.

The store is loaded by ``_bulk.py`` (seeded: 90 days of carts, 12% ordered, consent,
enrolments, messages, engagements; the SQLite file is cached between runs).

    python bench/bench_insights.py [--carts 1000000] [--rounds 3]
                                   [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta

import _backends
import _bulk
from _backends import Backend, Raw
from cartback import Cartback, CartQuery, Store
from cartback.export import cart_row, iter_csv

NOW = _bulk.NOW
PAGE = 50


def best(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def filtered(client: Cartback, queries: list[CartQuery]) -> None:
    for query in queries:
        client.list_carts(query, limit=PAGE)


def bare_filter(raw: Raw, queries: list[tuple[str, list[object]]]) -> None:
    for clause, params in queries:
        raw.rows(f"SELECT count(*) FROM carts WHERE {clause}", params)
        raw.rows(
            f"SELECT body FROM carts WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, PAGE],
        )


def export(client: Cartback, query: CartQuery) -> int:
    rows = 0
    for chunk in iter_csv(client.iter_carts(query), "tools"):
        rows += chunk.count("\r\n")
    return rows - 1  # the header


def export_peak(client: Cartback, query: CartQuery) -> int:
    tracemalloc.start()
    try:
        export(client, query)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bare_pages(raw: Raw, start: object, end: object, batch: int = 1000) -> int:
    """The export's rows through the driver alone, keyset pages as ``iter_carts`` reads
    (each page's range ending at the last row read)."""
    count = 0
    after: tuple[object, object] | None = None
    while True:
        sql = "SELECT created_at, id, body FROM carts WHERE created_at >= ? AND created_at <= ?"
        params: list[object] = [start, end if after is None else after[0]]
        if after is not None:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        rows = raw.rows(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", [*params, batch])
        count += len(rows)
        if len(rows) < batch:
            return count
        after = (rows[-1][0], rows[-1][1])


def csv_floor(rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= 65536:
            buffer.seek(0)
            buffer.truncate()


def export_line(client: Cartback, raw: Raw, days: int, rounds: int) -> None:
    since = NOW - timedelta(days=days)
    query = CartQuery(start=since, end=NOW)
    rows = export(client, query)
    ours = best(lambda: export(client, query), rounds)
    pages = best(lambda: bare_pages(raw, raw.ts(since), raw.ts(NOW)), rounds)
    texts = [cart_row(cart, "tools") for cart in client.iter_carts(query)]
    writer = best(lambda: csv_floor(texts), rounds)
    print(f"  CSV export, {days:>2} days, {rows:,} rows: {rows / ours:>9,.0f} rows/s"
          f"   floor: bare query {rows / pages:>9,.0f} rows/s (ratio {ours / pages:5.1f})"
          f"   floor: csv module {rows / writer:>10,.0f} rows/s"
          f" (ratio {ours / writer:5.1f})   (target 300,000 rows/s)")  # fmt: skip


def run(backend: Backend, loaded: _bulk.Loaded, args: argparse.Namespace) -> None:
    raw = Raw(backend, loaded.database)
    store: Store = _backends.open_store(backend, loaded.database, args.synchronous)
    client = Cartback(store, clock=lambda: NOW)
    rng = random.Random(3)
    try:
        month, week = NOW - timedelta(days=30), NOW - timedelta(days=7)
        people = [
            str(row[0])
            for row in raw.rows(
                "SELECT prospect FROM carts WHERE created_at >= ? ORDER BY id LIMIT 5000",
                [raw.ts(month)],
            )
        ]
        chosen = rng.sample(people, 20)
        exact = [CartQuery(start=month, end=NOW, email=email) for email in chosen]
        parts = [CartQuery(start=week, end=NOW, email_contains=email[2:9]) for email in chosen]
        bare_exact = [
            ("created_at >= ? AND created_at <= ? AND prospect = ?",
             [raw.ts(month), raw.ts(NOW), email])
            for email in chosen
        ]  # fmt: skip
        bare_parts = [
            ("created_at >= ? AND created_at <= ? AND prospect LIKE ? ESCAPE '\\'",
             [raw.ts(week), raw.ts(NOW), f"%{email[2:9]}%"])
            for email in chosen
        ]  # fmt: skip
        n = len(chosen)
        ours = best(lambda: filtered(client, exact), args.rounds) / n
        floor = best(lambda: bare_filter(raw, bare_exact), args.rounds) / n
        print(f"  filtered report, 30 days + exact email: {ours * 1e3:8.2f} ms"
              f"   floor: bare SQL {floor * 1e3:7.2f} ms   ratio {ours / floor:6.2f}"
              "   (target < 10 ms)")  # fmt: skip
        ours = best(lambda: filtered(client, parts), args.rounds) / n
        floor = best(lambda: bare_filter(raw, bare_parts), args.rounds) / n
        print(f"  filtered report, 7 days + part of email: {ours * 1e3:7.2f} ms"
              f"   floor: bare SQL {floor * 1e3:7.2f} ms   ratio {ours / floor:6.2f}"
              "   (the dashboard's filter)")  # fmt: skip
        explain = raw.plan(
            f"SELECT body FROM carts WHERE {bare_exact[0][0]} ORDER BY created_at DESC, id DESC"
            " LIMIT ?",
            [*bare_exact[0][1], PAGE],
        )
        print("    plan (exact email): " + " | ".join(line.strip() for line in explain))

        headline = client.headline(month, NOW)
        ours = best(lambda: client.headline(month, NOW), args.rounds)
        count_sql = (
            "SELECT count(*), sum(CASE WHEN status = 'ordered' THEN 1 ELSE 0 END) FROM carts"
            " WHERE created_at >= ? AND created_at < ?"
        )
        bounds = [raw.ts(month), raw.ts(NOW)]
        floor = best(lambda: raw.rows(count_sql, bounds), args.rounds)
        print(f"  headline, 30 days: {ours * 1e3:8.1f} ms   floor: bare count {floor * 1e3:7.1f} ms"
              f"   ratio {ours / floor:6.1f}   ({headline.abandoned:,} abandoned,"
              f" {headline.contacted:,} contacted, {headline.orders:,} orders,"
              f" {headline.recovered:,} recovered, {headline.recovered_revenue}"
              f" {headline.currency})")  # fmt: skip

        for days in (7, 30):
            export_line(client, raw, days, args.rounds)
        if not args.skip_memory:
            peaks = []
            for days in (7, 30):
                peaks.append(export_peak(client, CartQuery(start=NOW - timedelta(days=days))))
            print(f"  export peak memory (tracemalloc): 7 days {peaks[0] / 1024:,.0f} KiB,"
                  f" 30 days {peaks[1] / 1024:,.0f} KiB")  # fmt: skip
    finally:
        store.close()
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true", help="no tracemalloc runs")
    _backends.add_arguments(parser)
    args = parser.parse_args()
    shape = _bulk.Shape(carts=args.carts)
    print(f"insights on {args.carts:,} carts, best of {args.rounds}; now {NOW.isoformat()}")
    for backend in _backends.backends(args.backend):
        if backend == "sqlite":
            loaded = _bulk.cached_sqlite(shape, folder=args.cache, progress=_quiet)
            _loaded_line(backend, loaded)
            run(backend, loaded, args)
            continue
        with _backends.postgres(args.postgres_dsn) as server:
            if isinstance(server, str) or server is None:
                print(f"postgres skipped: {server}")
                continue
            with _backends.fresh_schema(server) as dsn:
                loaded = _bulk.load_postgres(dsn, shape, progress=_quiet)
                _loaded_line(backend, loaded)
                run(backend, loaded, args)


def _quiet(line: str) -> None:
    del line


def _loaded_line(backend: str, loaded: _bulk.Loaded) -> None:
    how = "from the cache" if loaded.seconds is None else f"loaded in {loaded.seconds:.1f} s"
    print(f"{backend} ({how})")


if __name__ == "__main__":
    main()
