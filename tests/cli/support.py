"""Running the ``cartback`` command: in a real process (``python -m cartback``), or by
calling its ``main`` in this one with the same arguments and environment.

Each process pays for ``import cartback`` (most of a second), so the tests run the
real command for what only a process shows (exit codes, streams, a terminal, signals,
both backends end to end) and call ``main`` for the many variations of the same paths.
Seeding helpers put carts, messages, tickets and dead letters into a database with a
``FakeClock`` at chosen times.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pytest

from cartback import Cart, Cartback, MessageRecord, Settlement, Store
from cartback._cli import main
from cartback._ticket_pass import create_tickets
from cartback.store import Changes, ReadTransaction
from cartback.tickets import (
    Ticket,
    TicketDraft,
    TicketRuleSet,
    call_prospect_rule,
    evaluate_ticket_rules,
)
from cartback.webhooks._registry import consumer_name
from tests.conftest import FakeClock
from tests.sdk._support import submission

ROOT: Final = Path(__file__).resolve().parents[2]
SECRET_KEY: Final = "cli-test-secret-key-of-32-bytes-or-more"
PROCESS_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class Outcome:
    """What one run of the command did."""

    code: int
    """Its exit code."""
    out: bytes
    """Its stdout."""
    err: str
    """Its stderr."""

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")

    def fields(self) -> dict[str, str]:
        """stdout's ``name<TAB>value`` lines."""
        return dict(line.split("\t", 1) for line in self.text.splitlines())


def environment(database: str | Path | None = None, **extra: str) -> dict[str, str]:
    """The variables a run sees: none of the developer's ``CARTBACK_*``, and ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARTBACK_")}
    if database is not None:
        env["CARTBACK_DATABASE"] = str(database)
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cartback", *args]


def process_env(env: Mapping[str, str], pythonpath: str | None = None) -> dict[str, str]:
    paths = pythonpath or os.pathsep.join([str(ROOT / "sdk"), str(ROOT)])
    return {**env, "PYTHONPATH": paths, "PYTHONUNBUFFERED": "1"}


def run(*args: str, env: Mapping[str, str], cwd: Path = ROOT) -> Outcome:
    """``python -m cartback ARGS`` in a process of its own, to the end."""
    done = subprocess.run(
        command(*args),
        cwd=cwd,
        env=process_env(env),
        capture_output=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


def run_together(
    runs: Sequence[tuple[Sequence[str], Mapping[str, str], Path, str | None]],
) -> list[Outcome]:
    """Several processes at once (``(args, env, cwd, PYTHONPATH)`` each), in order."""
    started = [
        subprocess.Popen(
            command(*args),
            cwd=cwd,
            env=process_env(env, pythonpath),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for args, env, cwd, pythonpath in runs
    ]
    outcomes = []
    for process in started:
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        outcomes.append(Outcome(process.returncode, out, err.decode("utf-8", "replace")))
    return outcomes


def invoke(capsys: pytest.CaptureFixture[bytes], *args: str, env: Mapping[str, str]) -> Outcome:
    """``cartback ARGS`` through ``main`` in this process (``capsysbinary`` captures)."""
    capsys.readouterr()
    try:
        code = main(list(args), env)
    except SystemExit as exc:  # argparse: --help, or a usage error
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err.decode("utf-8"))


def read_csv(data: bytes, fmt: str) -> list[list[str]]:
    """A CSV export read back with the csv module, in its format's dialect."""
    text = data.decode("utf-8")
    if fmt == "spreadsheet":
        assert text.startswith("\ufeff")
        text = text.removeprefix("\ufeff")
    return list(
        csv.reader(io.StringIO(text, newline=""), delimiter=";" if fmt == "spreadsheet" else ",")
    )


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    header, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


# -- seeding -----------------------------------------------------------------------------


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A time in November 2026 (UTC)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def capture(client: Cartback, clock: FakeClock, when: datetime, **kwargs: Any) -> Cart:
    clock.now = when
    result = client.capture(submission(**kwargs))
    assert result.cart is not None, result.reasons
    return result.cart


TRICKY_NAME: Final = '=HYPERLINK("http://evil.example","click")'
TRICKY_PRODUCT: Final = 'Sourdough, "advanced"\nweekend'


def filtered_carts(client: Cartback, clock: FakeClock) -> dict[str, Cart]:
    """Carts for ``--from 2026-11-05 --to 2026-11-15 --form checkout --product p1
    --status open``: three match, and each decoy fails exactly one of those filters."""

    def one(name: str, when: datetime, **kwargs: Any) -> Cart:
        kwargs.setdefault("form_id", "checkout")
        kwargs.setdefault("product_id", "p1")
        return capture(client, clock, when, email=f"{name}@example.com", **kwargs)

    carts = {
        "ana": one(
            "ana",
            at(10),
            product_name=TRICKY_PRODUCT,
            cart_value="49.90",
            currency="USD",
            fields={"phone": "+1 503 555 0100", "first_name": TRICKY_NAME, "city": "-Portland"},
        ),
        "gus": one("gus", at(12), fields={"first_name": "Gus"}),
        "edge": one("edge", at(15, 23, 59)),  # --to names a whole day
        "early": one("early", at(4, 23, 59)),
        "late": one("late", at(16, 0, 0)),
        "other_form": one("other_form", at(10), form_id="upsell"),
        "other_product": one("other_product", at(10), product_id="p2"),
        "ordered": one("ordered", at(10)),
    }
    clock.now = at(11)
    (closed,) = client.mark_ordered(email="ordered@example.com", order_id="o-1")
    carts["ordered"] = closed
    return carts


def message(cart: Cart, number: int, when: datetime, **fields: Any) -> MessageRecord:
    return MessageRecord(
        id=f"msg_{number:03d}",
        cart_id=cart.id,
        prospect=cart.contact.email or "",
        channel="email",
        status="sent",
        at=when,
        flow_id="conversational",
        flow_version=1,
        step_id="email",
        template="conversational",
        provider_id=f"p-{number}",
        **fields,
    )


def store_messages(store: Store, messages: Sequence[MessageRecord]) -> None:
    store.write(lambda tx: tx.apply(Changes(messages=tuple(messages))))


def tickets(client: Cartback, clock: FakeClock) -> list[str]:
    """Two carts worth a call (one ticket each), the second with a note; their ids,
    newest first."""
    rules = TicketRuleSet(rules=(call_prospect_rule(Decimal("100")),))
    ids = []
    for number, name in enumerate(("kim", "lou")):
        cart = capture(
            client, clock, at(10 + number), email=f"{name}@example.com", cart_value="250.00",
            currency="USD", fields={"phone": "+1 415 555 0100"},
        )  # fmt: skip
        drafts = evaluate_ticket_rules(rules, cart, now=clock.now)

        def create(tx: ReadTransaction, drafts: list[TicketDraft] = drafts) -> list[Ticket]:
            return create_tickets(tx, drafts, clock.now)

        (made,) = client.store.write(create)
        ids.append(made.id)
    client.add_ticket_note(ids[1], author="maria", text="=call back after 5")
    return ids[::-1]


ENDPOINT: Final = {
    "id": "crm",
    "url": "https://hooks.example.com/cartback",
    "secrets": ["whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"],
    "event_types": ["cart.captured"],
}


def dead_letters(client: Cartback, clock: FakeClock, days: Sequence[int]) -> list[int]:
    """One capture a day on ``days`` whose delivery to the ``crm`` endpoint died; their
    outbox seqs."""
    clock.now = at(1)
    client.add_webhook_endpoint(ENDPOINT)
    for day in days:
        capture(client, clock, at(day), email=f"dead{day}@example.com")
    consumer = consumer_name("crm")
    claimed = client.store.claim(consumer, owner="test", now=clock.now, limit=100)
    client.store.settle(
        consumer, [Settlement.dead(d.seq, "http_500") for d in claimed], now=clock.now
    )
    return [d.seq for d in claimed]


def ago(**delta: float) -> datetime:
    """A time before the real now (the command runs on the system clock)."""
    return datetime.now(UTC) - timedelta(**delta)
