"""``python -m server_example``: the demo, or the receiver from ``CARTBACK_*`` settings.

Without ``CARTBACK_ADMIN_PASSWORD`` set it starts the demo: a random admin password,
the demo shop page at ``/`` embedding the snippet, and the dashboard at ``/admin``
(``python -m server_example demo`` starts the demo whatever is set; so does
``cartback demo``). Ctrl-C stops it cleanly: exit code 0.
``python -m server_example dispatch`` runs the recovery dispatcher, and
``python -m server_example webhooks`` the webhook worker and the ticket triggers, as
processes of their own (set ``CARTBACK_DISPATCHER=off`` or ``CARTBACK_RUN_WORKERS=0`` on
the receivers then).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import signal
import sys
import threading
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from cartback import LinkSigner
from server_example.app import create_app, recovery_runner
from server_example.demo import DemoClock, Mailbox
from server_example.openapi import OPENAPI_PATH, render
from server_example.settings import Settings
from server_example.wiring import build_cartback


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server_example", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "demo", "dispatch", "webhooks"],
        help="serve (default): the receiver (the demo without CARTBACK_ADMIN_PASSWORD);"
        " demo: the demo; dispatch: only the recovery dispatcher"
        " (CARTBACK_DISPATCHER=off on the receivers); webhooks: only the webhook worker and"
        " ticket triggers (CARTBACK_RUN_WORKERS=0 on the receivers)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--database",
        default=None,
        help="a SQLite file or a postgresql:// DSN (wins over CARTBACK_DATABASE)",
    )
    parser.add_argument(
        "--write-openapi", action="store_true", help="rewrite server_example/openapi.json and exit"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=360.0,
        help="the demo's clock runs this many times faster (360: three hours in 30 seconds)",
    )
    args = parser.parse_args(argv)
    if args.write_openapi:
        OPENAPI_PATH.write_text(render(), encoding="utf-8")
        print(f"wrote {OPENAPI_PATH}")
        return
    if args.command == "dispatch":
        dispatch(args.database)
        return

    if args.command == "webhooks":
        run_webhooks(args.database)
        return

    public_url = f"http://{args.host}:{args.port}"
    if args.command != "demo" and os.environ.get("CARTBACK_ADMIN_PASSWORD"):
        settings = Settings.from_env()
        if args.database is not None:
            settings = dataclasses.replace(settings, database=args.database)
        print(
            f"cartback receiver on {public_url}  (dashboard: {public_url}/admin)",
            file=sys.stderr,
            flush=True,
        )
        serve(create_app(settings), args.host, args.port)
        return
    demo(args, public_url)


def demo(args: argparse.Namespace, public_url: str) -> None:
    """The demo: receiver, order form, dashboard and a local mailbox, time running fast.
    Ctrl-C, even while it starts, ends it with exit code 0."""
    with contextlib.suppress(KeyboardInterrupt):
        run_demo(args, public_url)
    print("demo stopped", file=sys.stderr, flush=True)


def run_demo(args: argparse.Namespace, public_url: str) -> None:
    """``demo``'s work, until uvicorn stops."""
    database = args.database or str(Path("cartback-demo.sqlite3").resolve())
    settings = Settings.for_demo(database, public_url)
    clock = DemoClock(speed=args.speed)
    mailbox = Mailbox(clock)
    mailbox.start()
    print(
        "\n".join(
            [
                "cartback demo",
                f"  demo shop (order form): {public_url}/",
                f"  dashboard:              {public_url}/admin",
                f"  admin password:         {settings.admin_password}",
                f"  mailbox:                {public_url}/mailbox",
                f"  database:               {settings.database}",
                f"Time runs {args.speed:g} times faster: the recovery email comes about"
                f" {3 * 3600 / args.speed:.0f} seconds after you leave the order form.",
                "Fill in the order form with a US or Canadian address, close the tab, then"
                " watch the dashboard and the mailbox. Ctrl-C stops the demo.",
            ]
        ),
        file=sys.stderr,
        flush=True,
    )
    try:
        serve(create_app(settings, clock=clock, mailbox=mailbox), args.host, args.port)
    finally:
        mailbox.stop()


def serve(app: Starlette, host: str, port: int) -> None:
    """uvicorn until Ctrl-C or SIGTERM; Ctrl-C ends the process cleanly (exit 0)."""
    # What imports and create_app made lives as long as the process: leave it out of
    # every later garbage collection (measured: less CPU per capture, a lower p99).
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # request URLs may carry tokens; keep personal data out of logs
        )
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it shut down on
        print("stopped", file=sys.stderr, flush=True)


def dispatch(database: str | None) -> None:
    """Run the recovery dispatcher alone until SIGTERM or Ctrl-C."""
    settings = Settings.from_env()
    if database is not None:
        settings = dataclasses.replace(settings, database=database)
    cartback = build_cartback(settings)
    store = cartback.store
    runner = recovery_runner(cartback, settings, LinkSigner(settings.secret_key))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    print("cartback dispatcher started (Ctrl-C to stop)", file=sys.stderr, flush=True)
    runner.start()
    stopping.wait()
    runner.stop()
    store.close()


def run_webhooks(database: str | None) -> None:
    """The webhook worker and ticket triggers, until SIGTERM or SIGINT."""
    from server_example.integrations import run_forever

    settings = Settings.from_env()
    if database is not None:
        settings = dataclasses.replace(settings, database=database)
    cartback = build_cartback(settings)
    store = cartback.store
    try:
        run_forever(
            cartback,
            settings,
            ready=lambda: print("cartback webhooks worker running", file=sys.stderr, flush=True),
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
