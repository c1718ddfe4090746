"""The receiver's configuration, read once from the environment (``CARTBACK_*``)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cartback import ConfigurationError, EligibilityPolicy, OrderForm
from cartback.tickets import TicketRuleSet

__all__ = ["Settings", "ticket_rules", "webhook_settings"]


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the receiver needs; see docs/receiver.md for each variable."""

    database: str | Path
    """The database (``CARTBACK_DATABASE``, ``--database``): a SQLite file path, or a
    ``postgresql://`` DSN for several receivers on one PostgreSQL."""
    admin_password: str
    """Dashboard password, also accepted as a Bearer token (``CARTBACK_ADMIN_PASSWORD``)."""
    secret_key: bytes
    """Signs links and the admin session cookie (``CARTBACK_SECRET_KEY``, ≥ 32 bytes)."""
    public_url: str = "http://127.0.0.1:8000"
    """Where the receiver is reachable (``CARTBACK_PUBLIC_URL``); its origin is allowed."""
    allowed_origins: tuple[str, ...] = ()
    """Shop origins allowed to post captures (``CARTBACK_ALLOWED_ORIGINS``, comma list)."""
    api_secret: str | None = None
    """Standard Webhooks secret (``whsec_...``) the signed API (``/api/orders``,
    ``/api/devices``, ``/api/social``, ``/api/track``, ``/api/inbound/*``) verifies
    (``CARTBACK_API_SECRET``; ``CARTBACK_ORDER_SECRET`` is read as well)."""
    trusted_country_header: str | None = None
    """A CDN header holding the visitor's country, used when the form has none."""
    trusted_client_ip_header: str | None = None
    """A proxy header holding the client IP (first entry), for rate limiting."""
    max_body_bytes: int = 16 * 1024
    """Largest accepted request body (``CARTBACK_MAX_BODY_BYTES``)."""
    rate_per_minute: int = 120
    """Sustained captures per client IP per minute (``CARTBACK_RATE_PER_MINUTE``)."""
    rate_burst: int = 40
    """Captures a client may send at once before the rate applies (``CARTBACK_RATE_BURST``)."""
    forms: Mapping[str, OrderForm] = field(default_factory=dict)
    """Order-form declarations by id (``forms`` in ``CARTBACK_CONFIG``)."""
    form_urls: Mapping[str, str] = field(default_factory=dict)
    """Order-form page URLs by form id, for recovery links (``form_urls`` in the config)."""
    policy: EligibilityPolicy = field(default_factory=EligibilityPolicy)
    """The eligibility policy (``policy`` in ``CARTBACK_CONFIG``)."""
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """SQLite durability (``CARTBACK_SYNCHRONOUS``): FULL survives power loss."""
    retention_days: int = 90
    """Carts idle this long are purged (``CARTBACK_RETENTION_DAYS``)."""
    demo: bool = False
    """Serve the demo shop page at ``/``."""
    shop: Mapping[str, Any] = field(default_factory=dict)
    """What recovery messages say and who sends them (``shop`` in ``CARTBACK_CONFIG``:
    the fields of ``cartback.ShopSettings``)."""
    flows: Mapping[str, Any] = field(default_factory=dict)
    """Which carts enter which flow (``flows`` in ``CARTBACK_CONFIG``: ``default``,
    ``by_form``, ``by_product``, ``definitions``); the conversational email by default."""
    guards: Mapping[str, Any] = field(default_factory=dict)
    """Quiet hours, frequency caps and the flows' other guards (``guards`` in
    ``CARTBACK_CONFIG``: the fields of ``cartback.flows.Guards``; the fallback time zone
    is the shop's)."""
    senders: Mapping[str, Any] = field(default_factory=dict)
    """How each channel sends (``senders`` in ``CARTBACK_CONFIG``); a channel without one
    is a dry run: recorded, never sent."""
    smtp_url: str | None = None
    """``smtp://user:password@host:port?security=starttls`` for email (``CARTBACK_SMTP_URL``)."""
    dispatcher: bool = True
    """Run the recovery dispatcher in the receiver (``CARTBACK_DISPATCHER=off`` when
    ``python -m server_example dispatch`` runs it as its own process)."""
    dispatch_interval: float = 15.0
    """Seconds between two dispatcher ticks (``CARTBACK_DISPATCH_INTERVAL``)."""
    submitted_minutes: int = 60
    """Minutes a submitted cart waits for the order before it is abandoned again
    (``CARTBACK_SUBMITTED_MINUTES``)."""
    webhooks: tuple[Mapping[str, Any], ...] = ()
    """Webhook endpoints' settings (``webhooks`` in ``CARTBACK_CONFIG``), stored in the
    database at startup (docs/webhooks.md); the dashboard adds and edits more."""
    tickets: TicketRuleSet = field(default_factory=TicketRuleSet)
    """Ticket trigger rules (``tickets`` in ``CARTBACK_CONFIG``: presets and rules)."""
    run_workers: bool = True
    """Run the webhook worker and the ticket triggers inside the receiver
    (``CARTBACK_RUN_WORKERS=0`` when ``python -m server_example webhooks`` runs them)."""
    webhook_lease_seconds: float = 300.0
    """How long the webhook worker holds a claimed delivery; after a crash, what it held
    is sent again once this has passed (``CARTBACK_WEBHOOK_LEASE_SECONDS``)."""
    capture_worker: Literal["process", "thread"] = "process"
    """Where captures are checked and stored (``CARTBACK_CAPTURE_WORKER``): ``process``,
    a worker process beside the web process (the second core works for captures);
    ``thread``, a thread of the web process (one process; an injected clock)."""

    def __post_init__(self) -> None:
        if len(self.secret_key) < 32:
            raise ConfigurationError("secret_key must hold at least 32 bytes", setting="secret_key")
        if len(self.admin_password) < 8:
            raise ConfigurationError(
                "admin_password must hold at least 8 characters", setting="admin_password"
            )
        if self.dispatch_interval <= 0 or self.submitted_minutes < 1:
            raise ConfigurationError(
                "dispatch_interval and submitted_minutes must be positive",
                setting="dispatch_interval",
            )
        if self.webhook_lease_seconds < 1:
            raise ConfigurationError(
                "webhook_lease_seconds must be at least 1", setting="webhook_lease_seconds"
            )
        if self.capture_worker not in ("process", "thread"):
            raise ConfigurationError(
                "capture_worker is process or thread", setting="capture_worker"
            )
        if self.max_body_bytes < 1024:
            raise ConfigurationError(
                "max_body_bytes must be at least 1024", setting="max_body_bytes"
            )

    @property
    def origins(self) -> frozenset[str]:
        """Allowed origins, the receiver's own included."""
        own = self.public_url.rstrip("/")
        scheme, _, rest = own.partition("://")
        return frozenset({*self.allowed_origins, f"{scheme}://{rest.split('/')[0]}"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``CARTBACK_*`` variables and the optional JSON ``CARTBACK_CONFIG``."""
        env = os.environ if environ is None else environ
        missing = [
            name for name in ("CARTBACK_ADMIN_PASSWORD", "CARTBACK_SECRET_KEY") if not env.get(name)
        ]
        if missing:
            raise ConfigurationError(f"set {', '.join(missing)}", setting=missing[0])
        config: dict[str, object] = {}
        if env.get("CARTBACK_CONFIG"):
            config = json.loads(Path(env["CARTBACK_CONFIG"]).read_text(encoding="utf-8"))
        sections = {}
        for section in ("shop", "flows", "guards", "senders"):
            value = config.get(section, {})
            if not isinstance(value, dict):
                raise ConfigurationError(f"{section} must be an object", setting=section)
            sections[section] = value
        forms_raw = config.get("forms", {})
        urls_raw = config.get("form_urls", {})
        if not isinstance(forms_raw, dict) or not isinstance(urls_raw, dict):
            raise ConfigurationError("forms and form_urls must be objects", setting="config")
        forms = {
            form_id: OrderForm.model_validate({"form_id": form_id, **declaration})
            for form_id, declaration in forms_raw.items()
        }
        synchronous = env.get("CARTBACK_SYNCHRONOUS", "FULL").upper()
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError(
                "CARTBACK_SYNCHRONOUS is FULL or NORMAL", setting="synchronous"
            )
        return cls(
            database=env.get("CARTBACK_DATABASE", "cartback.sqlite3"),
            admin_password=env["CARTBACK_ADMIN_PASSWORD"],
            secret_key=env["CARTBACK_SECRET_KEY"].encode(),
            public_url=env.get("CARTBACK_PUBLIC_URL", "http://127.0.0.1:8000"),
            allowed_origins=_split(env.get("CARTBACK_ALLOWED_ORIGINS")),
            api_secret=env.get("CARTBACK_API_SECRET") or env.get("CARTBACK_ORDER_SECRET") or None,
            trusted_country_header=env.get("CARTBACK_TRUSTED_COUNTRY_HEADER") or None,
            trusted_client_ip_header=env.get("CARTBACK_TRUSTED_CLIENT_IP_HEADER") or None,
            max_body_bytes=int(env.get("CARTBACK_MAX_BODY_BYTES", 16 * 1024)),
            rate_per_minute=int(env.get("CARTBACK_RATE_PER_MINUTE", 120)),
            rate_burst=int(env.get("CARTBACK_RATE_BURST", 40)),
            forms=forms,
            form_urls={str(k): str(v) for k, v in urls_raw.items()},
            policy=EligibilityPolicy.model_validate(config.get("policy", {})),
            synchronous="FULL" if synchronous == "FULL" else "NORMAL",
            retention_days=int(env.get("CARTBACK_RETENTION_DAYS", 90)),
            shop=sections["shop"],
            flows=sections["flows"],
            guards=sections["guards"],
            senders=sections["senders"],
            smtp_url=env.get("CARTBACK_SMTP_URL") or None,
            dispatcher=env.get("CARTBACK_DISPATCHER", "on").lower() not in ("off", "0", "no"),
            dispatch_interval=float(env.get("CARTBACK_DISPATCH_INTERVAL", 15)),
            submitted_minutes=int(env.get("CARTBACK_SUBMITTED_MINUTES", 60)),
            webhooks=webhook_settings(config.get("webhooks", [])),
            tickets=ticket_rules(config.get("tickets", {})),
            run_workers=env.get("CARTBACK_RUN_WORKERS", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            webhook_lease_seconds=float(env.get("CARTBACK_WEBHOOK_LEASE_SECONDS", 300)),
            capture_worker=_capture_worker(env.get("CARTBACK_CAPTURE_WORKER", "process")),
        )

    @classmethod
    def for_demo(cls, database: str | Path, public_url: str) -> Settings:
        """A throwaway configuration: random password and key, the demo shop on, and its
        recovery emails from Claire at the Sourdough School, ticking every second."""
        return cls(
            database=database,
            admin_password=secrets.token_urlsafe(12),
            secret_key=secrets.token_bytes(32),
            public_url=public_url,
            demo=True,
            form_urls={"demo-form": public_url.rstrip("/") + "/"},
            shop={
                "shop_name": "The Sourdough School",
                "sender_name": "Claire",
                "sender_email": "claire@sourdough.example.com",
                "reply_to": "claire@sourdough.example.com",
                "postal_address": "1 Crumb Lane, Portland, OR 97201, USA",
                "timezone": "America/Los_Angeles",
            },
            # The demo's clock runs fast: it sends at any hour rather than wait a night.
            guards={"quiet_hours": None},
            dispatch_interval=1.0,
            capture_worker="thread",  # the demo's clock runs fast: captures must see it
        )


def _capture_worker(raw: str) -> Literal["process", "thread"]:
    value = raw.strip().lower()
    if value == "process":
        return "process"
    if value == "thread":
        return "thread"
    raise ConfigurationError(
        "CARTBACK_CAPTURE_WORKER is process or thread", setting="capture_worker"
    )


def webhook_settings(raw: object) -> tuple[Mapping[str, Any], ...]:
    """The ``webhooks`` of ``CARTBACK_CONFIG``: a list of endpoint settings objects,
    each checked now (an invalid one stops the receiver before it starts)."""
    from cartback.webhooks import parse_endpoint

    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigurationError("webhooks must be a list of objects", setting="webhooks")
    ids = [str(item.get("id")) for item in raw]
    if len(set(ids)) != len(ids):
        raise ConfigurationError("two webhooks share an id", setting="webhooks")
    for item in raw:
        parse_endpoint(item)
    return tuple(dict(item) for item in raw)


def ticket_rules(raw: object) -> TicketRuleSet:
    """The ``tickets`` of ``CARTBACK_CONFIG``: ``presets`` (``call_prospect``,
    ``repeated_abandonments``, ``important_lead``, each with its options) and ``rules``
    (the declarative form of docs/tickets.md), presets first."""
    from datetime import timedelta
    from decimal import Decimal

    from pydantic import TypeAdapter

    from cartback.tickets import (
        TicketRuleError,
        call_prospect_rule,
        important_lead_rule,
        load_ticket_rules,
        repeated_abandonments_rule,
    )

    if not isinstance(raw, dict):
        raise ConfigurationError("tickets must be an object", setting="tickets")
    presets = raw.get("presets", {})
    if not isinstance(presets, dict):
        raise ConfigurationError("tickets.presets must be an object", setting="tickets.presets")
    unknown = set(presets) - {"call_prospect", "repeated_abandonments", "important_lead"}
    if unknown:
        raise ConfigurationError(
            "tickets.presets: call_prospect, repeated_abandonments or important_lead",
            setting="tickets.presets",
        )
    rules = []
    try:
        if "call_prospect" in presets:
            options = dict(presets["call_prospect"])
            rules.append(
                call_prospect_rule(Decimal(str(options.pop("min_value"))), **options).model_dump()
            )
        if "repeated_abandonments" in presets:
            options = dict(presets["repeated_abandonments"])
            if "within" in options:
                options["within"] = TypeAdapter(timedelta).validate_python(options["within"])
            rules.append(repeated_abandonments_rule(**options).model_dump())
        if "important_lead" in presets:
            rules.append(important_lead_rule(**dict(presets["important_lead"])).model_dump())
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        if isinstance(exc, TicketRuleError):
            raise
        raise ConfigurationError(
            f"tickets.presets: {type(exc).__name__}", setting="tickets.presets"
        ) from None
    return load_ticket_rules({"version": 1, "rules": [*rules, *raw.get("rules", [])]})
