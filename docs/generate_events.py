"""Write docs/events.md from the domain event models: ``python docs/generate_events.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cartback.events import event_schemas

OUTPUT = Path(__file__).with_name("events.md")

INTRO = """# Domain events

Generated from `cartback.events` by `python docs/generate_events.py`; do not edit.

Every change the store applies writes its events to the outbox in the same transaction.
Each consumer (webhook endpoints, the recovery flows, ticket rules, metrics, your own)
reads them independently: `Store.register_consumer`, `Store.claim`, `Store.settle`
(see [quickstart.md](quickstart.md#the-outbox)).

## What personal data an event carries

None. An event carries ids (`cart_id`, `consent_id`, `message_id`), names of fields
(`fields`, `changed`: which contact fields were filled or changed, never their values),
amounts and codes. A consumer that needs the contact reads it from the store when it
handles the event (`Cartback.get_cart`; `consent_id` names a ledger entry), so:

- the "contact data entered on order form" notification (`cart.captured`, and
  `cart.updated` for later changes) delivers the cart *as stored when it is delivered*:
  nothing the stored cart does not hold;
- an erased prospect is erased everywhere at once: their carts' events leave the outbox
  with them, a pending delivery about them is dropped, and there is nothing to scrub.

## Versions

Each type has a `version`. A change that is not backwards compatible (a field removed,
or a meaning changed) becomes a new version of the type; adding an optional field does
not. Every event also has `event_id` (stable across delivery attempts) and
`occurred_at` (UTC, ISO 8601).
"""


def _type_name(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type_name(part) for part in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = str(schema.get("type", "object"))
    if kind == "array":
        return f"list of {_type_name(schema.get('items', {}))}"
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    return kind


def render() -> str:
    """The page's Markdown."""
    out = [INTRO]
    for type_, schema in event_schemas().items():
        out += [f"## `{type_}`", "", str(schema.get("description", "")).strip(), ""]
        required = set(schema.get("required", []))
        out += ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
        for name, field in schema["properties"].items():
            meaning = str(field.get("description", "")).replace("\n", " ")
            mark = "yes" if name in required else ""
            out.append(f"| `{name}` | {_type_name(field)} | {mark} | {meaning} |")
        out += ["", "<details><summary>JSON schema</summary>", "", "```json"]
        out += [json.dumps(schema, indent=2, sort_keys=True), "```", "", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT}\n")
