"""Endpoint settings: what is accepted, and a precise error for everything else."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from cartback.webhooks import (
    EndpointConfigError,
    WebhookEndpoint,
    parse_endpoint,
)
from tests.webhooks.support import OLD_SECRET, SECRET

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def settings(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "crm",
        "url": "https://hooks.example.com/cartback",
        "secrets": [SECRET],
        "event_types": ["cart.captured", "ticket.created"],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def secret_of(size: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * size).decode()


def test_the_defaults_of_a_minimal_endpoint() -> None:
    endpoint = parse_endpoint(settings())
    assert endpoint.enabled
    assert endpoint.event_types == frozenset({"cart.captured", "ticket.created"})
    assert (endpoint.max_in_flight, endpoint.rate_per_second, endpoint.effective_burst) == (
        2,
        10.0,
        10,
    )
    assert (endpoint.connect_timeout, endpoint.read_timeout) == (5.0, 15.0)
    assert endpoint.subscribes("cart.captured")
    assert not endpoint.subscribes("cart.ordered")


def test_an_endpoint_is_frozen_and_its_repr_hides_the_secrets() -> None:
    endpoint = parse_endpoint(settings())
    with pytest.raises(ValidationError):
        endpoint.url = "https://elsewhere.example.com/"
    assert SECRET not in repr(endpoint)


def test_settings_survive_a_json_round_trip() -> None:
    endpoint = parse_endpoint(
        settings(
            secrets=[SECRET, {"value": OLD_SECRET, "active_until": "2026-11-23T00:00:00Z"}],
            allowed_networks=["10.1.2.0/24", "fd00:1::/64"],
            allowed_hosts=["CRM.Lan."],
            url="http://crm.lan:8080/hook",
            burst=3,
        )
    )
    assert endpoint.allowed_hosts == ("crm.lan",)
    assert endpoint.allowed_networks[0] == ipaddress.ip_network("10.1.2.0/24")
    assert WebhookEndpoint.model_validate_json(endpoint.model_dump_json()) == endpoint


def test_active_secrets_put_the_current_one_first_and_drop_retired_ones() -> None:
    endpoint = parse_endpoint(
        settings(secrets=[{"value": OLD_SECRET, "active_until": NOW.isoformat()}, SECRET])
    )
    assert endpoint.active_secrets(NOW - timedelta(seconds=1)) == (SECRET, OLD_SECRET)
    assert endpoint.active_secrets(NOW) == (SECRET,)


@pytest.mark.parametrize(
    ("changes", "setting", "reason"),
    [
        ({"url": None}, "url", "missing"),
        ({"url": "ftp://hooks.example.com/"}, "url", "unsupported_scheme"),
        ({"url": "hooks.example.com/cartback"}, "url", "unsupported_scheme"),
        ({"url": "http://hooks.example.com/"}, "url", "http_not_allowed"),
        ({"url": "https://user:pass@hooks.example.com/"}, "url", "credentials_in_url"),
        ({"url": "https://hooks.example.com/#part"}, "url", "fragment_in_url"),
        ({"url": "https://hooks.example.com:0/"}, "url", "invalid_port"),
        ({"url": "https://hooks.example.com:70000/"}, "url", "invalid_port"),
        ({"url": "https:///cartback"}, "url", "missing_host"),
        ({"url": "https://hooks.example.com/a b"}, "url", "invalid_url"),
        ({"url": "https://hooks.example.com/\x00"}, "url", "invalid_url"),
        ({"url": "https://hooks.example.com/" + "a" * 2100}, "url", "url_too_long"),
        ({"url": "https://*.example.com/"}, "url", "invalid_host"),
        ({"url": "https://10.0.0.7/hook"}, "url", "refused_address"),
        ({"url": "https://[fd00::7]/hook"}, "url", "refused_address"),
        ({"url": "https://localhost/hook"}, "url", "refused_address"),
        ({"url": "https://api.localhost/hook"}, "url", "refused_address"),
        ({"url": "https://127.1/hook"}, "url", "ambiguous_ip_literal"),
        ({"id": ""}, "id", "invalid_id"),
        ({"id": "has space"}, "id", "invalid_id"),
        ({"secrets": []}, "secrets", "too_short"),
        ({"secrets": [secret_of(24 + n) for n in range(6)]}, "secrets", "too_long"),
        ({"secrets": ["c2VjcmV0LXdpdGhvdXQtcHJlZml4LTI0Ynl0ZXM="]}, "secrets.0", "secret_prefix"),
        ({"secrets": ["whsec_not base64!"]}, "secrets.0", "secret_not_base64"),
        ({"secrets": [secret_of(16)]}, "secrets.0", "secret_too_short"),
        ({"secrets": [secret_of(65)]}, "secrets.0", "secret_too_long"),
        ({"secrets": [SECRET, SECRET]}, "secrets", "duplicate_secret"),
        (
            {"secrets": [{"value": SECRET, "active_until": "2026-11-23T00:00:00Z"}]},
            "secrets",
            "no_current_secret",
        ),
        (
            {"secrets": [SECRET, {"value": OLD_SECRET, "active_until": "2026-11-23T00:00:00"}]},
            "secrets.1.active_until",
            "naive_datetime",
        ),
        ({"event_types": []}, "event_types", "too_short"),
        ({"event_types": ["cart.abandoned"]}, "event_types.0", "unknown_value"),
        ({"max_in_flight": 0}, "max_in_flight", "greater_than_equal"),
        ({"max_in_flight": 33}, "max_in_flight", "less_than_equal"),
        ({"rate_per_second": 0}, "rate_per_second", "greater_than"),
        ({"burst": 0}, "burst", "greater_than_equal"),
        ({"connect_timeout": 0}, "connect_timeout", "greater_than"),
        ({"read_timeout": 121}, "read_timeout", "less_than_equal"),
        ({"allowed_networks": ["10.0.0.1/8"]}, "allowed_networks.0", "host_bits_set"),
        ({"allowed_networks": ["the office"]}, "allowed_networks.0", "invalid_network"),
        ({"allowed_hosts": ["10.0.0.1"]}, "allowed_hosts.0", "ip_in_allowed_hosts"),
        ({"allowed_hosts": ["*.lan"]}, "allowed_hosts.0", "invalid_host"),
        ({"disabled": {"reason": "gone"}}, "disabled.at", "missing"),
        (
            {"disabled": {"reason": "bored", "at": "2026-11-22T12:00:00Z"}},
            "disabled.reason",
            "unknown_value",
        ),
        ({"colour": "blue"}, "colour", "unknown_setting"),
    ],
)
def test_each_invalid_setting_is_named_with_a_stable_reason(
    changes: dict[str, Any], setting: str, reason: str
) -> None:
    with pytest.raises(EndpointConfigError) as caught:
        parse_endpoint(settings(**changes))
    assert (caught.value.setting, caught.value.reason) == (setting, reason)
    assert str(caught.value).startswith(setting + ": ")


def test_an_error_never_repeats_a_secret() -> None:
    short = secret_of(20)
    with pytest.raises(EndpointConfigError) as caught:
        parse_endpoint(settings(secrets=[short]))
    assert short.removeprefix("whsec_") not in str(caught.value)


@pytest.mark.parametrize(
    ("changes"),
    [
        {"url": "http://10.1.2.3:8080/hook", "allowed_networks": ["10.1.2.0/24"]},
        {"url": "https://10.1.2.3/hook", "allowed_networks": ["10.0.0.0/8"]},
        {"url": "http://crm.lan/hook", "allowed_hosts": ["crm.lan"]},
        {"url": "http://localhost:9000/hook", "allowed_hosts": ["localhost"]},
        {"url": "http://[::1]:9000/hook", "allowed_networks": ["::1/128"]},
        {"url": "https://bücher.example/hook"},
        {"url": "https://hooks.example.com:8443/a/b?token=t"},
    ],
)
def test_allow_listed_and_ordinary_targets_are_accepted(changes: dict[str, Any]) -> None:
    assert parse_endpoint(settings(**changes)).url == changes["url"]


def test_a_private_literal_outside_the_allowed_networks_is_still_refused() -> None:
    with pytest.raises(EndpointConfigError) as caught:
        parse_endpoint(settings(url="http://10.9.9.9/hook", allowed_networks=["10.1.2.0/24"]))
    assert caught.value.reason == "refused_address"


def test_model_validation_carries_the_same_codes() -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookEndpoint.model_validate(settings(url="http://hooks.example.com/"))
    assert caught.value.errors()[0]["type"] == "http_not_allowed"
