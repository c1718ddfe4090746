"""Helpers for tests of the reference receiver: submissions, seeding, logging in.

- ``cart_submission``: a JSON-like capture body, eligible by default (US seller, US
  prospect), with any further form fields or context.
- ``seed``: capture several submissions through the SDK facade, moving the fake clock
  between them, and return the stored carts.
- ``log_in``: log a ``TestClient`` in through the login form.
- ``cart_ids``: the cart ids of a dashboard page's table, top to bottom.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.testclient import TestClient

from cartback import Cart, Cartback
from tests.conftest import FakeClock

__all__ = ["cart_ids", "cart_submission", "log_in", "seed"]

_CART_ID = re.compile(r'data-cart-id="([^"]+)"')


def cart_submission(
    email: str | None = "alice@example.com",
    *,
    form_id: str = "checkout",
    country: str = "US",
    seller: str = "us",
    fields: Mapping[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A capture body as the snippet sends it; ``context`` adds top-level keys
    (``product_id``, ``product_name``, ``cart_value``, ``currency``, ``consent``...)."""
    form_fields: dict[str, Any] = {"country": country}
    if email is not None:
        form_fields["email"] = email
    form_fields.update(fields or {})
    return {"form_id": form_id, "seller": seller, "fields": form_fields, **context}


def seed(
    cartback: Cartback,
    clock: FakeClock,
    submissions: Iterable[Mapping[str, Any]],
    *,
    step_seconds: float = 60,
) -> list[Cart]:
    """Capture each submission at the clock's time, then advance the clock by
    ``step_seconds``; return the stored carts in capture order."""
    carts = []
    for body in submissions:
        result = cartback.capture(body)
        assert result.cart is not None, f"not stored: {result.reasons}"
        carts.append(result.cart)
        clock.advance(seconds=step_seconds)
    return carts


def log_in(client: TestClient, password: str) -> None:
    """Log ``client`` in through the form; its cookie jar then holds the session."""
    response = client.post("/admin/login", data={"password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert "cartback_admin" in client.cookies


def cart_ids(html: str) -> list[str]:
    """The cart ids of the rows of a dashboard page, top to bottom."""
    return _CART_ID.findall(html)
