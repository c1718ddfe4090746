"""The baseline for ``bench_receiver.py``: a bare Starlette app with one JSON endpoint.

``POST /api/capture`` reads the body, parses it as JSON and answers a small JSON
object, the same shape the receiver answers; nothing is validated or stored. It runs
under the same uvicorn settings as ``python -m server_example`` so that the ratio of
the two throughputs is the cost of the receiver's own work (validation, eligibility,
capture, durable SQLite writes).

    python bench/bare_app.py --port 8001
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def capture(request: Request) -> JSONResponse:
    data = json.loads(await request.body())
    status = "stored" if isinstance(data, dict) else "not_stored"
    return JSONResponse({"status": status, "reasons": []})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/api/capture", capture, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
    ]
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/bare_app.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    # The same settings as server_example/__main__.py.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
