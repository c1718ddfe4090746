"""Signed webhook deliveries per second to a local receiver, next to unsigned posts.

Starts a receiver in a subprocess on 127.0.0.1 (uvicorn, a bare ASGI app that reads the
body and answers 204), then measures, in rounds that alternate so drift hits both alike:

  bare      a plain ``httpx.Client`` loop posting the same JSON body, unsigned: the floor
            of what one thread can push through httpx to that receiver
  signed    ``WebhookDeliverer.deliver`` in a loop: Standard Webhooks signing (one
            secret, and two while rotating), the SSRF-guarded transport, the typed result
  bare xC   C threads, each with its own plain client, sharing the posts
  sender    ``WebhookSender`` with ``max_in_flight=C`` on one endpoint (the lane's
            threads, token bucket and results), fed by ``submit`` and drained

and prints deliveries per second for each, the best of the rounds, with the ratio
signed / bare beside it. It also prints the cost of signing alone, in process.

Figures, not pass/fail: the exit status is 0 whatever they are.

    python bench/bench_webhooks.py [--deliveries 2000] [--rounds 3] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import base64
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from cartback.signatures import signature_header
from cartback.webhooks import (
    Delivery,
    DeliveryResult,
    WebhookDeliverer,
    WebhookEndpoint,
    WebhookSender,
    parse_endpoint,
    webhook_payload,
)

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(64, 96))).decode()
BODY = webhook_payload(
    "cart.captured",
    datetime(2026, 11, 22, 12, tzinfo=UTC),
    {
        "cart_id": "cart_bench",
        "form_id": "f_main",
        "product_id": "p_course",
        "cart_value": "249.00",
        "currency": "USD",
        "contact": {"email": "ava.smith@example.com", "first_name": "Ava", "last_name": "Smith"},
    },
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def receiver(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, answer 204: the same work for signed and unsigned posts."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/hook", content=b"{}", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the receiver did not start")


def bare_loop(url: str, count: int) -> float:
    headers = {"content-type": "application/json"}
    with httpx.Client(timeout=10) as client:
        client.post(url, content=BODY, headers=headers)
        started = time.perf_counter()
        for _ in range(count):
            response = client.post(url, content=BODY, headers=headers)
            assert response.status_code == 204
        return count / (time.perf_counter() - started)


def bare_threads(url: str, count: int, threads: int) -> float:
    share = count // threads
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        with httpx.Client(timeout=10) as client:
            client.post(url, content=BODY)
            barrier.wait()
            for _ in range(share):
                client.post(url, content=BODY, headers={"content-type": "application/json"})

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return share * threads / (time.perf_counter() - started)


def signed_loop(deliverer: WebhookDeliverer, endpoint: WebhookEndpoint, count: int) -> float:
    deliverer.deliver(endpoint, Delivery("evt_warm", BODY))
    started = time.perf_counter()
    for n in range(count):
        result = deliverer.deliver(endpoint, Delivery(f"evt_{n}", BODY))
        assert result.kind == "delivered", result
    return count / (time.perf_counter() - started)


def sender_run(deliverer: WebhookDeliverer, endpoint: WebhookEndpoint, count: int) -> float:
    done = threading.Semaphore(0)
    failures: list[DeliveryResult] = []

    def on_result(delivery: Delivery, result: DeliveryResult) -> None:
        if result.kind != "delivered":
            failures.append(result)
        done.release()

    sender = WebhookSender(deliverer.deliver, on_result, max_queued=count + 1)
    try:
        started = time.perf_counter()
        for n in range(count):
            status = sender.submit(endpoint, Delivery(f"evt_{n}", BODY))
            assert status == "accepted", status
        for _ in range(count):
            done.acquire()
        elapsed = time.perf_counter() - started
    finally:
        sender.close(timeout=10)
    assert not failures, failures[:3]
    return count / elapsed


def signing_cost(secrets: list[str], count: int = 20_000) -> float:
    """Microseconds to sign one body (in process, no network)."""
    started = time.perf_counter()
    for n in range(count):
        signature_header(secrets, f"evt_{n}", 1_795_000_000, BODY)
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    process = start_receiver(port)
    settings: dict[str, Any] = {
        "id": "bench",
        "url": url,
        "secrets": [SECRET],
        "event_types": ["cart.captured"],
        "allowed_networks": ["127.0.0.0/8"],
        "rate_per_second": 1000,
        "burst": 1000,
    }
    one_secret = parse_endpoint(settings)
    rotating = parse_endpoint(
        {
            **settings,
            "secrets": [SECRET, {"value": OLD_SECRET, "active_until": "2100-01-01T00:00:00Z"}],
        }
    )
    lane = parse_endpoint({**settings, "max_in_flight": args.concurrency})
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = max(best.get(name, 0.0), value)

    count, threads = args.deliveries, args.concurrency
    try:
        with WebhookDeliverer() as deliverer:
            for _ in range(args.rounds):
                keep("bare", bare_loop(url, count))
                keep("signed", signed_loop(deliverer, one_secret, count))
                keep("signed2", signed_loop(deliverer, rotating, count))
                keep("bare_threads", bare_threads(url, count, threads))
                keep("sender", sender_run(deliverer, lane, count))
    finally:
        process.terminate()
        process.wait(timeout=10)

    print(f"receiver: uvicorn on 127.0.0.1, {len(BODY)}-byte JSON body, {count} posts a run,")
    print(f"best of {args.rounds} rounds (deliveries per second)")
    print(f"  bare httpx loop, unsigned          {best['bare']:8.0f}/s")
    print(
        f"  signed, one secret                 {best['signed']:8.0f}/s"
        f"   ratio signed/bare {best['signed'] / best['bare']:.2f}"
    )
    print(
        f"  signed, two secrets (rotation)     {best['signed2']:8.0f}/s"
        f"   ratio signed/bare {best['signed2'] / best['bare']:.2f}"
    )
    print(f"  bare httpx, {threads} threads, unsigned    {best['bare_threads']:8.0f}/s")
    print(
        f"  sender, max_in_flight={threads}           {best['sender']:8.0f}/s"
        f"   ratio sender/bare x{threads} {best['sender'] / best['bare_threads']:.2f}"
    )
    print(
        f"signing alone, in process: {signing_cost([SECRET]):.1f} µs (one secret), "
        f"{signing_cost([SECRET, OLD_SECRET]):.1f} µs (two)"
    )


if __name__ == "__main__":
    main()
