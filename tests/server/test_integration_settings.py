"""The receiver's integration settings: ``webhooks`` and ``tickets`` in
``CARTBACK_CONFIG``, checked when read; the background workers' switch and lease."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cartback import ConfigurationError
from cartback.webhooks import EndpointConfigError
from server_example.settings import Settings, ticket_rules

BASE = {"CARTBACK_ADMIN_PASSWORD": "a password!", "CARTBACK_SECRET_KEY": "k" * 32}
ENDPOINT = {
    "id": "crm",
    "url": "https://hooks.example.com/x",
    "secrets": ["whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"],
    "event_types": ["cart.captured"],
}


def settings(tmp_path: Path, config: dict[str, Any], **env: str) -> Settings:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return Settings.from_env({**BASE, "CARTBACK_CONFIG": str(path), **env})


def test_webhooks_and_tickets_are_read_from_the_config(tmp_path: Path) -> None:
    read = settings(
        tmp_path,
        {
            "webhooks": [ENDPOINT],
            "tickets": {
                "presets": {
                    "call_prospect": {"min_value": "200", "currency": "USD"},
                    "repeated_abandonments": {"times": 2, "within": "P7D"},
                    "important_lead": {"form_ids": ["vip"]},
                },
                "rules": [
                    {
                        "id": "own",
                        "kind": "custom",
                        "title": "Ours",
                        "conditions": [{"type": "phone_present"}],
                    }
                ],
            },
        },
        CARTBACK_RUN_WORKERS="0",
        CARTBACK_WEBHOOK_LEASE_SECONDS="30",
    )
    assert [dict(one)["id"] for one in read.webhooks] == ["crm"]
    assert [rule.id for rule in read.tickets.rules] == [
        "call-prospect",
        "repeated-abandonments",
        "important-lead",
        "own",
    ]
    assert read.tickets.rules[1].dedupe_period is not None
    assert read.tickets.rules[1].dedupe_period.days == 7
    assert (read.run_workers, read.webhook_lease_seconds) == (False, 30.0)


def test_by_default_no_endpoint_no_rule_and_the_workers_run(tmp_path: Path) -> None:
    read = settings(tmp_path, {})
    assert (read.webhooks, read.tickets.rules, read.run_workers) == ((), (), True)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"webhooks": {"id": "x"}}, ConfigurationError),
        ({"webhooks": [ENDPOINT, ENDPOINT]}, ConfigurationError),
        ({"webhooks": [{**ENDPOINT, "url": "http://10.0.0.1/x"}]}, EndpointConfigError),
        ({"tickets": {"presets": {"call_everyone": {}}}}, ConfigurationError),
        ({"tickets": {"presets": {"call_prospect": {}}}}, ConfigurationError),
        ({"tickets": {"presets": {"call_prospect": {"min_value": "x"}}}}, ConfigurationError),
        ({"tickets": {"rules": [{"id": "Bad Id"}]}}, ConfigurationError),
        ({"tickets": []}, ConfigurationError),
    ],
)
def test_bad_integration_settings_stop_the_receiver(
    tmp_path: Path, config: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        settings(tmp_path, config)


def test_a_lease_under_a_second_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        settings(tmp_path, {}, CARTBACK_WEBHOOK_LEASE_SECONDS="0.5")


def test_the_receiver_example_of_the_tickets_page_is_read() -> None:
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "tickets.md").read_text("utf-8")
    [block] = re.findall(r"```jsonc\n(.*?)```", page, re.DOTALL)
    rules = ticket_rules(json.loads(block)["tickets"])
    assert [rule.id for rule in rules.rules] == [
        "call-prospect",
        "repeated-abandonments",
        "important-lead",
        "sms-small-carts",
    ]


def test_presets_alone_make_the_documented_rules() -> None:
    rules = ticket_rules({"presets": {"call_prospect": {"min_value": 150}}})
    [rule] = rules.rules
    assert (rule.id, rule.kind, rule.priority) == ("call-prospect", "call_prospect", "high")
