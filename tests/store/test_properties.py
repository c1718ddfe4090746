"""Property, on every backend: random sequences of captures and orders keep the merge
invariants (one open cart per prospect and form, newer values win, nothing erased)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback import Cartback, CartQuery, PostgresStore, SQLiteStore, Store
from tests.conftest import FakeClock
from tests.postgres import PostgresServer

PROSPECTS = {
    "ann": ["ann@example.com", "Ann@Example.com", "ANN@EXAMPLE.COM"],
    "bob": ["bob@example.org", "Bob@example.ORG"],
}
FORMS = ["f1", "f2"]
TEXT_FIELDS: dict[str, list[str | None]] = {
    "first_name": ["", " ", "Ann", "Anna", None],
    "city": ["", "Reno", "Las Vegas", "\t"],
    "zip": ["", "89501", "89502"],
}
EXTRA_FIELDS: dict[str, list[str | None]] = {"address_2": ["", "Apt 1", "Apt 2"]}
CONTACT_NAME = {"first_name": "first_name", "city": "city", "zip": "postal_code"}


@dataclass
class ModelCart:
    email: str
    values: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    product_id: str | None = None


capture_ops = st.fixed_dictionaries(
    {
        "op": st.just("capture"),
        "prospect": st.sampled_from(sorted(PROSPECTS)),
        "spelling": st.integers(min_value=0, max_value=2),
        "form": st.sampled_from(FORMS),
        "fields": st.fixed_dictionaries(
            {},
            optional={
                name: st.sampled_from(values)
                for name, values in {**TEXT_FIELDS, **EXTRA_FIELDS}.items()
            },
        ),
        "product_id": st.sampled_from([None, "p1", "p2"]),
    }
)
order_ops = st.fixed_dictionaries(
    {"op": st.just("order"), "prospect": st.sampled_from(sorted(PROSPECTS))}
)
operations = st.lists(st.one_of(capture_ops, capture_ops, capture_ops, order_ops), max_size=14)


def filled(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


@contextlib.contextmanager
def fresh_store(backend: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A new, empty store for one example."""
    if backend == "sqlite":
        path = request.getfixturevalue("tmp_path_factory").mktemp("merge") / "c.sqlite3"
        with SQLiteStore(path, synchronous="NORMAL") as store:
            yield store
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.fresh_schema() as schema, PostgresStore(server.dsn(schema=schema)) as store:
        yield store


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_property_merge_invariants(
    backend: str, request: pytest.FixtureRequest, ops: list[dict[str, Any]]
) -> None:
    clock = FakeClock(datetime(2026, 5, 1, tzinfo=UTC))
    with fresh_store(backend, request) as store:
        client = Cartback(store, clock=clock)
        model: dict[tuple[str, str], ModelCart] = {}
        for op in ops:
            clock.advance(minutes=1)
            prospect = op["prospect"]
            if op["op"] == "order":
                closed = client.mark_ordered(email=PROSPECTS[prospect][0])
                expected_forms = {form for (who, form) in model if who == prospect}
                assert {cart.context.form_id for cart in closed} == expected_forms
                for form in expected_forms:
                    del model[(prospect, form)]
                continue

            spellings = PROSPECTS[prospect]
            email = spellings[op["spelling"] % len(spellings)]
            body: dict[str, Any] = {
                "form_id": op["form"],
                "seller": "us",
                "fields": {"email": email, "country": "US", **op["fields"]},
            }
            if op["product_id"] is not None:
                body["product_id"] = op["product_id"]
            result = client.capture(body)
            assert result.cart is not None

            normalised = email.rpartition("@")[0] + "@" + email.rpartition("@")[2].lower()
            key = (prospect, op["form"])
            before = model.get(key)
            current = before or ModelCart(email=normalised)
            snapshot = (
                current.email,
                dict(current.values),
                dict(current.extra),
                current.product_id,
            )
            current.email = normalised
            for name, raw in op["fields"].items():
                text = filled(raw)
                if text is None:
                    continue
                if name in CONTACT_NAME:
                    current.values[CONTACT_NAME[name]] = text
                else:
                    current.extra[name] = text
            if op["product_id"] is not None:
                current.product_id = op["product_id"]
            model[key] = current
            changed = snapshot != (
                current.email,
                current.values,
                current.extra,
                current.product_id,
            )
            expected_status = "stored" if before is None else "updated" if changed else "unchanged"
            assert result.status == expected_status

            cart = result.cart
            assert cart.status == "open"
            assert cart.contact.email == current.email
            assert cart.contact.prospect_key == spellings[0].lower()
            for name in CONTACT_NAME.values():
                assert getattr(cart.contact, name) == current.values.get(name)
            assert cart.contact.address_extra == current.extra
            assert cart.context.product_id == current.product_id
            assert client.get_cart(cart.id) == cart

        open_carts = list(client.iter_carts(CartQuery(status="open")))
        keys = [(cart.contact.prospect_key, cart.context.form_id) for cart in open_carts]
        assert len(keys) == len(set(keys))
        assert set(keys) == {(PROSPECTS[who][0].lower(), form) for who, form in model}
