"""Reports and exports, next to floors measured in the same run.

Prints, on one core:

  CSV export        rows/s for ``iter_csv(carts, "tools")`` (cart values to text, then the
                    csv module), beside the floor: the csv module alone writing the same
                    rows already as text, into the same 64 KB chunks. Also the peak memory
                    of the export at two sizes, to show it stays flat.
  Recovery figures  records/s (messages + engagements) for ``RecoveryReport.add`` (metrics
                    and last-click attribution per journey) and for ``attribute`` alone,
                    beside the floor: a plain loop that reads every record once and
                    counts it by channel and kind. ``attribute`` returns at once
                    for a cart without an order, so it can beat the floor.

Records come from a pool of seeded synthetic carts and journeys (about a third ordered,
up to five messages per cart on four channels, opens, clicks, replies, receipts), cycled
to the requested size, so memory holds the pool, not the run. Each figure is the best of
three rounds; a ratio is the floor's time over ours (1.0: as fast as the floor).

    python bench/bench_reports.py [--rows N] [--records N]
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cartback._models import Cart, CartContext, Contact, MessageRecord
from cartback._types import MessageChannel
from cartback.export import cart_row, iter_csv
from cartback.reports import Engagement, EngagementKind, Journey, RecoveryReport, attribute

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CHANNELS: tuple[MessageChannel, ...] = ("email", "email", "sms", "push", "messenger")
POOL = 2000


def make_carts(count: int, seed: int = 7) -> list[Cart]:
    rng = random.Random(seed)
    carts = []
    for number in range(count):
        created = T0 + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        ordered = rng.random() < 0.3
        carts.append(
            Cart(
                id=f"cart_{number:08d}",
                status="ordered" if ordered else "open",
                created_at=created,
                updated_at=created,
                contact=Contact(
                    email=f"prospect{number}@example.com",
                    phone=f"+1503555{number % 10_000:04d}" if rng.random() < 0.6 else None,
                    phone_e164=True,
                    first_name="Ana",
                    last_name="Lopez",
                    city="Portland",
                    state="OR",
                    postal_code="97201",
                    country="US",
                ),
                context=CartContext(
                    form_id=rng.choice(["checkout", "upsell"]),
                    product_id=f"p{rng.randrange(20)}",
                    product_name="Sourdough course, second edition",
                    cart_value=Decimal(rng.choice(["49.00", "129.00", "19.90"])),
                    currency="USD",
                    seller="us",
                ),
                newsletter_opt_in=rng.random() < 0.5,
                order_id=f"ord-{number}" if ordered else None,
                revenue=Decimal("49.00") if ordered else None,
                ordered_at=created + timedelta(hours=rng.randrange(1, 200)) if ordered else None,
            )
        )
    return carts


def make_journeys(count: int, seed: int = 11) -> list[Journey]:
    rng = random.Random(seed)
    journeys = []
    for number in range(count):
        cart_id = f"cart_{number:08d}"
        created = T0 + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        messages: list[MessageRecord] = []
        engagements: list[Engagement] = []
        for index in range(rng.randrange(0, 6)):
            at = created + timedelta(hours=3 + 24 * index)
            record = MessageRecord(
                id=f"msg_{number:08d}_{index}",
                cart_id=cart_id,
                prospect=f"prospect{number}@example.com",
                channel=rng.choice(CHANNELS),
                status="sent" if rng.random() < 0.95 else "failed",
                at=at,
                flow_id="multichannel",
                flow_version=1,
                step_id=f"step_{index}",
                variant=rng.choice(["A", "B"]),
            )
            messages.append(record)
            kinds: list[tuple[EngagementKind, float]] = [
                ("delivered", 0.8),
                ("opened", 0.3),
                ("clicked", 0.1),
                ("replied", 0.03),
                ("unsubscribed", 0.01),
            ]
            for kind, chance in kinds:
                if rng.random() < chance:
                    engagements.append(
                        Engagement.model_construct(
                            message_id=record.id,
                            cart_id=cart_id,
                            kind=kind,
                            at=at + timedelta(minutes=rng.randrange(1, 600)),
                            utm={},
                        )
                    )
        ordered = rng.random() < 0.3
        journeys.append(
            Journey(
                cart_id=cart_id,
                created_at=created,
                ordered_at=created + timedelta(hours=rng.randrange(1, 200)) if ordered else None,
                revenue=Decimal("49.00") if ordered else None,
                currency="USD",
                messages=messages,
                engagements=engagements,
            )
        )
    return journeys


def best(work: Callable[[], object], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def csv_floor(rows: list[list[str]], count: int) -> None:
    """The csv module alone: the same text rows into the same 64 KB chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in itertools.islice(itertools.cycle(rows), count):
        writer.writerow(row)
        if buffer.tell() >= 65536:
            buffer.seek(0)
            buffer.truncate()


def export(carts: list[Cart], count: int) -> None:
    for _chunk in iter_csv(itertools.islice(itertools.cycle(carts), count), "tools"):
        pass


def export_peak(carts: list[Cart], count: int) -> int:
    tracemalloc.start()
    try:
        export(carts, count)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def cycled(journeys: list[Journey], records: int) -> Iterator[Journey]:
    """Journeys from the pool until ``records`` messages and engagements were given."""
    given = 0
    for journey in itertools.cycle(journeys):
        if given >= records:
            return
        given += len(journey.messages) + len(journey.engagements)
        yield journey


def plain_loop(journeys: list[Journey], records: int) -> None:
    counts: dict[str, int] = {}
    for journey in cycled(journeys, records):
        for message in journey.messages:
            counts[message.channel] = counts.get(message.channel, 0) + 1
        for engagement in journey.engagements:
            counts[engagement.kind] = counts.get(engagement.kind, 0) + 1


def report(journeys: list[Journey], records: int) -> None:
    RecoveryReport().add_all(cycled(journeys, records)).figures()


def attribution(journeys: list[Journey], records: int) -> None:
    for journey in cycled(journeys, records):
        attribute(journey)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000, help="CSV rows per round")
    parser.add_argument("--records", type=int, default=1_000_000, help="report records per round")
    args = parser.parse_args()

    carts = make_carts(POOL)
    text_rows = [cart_row(cart, "tools") for cart in carts]
    floor = best(lambda: csv_floor(text_rows, args.rows))
    ours = best(lambda: export(carts, args.rows))
    print(f"CSV export, {args.rows:,} rows (tools format), best of 3:")
    print(f"  floor: csv module alone    {args.rows / floor:>12,.0f} rows/s")
    print(
        f"  iter_csv(carts, 'tools')   {args.rows / ours:>12,.0f} rows/s   ratio {floor / ours:.2f}"
    )
    print("  target: 300,000 rows/s (issue 14, export with its store query)")
    small, large = args.rows // 10, args.rows
    print(
        f"  peak memory: {export_peak(carts, small) / 1024:,.0f} KiB for {small:,} rows, "
        f"{export_peak(carts, large) / 1024:,.0f} KiB for {large:,} rows (tracemalloc)"
    )

    journeys = make_journeys(POOL)
    per_pool = sum(len(j.messages) + len(j.engagements) for j in journeys)
    trips = args.records * len(journeys) // per_pool
    floor = best(lambda: plain_loop(journeys, args.records))
    figures = best(lambda: report(journeys, args.records))
    credit = best(lambda: attribution(journeys, args.records))
    print(f"\nRecovery figures, {args.records:,} records (~{trips:,} journeys), best of 3:")
    print(f"  floor: plain loop          {args.records / floor:>12,.0f} records/s")
    print(
        f"  RecoveryReport.add         {args.records / figures:>12,.0f} records/s   "
        f"ratio {floor / figures:.2f}"
    )
    print(
        f"  attribute() alone          {args.records / credit:>12,.0f} records/s   "
        f"ratio {floor / credit:.2f}"
    )


if __name__ == "__main__":
    main()
