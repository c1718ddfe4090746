"""``cartback export``: carts with the filters of ``CartQuery``, messages over a period,
tickets; ``tools`` values read back exactly, ``spreadsheet`` cells never run as
formulas; the progress bar only on a terminal; a file output appears only complete."""

from __future__ import annotations

import io
import os
import pty
import stat
import subprocess
from pathlib import Path

import pytest

import cartback._cli as cartback_cli
from cartback import Cartback, SQLiteStore, Store
from cartback._cli import PROGRESS_INTERVAL, Progress
from tests.cli.support import (
    PROCESS_TIMEOUT,
    ROOT,
    TRICKY_NAME,
    TRICKY_PRODUCT,
    as_dicts,
    at,
    capture,
    command,
    environment,
    filtered_carts,
    invoke,
    message,
    process_env,
    read_csv,
    run,
    store_messages,
    tickets,
)
from tests.conftest import FakeClock

FILTERS = ("--from", "2026-11-05", "--to", "2026-11-15", "--form", "checkout",
           "--product", "p1", "--status", "open")  # fmt: skip


def test_the_tools_format_reads_back_what_is_stored_with_every_filter(
    client: Cartback, clock: FakeClock, database: str
) -> None:
    carts = filtered_carts(client, clock)
    done = run("export", "--format", "tools", *FILTERS, env=environment(database))
    assert (done.code, done.err) == (0, "")  # stderr is no terminal: no progress bar
    rows = as_dicts(read_csv(done.out, "tools"))
    assert [row["email"] for row in rows] == ["edge@example.com", "gus@example.com",
                                              "ana@example.com"]  # fmt: skip
    ana = rows[2]
    assert ana["cart_id"] == carts["ana"].id
    assert ana["phone"] == "+15035550100"  # machine-readable: no formula guard
    assert ana["first_name"] == TRICKY_NAME
    assert ana["city"] == "-Portland"
    assert ana["product_name"] == TRICKY_PRODUCT
    assert (ana["cart_value"], ana["currency"]) == ("49.90", "USD")
    assert ana["created_at"] == "2026-11-10T12:00:00+00:00"


def test_the_spreadsheet_format_is_the_default_and_guards_formulas(
    capsysbinary: pytest.CaptureFixture[bytes], client: Cartback, clock: FakeClock, database: str
) -> None:
    filtered_carts(client, clock)
    done = invoke(capsysbinary, "export", "--email", "ANA@example.com", env=environment(database))
    assert done.code == 0
    assert done.out.startswith("\ufeff".encode())
    (ana,) = as_dicts(read_csv(done.out, "spreadsheet"))
    assert ana["first_name"] == "'" + TRICKY_NAME
    assert ana["phone"] == "'+15035550100"
    assert ana["city"] == "'-Portland"
    assert ana["product_name"] == TRICKY_PRODUCT


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--email-contains", "OTHER_"), {"other_form", "other_product"}),
        (("--from", "2026-11-16"), {"late"}),
        (("--to", "2026-11-04T23:59:00Z"), {"early"}),
        (("--to", "2026-11-04T23:58"), set()),  # no offset: UTC
        (("--status", "ordered"), {"ordered"}),
        (("--form", "upsell"), {"other_form"}),
        (("--product", "p2"), {"other_product"}),
        (("--email", "nobody@example.com"), set()),
    ],
)
def test_each_filter_narrows_the_carts(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    clock: FakeClock,
    database: str,
    options: tuple[str, ...],
    expected: set[str],
) -> None:
    filtered_carts(client, clock)
    done = invoke(capsysbinary, "export", "--format", "tools", *options, env=environment(database))
    assert done.code == 0, done.err
    rows = as_dicts(read_csv(done.out, "tools"))
    assert {row["email"].split("@")[0] for row in rows} == expected


def test_an_export_to_a_file_is_complete_and_private(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    clock: FakeClock,
    database: str,
    tmp_path: Path,
) -> None:
    filtered_carts(client, clock)
    target = tmp_path / "out" / "carts.csv"
    target.parent.mkdir()
    done = invoke(
        capsysbinary, "export", "--format", "tools", "-o", str(target), env=environment(database)
    )
    assert (done.code, done.out, done.err) == (0, b"", "")
    assert len(as_dicts(read_csv(target.read_bytes(), "tools"))) == 8
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds personal data
    assert os.listdir(target.parent) == ["carts.csv"]  # no partial file left behind


def test_messages_are_exported_over_a_period(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
) -> None:
    cart = capture(client, clock, at(1), email="mia@example.com")
    store_messages(
        store,
        [
            message(cart, 1, at(2)),
            message(cart, 2, at(3), coupon_code="=SAVE10"),
            message(cart, 3, at(3, 23, 59)),
            message(cart, 4, at(4)),
        ],
    )
    env = environment(database)
    done = invoke(capsysbinary, "export", "messages", "--from", "2026-11-03", "--to",
                  "2026-11-03", "--format", "tools", env=env)  # fmt: skip
    assert done.code == 0, done.err
    rows = as_dicts(read_csv(done.out, "tools"))
    assert [row["message_id"] for row in rows] == ["msg_002", "msg_003"]
    assert (rows[0]["coupon_code"], rows[0]["status"], rows[0]["cart_id"]) == (
        "=SAVE10",
        "sent",
        cart.id,
    )
    everything = invoke(capsysbinary, "export", "messages", env=env)
    sheet = as_dicts(read_csv(everything.out, "spreadsheet"))
    assert [row["message_id"] for row in sheet] == ["msg_001", "msg_002", "msg_003", "msg_004"]
    assert sheet[1]["coupon_code"] == "'=SAVE10"


def test_tickets_are_exported_with_their_notes(
    capsysbinary: pytest.CaptureFixture[bytes], client: Cartback, clock: FakeClock, database: str
) -> None:
    newest, oldest = tickets(client, clock)
    env = environment(database)
    done = invoke(capsysbinary, "export", "tickets", "--format", "tools", env=env)
    assert done.code == 0, done.err
    rows = as_dicts(read_csv(done.out, "tools"))
    assert [row["id"] for row in rows] == [newest, oldest]
    assert rows[0]["rule"] == "call-prospect"
    assert rows[0]["status"] == "open"
    assert rows[0]["notes"].endswith(" maria: =call back after 5")
    sheet = invoke(capsysbinary, "export", "tickets", "--status", "open", env=env)
    assert [row["notes"] for row in as_dicts(read_csv(sheet.out, "spreadsheet"))] == [
        rows[0]["notes"],
        "",
    ]
    closed = invoke(capsysbinary, "export", "tickets", "--status", "closed", env=env)
    assert read_csv(closed.out, "spreadsheet")[1:] == []


def test_the_progress_bar_shows_on_a_terminal(tmp_path: Path, clock: FakeClock) -> None:
    # (Off a terminal there is none: the tools test above finds stderr empty.)
    database = tmp_path / "cartback.sqlite3"
    with SQLiteStore(database) as store:
        filtered_carts(Cartback(store, clock=clock), clock)
    target = tmp_path / "carts.csv"
    leader, follower = pty.openpty()
    with subprocess.Popen(
        command("export", "--output", str(target)),
        cwd=ROOT,
        env=process_env(environment(database)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    ) as process:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        process.wait(timeout=PROCESS_TIMEOUT)
    os.close(leader)
    assert process.returncode == 0
    text = shown.decode()
    assert text.startswith("\r")
    assert "exporting carts [" + "#" * 24 + "] 8/8 rows 100%" in text
    assert text.endswith("\n")
    assert len(as_dicts(read_csv(target.read_bytes(), "spreadsheet"))) == 8


def test_exports_page_through_the_store(
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
) -> None:
    monkeypatch.setattr(cartback_cli, "_BATCH", 2)  # every export spans several reads
    carts = filtered_carts(client, clock)
    store_messages(store, [message(carts["ana"], n, at(1 + n)) for n in range(5)])
    ticket_ids = tickets(client, clock)
    env = environment(database)

    def exported(*args: str) -> list[dict[str, str]]:
        done = invoke(capsysbinary, "export", *args, "--format", "tools", env=env)
        assert done.code == 0, done.err
        return as_dicts(read_csv(done.out, "tools"))

    assert len(exported()) == 8 + 2  # the tickets' carts too
    assert [row["message_id"] for row in exported("messages")] == [f"msg_{n:03d}" for n in range(5)]
    assert [row["message_id"] for row in exported("messages", "--from", "2026-11-02",
                                                   "--to", "2026-11-04")] == [
        "msg_001", "msg_002", "msg_003",
    ]  # fmt: skip
    assert [row["id"] for row in exported("tickets")] == ticket_ids


def test_the_progress_bar_redraws_a_few_times_a_second() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = Progress(stream, what="exporting carts", total=1000, clock=lambda: now[0])
    for _ in range(500):
        progress.advance(1)  # all at once: drawn the first time only
    assert stream.getvalue().count("\r") == 1
    now[0] = PROGRESS_INTERVAL
    progress.advance(250)
    assert stream.getvalue().count("\r") == 2
    assert progress.line() == "exporting carts [##################......] 750/1,000 rows  75%"
    progress.finish()
    assert stream.getvalue().endswith("750/1,000 rows  75%\n")
    unknown = Progress(io.StringIO(), what="exporting messages", total=None)
    unknown.advance(12_345)
    assert unknown.line() == "exporting messages: 12,345 rows"
