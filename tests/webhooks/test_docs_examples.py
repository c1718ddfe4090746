"""The Python examples of docs/webhooks.md run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cartback.webhooks import Delivery, WebhookDeliverer, WebhookEndpoint, sign_ipn, webhook_payload
from tests.conftest import FakeClock
from tests.webhooks.support import SECRET, RecordingServer, endpoint

PAGE = Path(__file__).parent.parent.parent / "docs" / "webhooks.md"


def example(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    [block] = [block for block in blocks if containing in block]
    return str(block)


def test_the_verification_example_accepts_a_real_delivery_and_refuses_a_forged_one(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    seen: set[str] = set()

    def already_processed(webhook_id: str) -> bool:
        known = webhook_id in seen
        seen.add(webhook_id)
        return known

    namespace: dict[str, Any] = {"already_processed": already_processed}
    exec(example("Webhook(").replace('"whsec_..."', repr(SECRET)), namespace)
    receive = namespace["receive"]
    body = webhook_payload("cart.captured", real_now_clock(), {"cart_id": "c_1"})
    deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body))
    [request] = server.to("/hook")

    status, event = receive(request.body, request.headers)
    assert (status, event["data"]) == (200, {"cart_id": "c_1"})
    assert receive(request.body, request.headers) == (200, None)  # a replay is dropped
    forged = request.body.replace(b"c_1", b"c_2")
    assert receive(forged, request.headers) == (400, None)


def test_the_configuration_example_builds_an_endpoint() -> None:
    namespace: dict[str, Any] = {}
    exec(example("parse_endpoint("), namespace)
    assert isinstance(namespace["endpoint"], WebhookEndpoint)


def test_the_ipn_example_verifies_what_it_signs() -> None:
    passphrase = "a passphrase"
    namespace: dict[str, Any] = {
        "passphrase": passphrase,
        "request_form": sign_ipn({"event": "on_payment", "order_id": "A1"}, passphrase),
    }
    exec(example("verify_ipn("), namespace)
    assert (
        namespace["signed"]["sha_sign"]
        == sign_ipn(
            {"event": "on_payment", "order_id": "A3NXHEHF", "email": "jane@example.com"}, passphrase
        )["sha_sign"]
    )
