"""``cartback``: the command line for a shop's operator (docs/cli.md).

``cartback export`` writes carts (``export messages``, ``export tickets``: recovery
messages, sales tickets) as CSV, ``tick`` runs the recovery dispatcher once, ``figures``
prints a period's headline figures, ``replay`` makes dead letters due again, ``purge``
applies the retention period, ``erase`` removes a prospect, ``demo`` starts the demo of
a repository checkout.

Every command but ``demo`` works on the database ``--database`` names (or
``CARTBACK_DATABASE``, as the receiver reads it): a SQLite file that exists, or a
``postgresql://`` DSN. Results go to stdout, one ``name<TAB>value`` line each (``--json``:
one JSON object); progress and errors go to stderr. Exit codes: 0 done, 1 the work
failed (the database cannot be reached, say), 2 bad input (one line on stderr names the
option and why), 130 interrupted.

Nothing personal is printed or logged: counts, ids, event types and error codes only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import IO, Any, Final, NoReturn, TypeVar, get_args

from cartback._errors import CartbackError, ConfigurationError, InvalidInputError, StoreError
from cartback._types import CartStatus
from cartback.client import Cartback
from cartback.export import CSV_FORMATS, iter_csv
from cartback.links import LinkSigner
from cartback.store import CartQuery, Store, TicketQuery, open_store

# The dispatcher, the senders, the reports and the receiver are imported by the commands
# that use them: their models take a while to build, and every command starts afresh.

__all__ = ["main"]

T = TypeVar("T")

PROG: Final = "cartback"
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

CART_STATUSES: Final[tuple[str, ...]] = get_args(CartStatus)
TICKET_STATUSES: Final = ("open", "assigned", "closed")

PROGRESS_INTERVAL: Final = 0.25
"""Seconds between two redraws of the progress bar (at most four a second)."""

WEBHOOK_CONSUMER: Final = "webhook:"
"""A webhook endpoint's outbox consumer is this and its id (``cartback.webhooks``, not
imported for so little)."""

_BATCH: Final = 1000
_CART_ONLY: Final = ("email", "email_contains", "form", "product", "status")


class UsageError(Exception):
    """Bad input: ``option`` (or setting) is wrong for ``reason``; exit code 2."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


# -- values of options ------------------------------------------------------------


def _moment(text: str) -> date | datetime:
    """``YYYY-MM-DD`` (a whole day in UTC) or an ISO 8601 time (UTC when it has no
    offset)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _start(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, day_time.min, UTC)


def _end(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, day_time.max, UTC)


@dataclass(frozen=True)
class _Options:
    """The parsed command line (options left out are absent: their defaults live here)."""

    values: Mapping[str, Any]

    def get(self, name: str, default: T) -> T:
        value = self.values.get(name, default)
        return default if value is None else value

    def given(self, name: str) -> bool:
        return self.values.get(name) is not None

    def period(self) -> tuple[date | datetime | None, date | datetime | None]:
        """``--from`` and ``--to``, checked to be in order."""
        start, end = self.values.get("start"), self.values.get("end")
        if start is not None and end is not None and _start(start) > _end(end):
            raise UsageError("--from", "is after --to")
        return start, end


# -- the database ---------------------------------------------------------------------


def _database(options: _Options, environ: Mapping[str, str]) -> str:
    database = options.get("database", "") or environ.get("CARTBACK_DATABASE", "")
    if not database:
        raise UsageError("--database", "not given, and CARTBACK_DATABASE is not set")
    if "://" not in database and not Path(database).is_file():
        raise UsageError("--database", f"no SQLite file at {database}")
    if database.startswith("sqlite:///") and not Path(database[len("sqlite://") :]).is_file():
        raise UsageError("--database", f"no SQLite file at {database}")
    return database


@contextlib.contextmanager
def _opened(options: _Options, environ: Mapping[str, str]) -> Iterator[Store]:
    database = _database(options, environ)
    try:
        store = open_store(database)
    except ConfigurationError as exc:
        raise UsageError("--database", str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def _retention_days(options: _Options, environ: Mapping[str, str]) -> int:
    if options.given("retention_days"):
        return options.get("retention_days", 90)
    text = environ.get("CARTBACK_RETENTION_DAYS", "90")
    try:
        return _positive(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError("CARTBACK_RETENTION_DAYS", str(exc)) from None


def _client(store: Store, options: _Options, environ: Mapping[str, str], **extra: Any) -> Cartback:
    return Cartback(store, retention_days=_retention_days(options, environ), **extra)


# -- output -------------------------------------------------------------------------


def _flatten(fields: Mapping[str, object], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            yield name, " ".join(str(item) for item in value)
        else:
            yield name, str(value)


def _emit(fields: Mapping[str, object], options: _Options, out: IO[str]) -> None:
    """Results as ``name<TAB>value`` lines, or one JSON object with ``--json``."""
    if options.get("json", False):
        out.write(json.dumps(fields, sort_keys=False, default=str) + "\n")
    else:
        out.writelines(f"{name}\t{value}\n" for name, value in _flatten(fields))


class Progress:
    """A one-line progress bar on a terminal: rows done of the total and a percentage,
    redrawn at most every ``interval`` seconds (``clock`` is monotonic seconds)."""

    WIDTH: Final = 24

    def __init__(
        self,
        stream: IO[str],
        *,
        what: str,
        total: int | None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = PROGRESS_INTERVAL,
    ) -> None:
        self.stream = stream
        self.what = what
        self.total = total
        self.done = 0
        self._clock = clock
        self._interval = interval
        self._drawn_at: float | None = None

    def line(self) -> str:
        """What the bar shows now."""
        if self.total is None:
            return f"{self.what}: {self.done:,} rows"
        total = max(self.total, self.done)
        share = self.done / total if total else 1.0
        filled = round(share * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"{self.what} [{bar}] {self.done:,}/{total:,} rows {share:4.0%}"

    def advance(self, rows: int) -> None:
        """``rows`` more are done; redraw if the last drawing is old enough."""
        self.done += rows
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= self._interval:
            self._draw(now)

    def finish(self) -> None:
        """The last drawing, and the end of the line."""
        self._draw(self._clock())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()


def _counted(rows: Iterable[T], progress: Progress | None, every: int = 256) -> Iterator[T]:
    """``rows`` unchanged, telling ``progress`` how many went by (every ``every``)."""
    if progress is None:
        yield from rows
        return
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if pending == every:
            progress.advance(pending)
            pending = 0
    progress.advance(pending)


def _show_progress(options: _Options, output: str | None) -> bool:
    """On a terminal only, and not over the CSV itself when it goes to that terminal."""
    if options.get("no_progress", False) or not sys.stderr.isatty():
        return False
    return output is not None or not sys.stdout.isatty()


def _write(chunks: Iterable[str], output: str | None) -> None:
    """The CSV to ``output`` (a file, replaced only once complete and readable by its
    owner alone: it holds personal data) or to stdout."""
    if output is None:
        sys.stdout.flush()
        target = sys.stdout.buffer
        for chunk in chunks:
            target.write(chunk.encode("utf-8"))
        target.flush()
        return
    path = Path(output)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise UsageError("--output", f"cannot write there ({type(exc).__name__})") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk.encode("utf-8"))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# -- export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSource:
    """What one kind of export writes: its CSV chunks for a format, and how many rows
    (``None``: not known beforehand) for the progress bar."""

    what: str
    """The kind, as the progress bar names it."""
    total: Callable[[], int | None]
    """How many rows the export will hold (read only when a progress bar shows)."""
    csv: Callable[[str, Progress | None], Iterator[str]]
    """The CSV text chunks in a format (``tools`` or ``spreadsheet``), counting rows."""


def _carts_export(options: _Options, store: Store) -> ExportSource:
    start, end = options.period()
    query = CartQuery(
        start=start,
        end=end,
        email=options.values.get("email"),
        email_contains=options.values.get("email_contains"),
        form_id=options.values.get("form"),
        product_id=options.values.get("product"),
        status=options.values.get("status"),
    )
    return ExportSource(
        "carts",
        lambda: store.list_carts(query, limit=1).total,
        lambda fmt, progress: iter_csv(
            _counted(store.iter_carts(query, batch=_BATCH), progress),
            fmt,  # type: ignore[arg-type]
        ),
    )


def _messages_export(options: _Options, store: Store) -> ExportSource:
    from cartback.reports import iter_messages_csv

    start, end = options.period()
    since = _start(start) if start is not None else None
    until = _end(end) if end is not None else None
    return ExportSource(
        "messages",
        lambda: None,
        lambda fmt, progress: iter_messages_csv(
            _counted(store.iter_messages(since=since, until=until, batch=_BATCH), progress),
            fmt,  # type: ignore[arg-type]
        ),
    )


def _ticket_values(ticket: Any) -> dict[str, object]:
    """A ticket as the columns of ``cartback.reports.TICKET_COLUMNS``; its notes one a
    line (``at author: text``)."""
    return {
        "id": ticket.id,
        "rule": ticket.draft.rule_id,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "cart_id": ticket.draft.cart.cart_id,
        "created_at": ticket.created_at,
        "notes": "\n".join(
            f"{note.at.isoformat()} {note.author}: {note.text}" for note in ticket.notes
        )
        or None,
    }


def _tickets(store: Store, query: Any) -> Iterator[dict[str, object]]:
    offset = 0
    while True:
        page = store.list_tickets(query, limit=_BATCH, offset=offset)
        yield from (_ticket_values(ticket) for ticket in page)
        if len(page) < _BATCH:
            return
        offset += len(page)


def _tickets_export(options: _Options, store: Store) -> ExportSource:
    from cartback.reports import iter_tickets_csv

    if options.given("start") or options.given("end"):
        raise UsageError("--from/--to", "tickets are exported whatever their date")
    query = TicketQuery(
        status=options.values.get("ticket_status"),
        assignee=options.values.get("assignee"),
    )
    return ExportSource(
        "tickets",
        lambda: store.count_tickets(query),
        lambda fmt, progress: iter_tickets_csv(_counted(_tickets(store, query), progress), fmt),  # type: ignore[arg-type]
    )


EXPORTS: Final[dict[str, Callable[[_Options, Store], ExportSource]]] = {
    "carts": _carts_export,
    "messages": _messages_export,
    "tickets": _tickets_export,
    # The segments export (issue 14) is one more entry here, with its sub-parser in
    # ``_export_parsers``: a function reading its options and returning an ExportSource.
}
"""Each kind of export by name (``cartback export <kind>``; ``carts`` without one)."""


def _export(options: _Options, environ: Mapping[str, str]) -> int:
    kind = options.get("kind", "carts")
    if kind != "carts":
        for name in _CART_ONLY:
            if options.given(name):
                option = "--" + name.replace("_", "-")
                raise UsageError(option, f"filters carts, not {kind}")
    fmt = options.get("format", "spreadsheet")
    output = options.values.get("output")
    output = None if output in (None, "-") else str(output)
    with _opened(options, environ) as store:
        source = EXPORTS[kind](options, store)
        progress = None
        if _show_progress(options, output):
            progress = Progress(sys.stderr, what=f"exporting {source.what}", total=source.total())
        _write(source.csv(fmt, progress), output)
        if progress is not None:
            progress.finish()
    return EXIT_OK


# -- the other commands ------------------------------------------------------------


def _tick(options: _Options, environ: Mapping[str, str]) -> int:
    from cartback._dispatcher import TickReport, dispatch_all
    from cartback._recovery_config import (
        build_dispatcher,
        config_section,
        dispatcher_settings,
        make_senders,
        read_config,
    )
    from cartback.senders import DryRunSender

    secret = environ.get("CARTBACK_SECRET_KEY", "")
    if len(secret.encode()) < 32:
        raise UsageError(
            "CARTBACK_SECRET_KEY",
            "set it to the receiver's key (32 bytes or more): recovery links are signed with it",
        )
    config_path = options.get("config", "") or environ.get("CARTBACK_CONFIG", "")
    config = read_config(config_path) if config_path else {}
    settings = dispatcher_settings(
        config, public_url=environ.get("CARTBACK_PUBLIC_URL", "http://127.0.0.1:8000")
    )
    senders = make_senders(
        config_section(config, "senders"), smtp_url=environ.get("CARTBACK_SMTP_URL") or None
    )
    try:
        submitted = timedelta(minutes=_positive(environ.get("CARTBACK_SUBMITTED_MINUTES", "60")))
    except argparse.ArgumentTypeError as exc:
        raise UsageError("CARTBACK_SUBMITTED_MINUTES", str(exc)) from None
    signer = LinkSigner(secret.encode())
    with _opened(options, environ) as store:
        cartback = _client(store, options, environ, links=signer, submitted_ttl=submitted)
        dispatcher = build_dispatcher(cartback, settings, senders, signer=signer)
        reopened = cartback.reopen_stale_submissions()
        reports = (
            dispatch_all(dispatcher) if options.get("until_idle", False) else [dispatcher.tick()]
        )
    total = TickReport()
    for report in reports:
        for name in ("enrolled", "planned", "sent", "skipped", "deferred", "failed", "exited"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        for reason, count in report.reasons.items():
            total.reasons[reason] = total.reasons.get(reason, 0) + count
    dry_run = [channel for channel, sender in senders.items() if isinstance(sender, DryRunSender)]
    _emit(
        {
            "ticks": len(reports),
            "reopened": reopened,
            "enrolled": total.enrolled,
            "planned": total.planned,
            "sent": total.sent,
            "skipped": total.skipped,
            "deferred": total.deferred,
            "failed": total.failed,
            "exited": total.exited,
            "reasons": dict(sorted(total.reasons.items())),
            "dry_run": dry_run,
        },
        options,
        sys.stdout,
    )
    return EXIT_OK


def _dead_letter(delivery: Any) -> dict[str, object]:
    return {
        "consumer": delivery.consumer,
        "seq": delivery.seq,
        "type": delivery.event.type,
        "occurred_at": delivery.event.occurred_at.isoformat(),
        "attempts": delivery.attempts,
        "error": delivery.last_error or "",
    }


def _replay(options: _Options, environ: Mapping[str, str]) -> int:
    start, end = options.period()
    since = _start(start) if start is not None else None
    until = _end(end) if end is not None else None
    listing = options.get("list", False)
    with _opened(options, environ) as store:
        cartback = _client(store, options, environ)
        if options.given("endpoint"):
            endpoint = options.get("endpoint", "")
            if store.endpoint(endpoint) is None:
                raise UsageError("--endpoint", "no webhook endpoint has this id")
            consumers = [WEBHOOK_CONSUMER + endpoint]
        elif options.given("consumer"):
            consumers = [options.get("consumer", "")]
        else:
            consumers = [WEBHOOK_CONSUMER + record.id for record in store.endpoints()]
        now = cartback.now()
        done: list[dict[str, object]] = []
        for consumer in consumers:
            seen: set[int] = set()
            while True:
                letters = store.dead_letters(consumer, since=since, until=until, limit=_BATCH)
                fresh = [letter for letter in letters if letter.seq not in seen]
                if not fresh:
                    break
                seen.update(letter.seq for letter in fresh)
                if not listing:
                    store.replay(consumer, now=now, seqs=[letter.seq for letter in fresh])
                done += [_dead_letter(letter) for letter in fresh]
                if listing or len(letters) < _BATCH:
                    break
    verb = "dead" if listing else "replayed"
    if options.get("json", False):
        sys.stdout.write(json.dumps({verb: done, "count": len(done)}) + "\n")
    else:
        columns = ("consumer", "seq", "type", "occurred_at", "attempts", "error")
        sys.stdout.writelines(
            "\t".join(str(letter[column]) for column in columns) + "\n" for letter in done
        )
        print(f"{verb} {len(done)} dead letter{'s' * (len(done) != 1)}", file=sys.stderr)
    return EXIT_OK


_INSTANT: Final = timedelta(microseconds=1)


def _currency(text: str) -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 4217 code (USD, EUR...)")
    return code


def _percent(value: float | None, *, signed: bool = False) -> str:
    return "n/a" if value is None else f"{value * 100:{'+' if signed else ''}.1f}%"


def _lift_fields(flow: Any, as_json: bool) -> dict[str, object]:
    """One flow's lift: raw numbers for ``--json``, percentages on the lines."""
    lift = flow.lift
    absolute, revenue = lift.absolute_interval, lift.incremental_revenue_interval
    if as_json:
        return {
            "flow_id": flow.flow_id,
            "treated": flow.treated,
            "control": flow.control,
            "status": lift.status,
            "problems": list(lift.problems),
            "treated_rate": lift.treated_rate,
            "control_rate": lift.control_rate,
            "absolute": lift.absolute,
            "absolute_interval": None if absolute is None else [absolute.low, absolute.high],
            "confidence": lift.confidence,
            "relative": lift.relative,
            "incremental_conversions": lift.incremental_conversions,
            "incremental_revenue": lift.incremental_revenue,
            "incremental_revenue_interval": None
            if revenue is None
            else [revenue.low, revenue.high],
        }
    fields: dict[str, object] = {
        "treated": flow.treated,
        "control": flow.control,
        "status": lift.status
        if not lift.problems
        else f"{lift.status} ({' '.join(lift.problems)})",
        "treated_rate": _percent(lift.treated_rate),
        "control_rate": _percent(lift.control_rate),
        "absolute": _percent(lift.absolute, signed=True),
    }
    if absolute is not None:
        low, high = _percent(absolute.low, signed=True), _percent(absolute.high, signed=True)
        fields["absolute_interval"] = f"{low} {high} ({lift.confidence:.0%})"
    if lift.incremental_revenue is not None:
        fields["incremental_revenue"] = lift.incremental_revenue
    if revenue is not None:
        fields["incremental_revenue_interval"] = f"{revenue.low} {revenue.high}"
    return fields


def _figures(options: _Options, environ: Mapping[str, str]) -> int:
    from cartback.reports import DEFAULT_SETTINGS, ReportSettings

    start, end = options.period()
    if options.given("days") and start is not None:
        raise UsageError("--days", "counts back from --to (or now): give it or --from, not both")
    settings = DEFAULT_SETTINGS
    if options.given("currency"):
        settings = ReportSettings(currency=options.get("currency", ""))
    as_json = options.get("json", False)
    with _opened(options, environ) as store:
        cartback = _client(store, options, environ)
        if end is None:
            until = cartback.now() + _INSTANT  # up to and including now
        else:
            until = (
                _end(end) + _INSTANT
                if isinstance(end, datetime)
                else _start(end) + timedelta(days=1)
            )
        since = (
            _start(start) if start is not None else until - timedelta(days=options.get("days", 30))
        )
        headline = cartback.headline(since, until, settings=settings)
    rate = headline.recovery_rate
    fields: dict[str, object] = {
        "since": headline.since.isoformat(),
        "until": headline.until.isoformat(),
        "abandoned": headline.abandoned,
        "contacted": headline.contacted,
        "orders": headline.orders,
        "recovered": headline.recovered,
        "recovery_rate": (
            {"value": rate.value, "numerator": float(rate.numerator),
             "denominator": rate.denominator, "not_applicable": rate.not_applicable}
            if as_json
            else rate.percent()
        ),
        "recovered_revenue": headline.recovered_revenue,
        "currency": headline.currency or "",
    }  # fmt: skip
    if as_json:
        fields["lifts"] = [_lift_fields(flow, True) for flow in headline.lifts]
    else:
        fields["lift"] = {flow.flow_id: _lift_fields(flow, False) for flow in headline.lifts}
    _emit(fields, options, sys.stdout)
    return EXIT_OK


def _purge(options: _Options, environ: Mapping[str, str]) -> int:
    with _opened(options, environ) as store:
        removed = _client(store, options, environ).purge_expired()
    _emit({"purged": removed}, options, sys.stdout)
    return EXIT_OK


def _erase(options: _Options, environ: Mapping[str, str]) -> int:
    email = options.get("email_address", "")
    with _opened(options, environ) as store:
        try:
            report = _client(store, options, environ).erase(email)
        except InvalidInputError:
            raise UsageError("EMAIL", "not a valid email address") from None
    _emit(
        {"carts": report.carts, "consent_events": report.consent_events, "other": report.other},
        options,
        sys.stdout,
    )
    return EXIT_OK


def _demo(options: _Options, environ: Mapping[str, str]) -> int:
    checkout = Path.cwd()
    if (
        importlib.util.find_spec("server_example") is None
        and (checkout / "server_example" / "__main__.py").is_file()
    ):
        sys.path.insert(0, str(checkout))  # the console script, run at a checkout's root
    if importlib.util.find_spec("server_example") is None:
        raise UsageError(
            "demo",
            "the demo ships with the repository checkout (server_example/): run"
            " `cartback demo` at the root of a clone of the cartback repository",
        )
    try:
        from server_example.__main__ import main as server_main
    except ImportError as exc:
        raise UsageError(
            "demo", f"the receiver needs its extra: pip install 'cartback[server]' ({exc.name})"
        ) from None
    argv = ["demo", "--host", options.get("host", "127.0.0.1")]
    argv += ["--port", str(options.get("port", 8000)), "--speed", str(options.get("speed", 360.0))]
    if options.given("database"):
        argv += ["--database", options.get("database", "")]
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the demo ends
        server_main(argv)
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------


def _common() -> _Parser:
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--database",
        metavar="DB",
        help="a SQLite file or a postgresql:// DSN (default: CARTBACK_DATABASE)",
    )
    return common


def _json() -> _Parser:
    parent = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    return parent


def _retention() -> _Parser:
    parent = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    parent.add_argument(
        "--retention-days",
        type=_positive,
        metavar="N",
        help="carts idle this long are purged (default: CARTBACK_RETENTION_DAYS, else 90)",
    )
    return parent


def _period(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--from",
        dest="start",
        type=_moment,
        metavar="DATE",
        help=f"{what} on or after (YYYY-MM-DD, a whole day in UTC, or an ISO 8601 time)",
    )
    parser.add_argument(
        "--to", dest="end", type=_moment, metavar="DATE", help=f"{what} on or before"
    )


def _csv_output() -> _Parser:
    parent = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    parent.add_argument(
        "--format",
        choices=CSV_FORMATS,
        help="tools: values as stored (comma, UTF-8); spreadsheet (default): semicolons,"
        " a BOM, formulas neutralised",
    )
    parent.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    parent.add_argument(
        "--no-progress", action="store_true", help="no progress bar, even on a terminal"
    )
    return parent


def _export_parsers(export: argparse.ArgumentParser, parents: Sequence[_Parser]) -> None:
    _period(export, "carts captured")
    export.add_argument("--email", help="one prospect's carts (exact address, any case)")
    export.add_argument("--email-contains", metavar="TEXT", help="carts whose email holds TEXT")
    export.add_argument("--form", metavar="FORM_ID", help="one order form's carts")
    export.add_argument("--product", metavar="PRODUCT_ID", help="one product's carts")
    export.add_argument("--status", choices=CART_STATUSES, help="carts in this status")
    kinds = export.add_subparsers(dest="kind", metavar="{messages,tickets}", parser_class=_Parser)
    messages = kinds.add_parser(
        "messages",
        parents=parents,
        help="recovery messages as CSV",
        description="Recovery messages (sent, failed, skipped, deferred) as CSV.",
        argument_default=argparse.SUPPRESS,
    )
    _period(messages, "messages")
    tickets = kinds.add_parser(
        "tickets",
        parents=parents,
        help="sales tickets as CSV",
        description="Sales tickets as CSV, newest first.",
        argument_default=argparse.SUPPRESS,
    )
    tickets.add_argument(
        "--status", dest="ticket_status", choices=TICKET_STATUSES, help="tickets in this status"
    )
    tickets.add_argument("--assignee", help="one salesperson's tickets")


Command = Callable[[_Options, Mapping[str, str]], int]


def build_parser() -> _Parser:
    """The ``cartback`` command line; each sub-command's function is its ``command``."""
    parser = _Parser(
        prog=PROG,
        description="Operate cartback: export, recover, figures, replay, purge, erase, demo.",
        epilog="docs/cli.md describes every command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    common, as_json, csv_output = _common(), _json(), _csv_output()

    def command(name: str, run: Command, summary: str, *parents: _Parser) -> Any:
        sub = commands.add_parser(
            name,
            parents=list(parents),
            help=summary,
            description=summary,
            argument_default=argparse.SUPPRESS,
        )
        sub.set_defaults(run=run)
        return sub

    export = command(
        "export", _export, "Export carts (or messages, tickets) as CSV.", common, csv_output
    )
    _export_parsers(export, [common, csv_output])

    tick = command("tick", _tick, "Run the recovery dispatcher once and print what it did.",
                   common, as_json)  # fmt: skip
    tick.add_argument(
        "--until-idle", action="store_true", help="tick again until a tick finds nothing to do"
    )
    tick.add_argument(
        "--config", metavar="FILE", help="the receiver's JSON settings (default: CARTBACK_CONFIG)"
    )

    replay = command("replay", _replay, "Make dead letters due again and print them.",
                     common, as_json)  # fmt: skip
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--endpoint", metavar="ID", help="one webhook endpoint's dead letters")
    which.add_argument("--all", action="store_true", help="every webhook endpoint's")
    which.add_argument(
        "--consumer", metavar="NAME", help="any outbox consumer's (flows, tickets, webhook:ID)"
    )
    _period(replay, "events that happened")
    replay.add_argument("--since", dest="start", type=_moment, metavar="DATE",
                        help="the same as --from")  # fmt: skip
    replay.add_argument("--list", action="store_true", help="only print them, replay nothing")

    figures = command("figures", _figures, "Print the headline figures of a period.",
                      common, as_json)  # fmt: skip
    _period(figures, "carts abandoned")
    figures.add_argument(
        "--days", type=_positive, metavar="N", help="the N days up to --to, or to now (30)"
    )
    figures.add_argument(
        "--currency", type=_currency, metavar="CODE",
        help="count revenue in this currency (default: the first order's)",
    )  # fmt: skip

    command("purge", _purge, "Remove carts idle longer than the retention period.",
            common, as_json, _retention())  # fmt: skip

    erase = command("erase", _erase, "Remove everything held about one prospect.",
                    common, as_json)  # fmt: skip
    erase.add_argument("email_address", metavar="EMAIL", help="the prospect's email address")

    demo = command("demo", _demo, "Run the demo shop, dashboard and mailbox (Ctrl-C stops).")
    demo.add_argument("--host", help="the address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=_positive, help="the port (default 8000)")
    demo.add_argument("--speed", type=float, help="how much faster the demo's clock runs (360)")
    demo.add_argument(
        "--database", metavar="FILE", help="the demo's SQLite file (default cartback-demo.sqlite3)"
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cartback")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the ``cartback`` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    options = _Options(vars(args))
    run: Command = args.run
    prog = f"{PROG} {args.command}"
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(name)s: %(message)s")
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)  # we say it once, below
    try:
        return run(options, os.environ if environ is None else environ)
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigurationError as exc:
        message = " ".join(str(exc).split())
        named = message if message.startswith(exc.setting) else f"{exc.setting}: {message}"
        print(f"{prog}: {named}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"{prog}: the database cannot serve the request: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except CartbackError as exc:
        print(f"{prog}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
