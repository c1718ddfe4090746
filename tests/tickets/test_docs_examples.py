"""The examples of docs/tickets.md run as written."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cartback.tickets import (
    TicketRuleSet,
    call_prospect_rule,
    important_lead_rule,
    load_ticket_rules,
    repeated_abandonments_rule,
)
from tests.tickets.support import NOW, cart

PAGE = Path(__file__).parent.parent.parent / "docs" / "tickets.md"


def blocks(language: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return [str(block) for block in re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)]


def test_the_json_file_is_the_python_presets() -> None:
    namespace: dict[str, Any] = {}
    exec(blocks("python")[0], namespace)
    [rule_file, custom_rule] = blocks("json")
    assert (
        load_ticket_rules(rule_file)
        == namespace["rules"]
        == TicketRuleSet(
            rules=(
                call_prospect_rule(Decimal("200")),
                repeated_abandonments_rule(3, timedelta(days=30)),
                important_lead_rule(product_ids=["p_course"], form_ids=["f_vip"]),
            )
        )
    )
    assert load_ticket_rules({"rules": [json.loads(custom_rule)]}).rules[0].id == "sms-small-carts"


def test_the_evaluation_and_ticket_examples_run() -> None:
    class Store:
        def consent_events(self, prospect: str) -> list[object]:
            return []

    namespace: dict[str, Any] = {
        "rules": load_ticket_rules(blocks("json")[0]),
        "cart": cart(),
        "store_carts_of_the_prospect": [],
        "store": Store(),
        "prospect": "jane@example.com",
        "now": NOW,
    }
    exec(blocks("python")[1], namespace)
    drafts = namespace["drafts"]
    assert [draft.rule_id for draft in drafts] == ["call-prospect", "important-lead"]
    namespace["draft"] = drafts[0]
    exec(blocks("python")[2], namespace)
    ticket = namespace["ticket"]
    assert (ticket.status, ticket.resolution, ticket.assignee) == ("closed", "won", "maria")
    assert ticket.draft.rule_id == "call-prospect"
