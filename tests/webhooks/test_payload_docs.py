"""The published payloads: docs/webhooks.md and docs/webhook-payloads.schema.json match
the payload models, and the stored-endpoint example of the page runs as written."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from cartback import Cartback, SQLiteStore
from cartback.webhooks import WEBHOOK_EVENT_TYPES, payload_models
from tests.conftest import FakeClock
from tests.webhooks.support import SECRET
from tests.webhooks.test_docs_examples import example

DOCS = Path(__file__).resolve().parents[2] / "docs"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen", DOCS / "generate_webhook_payloads.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_payload_section_and_schema_file_are_up_to_date() -> None:
    made = generator()
    page = (DOCS / "webhooks.md").read_text(encoding="utf-8")
    assert made.section() in page, "run: python docs/generate_webhook_payloads.py"
    schemas = (DOCS / "webhook-payloads.schema.json").read_text(encoding="utf-8")
    assert schemas == made.schema_file(), "run: python docs/generate_webhook_payloads.py"


def test_every_subscribable_type_has_a_versioned_body_model() -> None:
    models = payload_models()
    assert set(models) == set(WEBHOOK_EVENT_TYPES)
    for event_type, model in models.items():
        assert model.model_fields["type"].annotation is not None
        assert event_type in str(model.model_fields["type"].annotation)
        assert set(model.model_fields) == {"type", "version", "timestamp", "data"}


def test_the_stored_endpoint_example_runs(tmp_path: Path, clock: FakeClock) -> None:
    with SQLiteStore(tmp_path / "docs.sqlite3") as store:
        namespace: dict[str, Any] = {
            "cartback": Cartback(store, clock=clock),
            "start": clock.now - timedelta(days=1),
            "end": clock.now,
        }
        code = example("add_webhook_endpoint(").replace('"whsec_..."', repr(SECRET))
        exec(code, namespace)
        assert namespace["view"].id == "crm"
        assert namespace["cartback"].webhook_endpoints() == []
