"""``python -m server_example``: the demo, or the receiver from ``CARTBACK_*`` settings.

Without ``CARTBACK_ADMIN_PASSWORD`` set it starts the demo: a random admin password,
the demo shop page at ``/`` embedding the snippet, and the dashboard at ``/admin``.
``python -m server_example webhooks`` runs the webhook worker and the ticket triggers
as a process of their own (set ``CARTBACK_RUN_WORKERS=0`` on the receivers then).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import uvicorn

from server_example.app import create_app
from server_example.openapi import OPENAPI_PATH, render
from server_example.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server_example", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "webhooks"],
        help="serve (default): the receiver; webhooks: the webhook worker and ticket triggers",
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
    args = parser.parse_args(argv)
    if args.write_openapi:
        OPENAPI_PATH.write_text(render(), encoding="utf-8")
        print(f"wrote {OPENAPI_PATH}")
        return

    if args.command == "webhooks":
        run_webhooks(args.database)
        return

    public_url = f"http://{args.host}:{args.port}"
    if os.environ.get("CARTBACK_ADMIN_PASSWORD"):
        settings = Settings.from_env()
        if args.database is not None:
            settings = dataclasses.replace(settings, database=args.database)
        banner = [f"cartback receiver on {public_url}  (dashboard: {public_url}/admin)"]
    else:
        database = args.database or str(Path("cartback-demo.sqlite3").resolve())
        settings = Settings.for_demo(database, public_url)
        banner = [
            "cartback demo",
            f"  demo shop (order form): {public_url}/",
            f"  dashboard:              {public_url}/admin",
            f"  admin password:         {settings.admin_password}",
            f"  database:               {settings.database}",
            "Fill in the order form, close the tab, then open the dashboard.",
        ]
    print("\n".join(banner), file=sys.stderr, flush=True)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,  # request URLs may carry tokens; keep personal data out of logs
    )


def run_webhooks(database: str | None) -> None:
    """The webhook worker and ticket triggers, until SIGTERM or SIGINT."""
    from cartback import Cartback, LinkSigner, open_store
    from server_example.integrations import run_forever

    settings = Settings.from_env()
    if database is not None:
        settings = dataclasses.replace(settings, database=database)
    store = open_store(settings.database, synchronous=settings.synchronous)
    cartback = Cartback(
        store,
        policy=settings.policy,
        forms=settings.forms,
        retention_days=settings.retention_days,
        links=LinkSigner(settings.secret_key),
    )
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
