"""Webhook endpoints kept in the store, so every receiver and worker on the database sees
the same ones, with their delivery health.

Each endpoint is an outbox consumer named ``webhook:<id>``, subscribed to its event
types and ordered per cart. The functions here are the write transactions and views
``Cartback``'s endpoint methods and the worker use: values in, records out; the store
comes in as a parameter. Views never hold a secret in clear (``secret_hints``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from cartback._errors import InvalidInputError
from cartback.events import EndpointDisabled as EndpointDisabledEvent
from cartback.store import Changes, ConsumerStats, EndpointRecord, ReadTransaction, Store
from cartback.webhooks._endpoint import (
    DisabledReason,
    EndpointDisabled,
    WebhookEndpoint,
    WebhookEventType,
    parse_endpoint,
)
from cartback.webhooks._errors import EndpointNotFoundError
from cartback.webhooks._health import EndpointHealth

__all__ = [
    "EndpointView",
    "consumer_name",
    "endpoint_health",
    "endpoint_of",
    "endpoint_view",
    "secret_hint",
]

_CONSUMER_PREFIX: Final = "webhook:"


def consumer_name(endpoint_id: str) -> str:
    """The outbox consumer of an endpoint: ``webhook:<id>``."""
    return _CONSUMER_PREFIX + endpoint_id


def secret_hint(secret: str) -> str:
    """A secret as a listing shows it: ``whsec_…`` and its last four characters."""
    return "whsec_…" + secret[-4:]


def endpoint_of(record: EndpointRecord) -> WebhookEndpoint:
    """The endpoint a stored record holds."""
    return WebhookEndpoint.model_validate_json(record.config)


def endpoint_health(record: EndpointRecord) -> EndpointHealth:
    """The health rule's view of a stored record."""
    return EndpointHealth(
        failing_since=record.failing_since,
        consecutive_failures=record.consecutive_failures,
        last_success_at=record.last_success_at,
        last_failure_at=record.last_failure_at,
    )


def with_health(record: EndpointRecord, health: EndpointHealth, at: datetime) -> EndpointRecord:
    """``record`` with ``health``, changed at ``at``."""
    return replace(
        record,
        failing_since=health.failing_since,
        consecutive_failures=health.consecutive_failures,
        last_success_at=health.last_success_at,
        last_failure_at=health.last_failure_at,
        updated_at=max(at, record.updated_at),
    )


def stored(
    endpoint: WebhookEndpoint, at: datetime, before: EndpointRecord | None
) -> EndpointRecord:
    """The record of ``endpoint`` saved at ``at`` (health kept from ``before``)."""
    config = endpoint.model_dump_json()
    if before is None:
        return EndpointRecord(
            id=endpoint.id,
            config=config,
            enabled=endpoint.enabled,
            created_at=at,
            updated_at=at,
        )
    return replace(before, config=config, enabled=endpoint.enabled, updated_at=at)


@dataclass(frozen=True, slots=True)
class EndpointView:
    """An endpoint as the dashboard and ``Cartback.webhook_endpoints`` show it: every
    setting but the secrets, its health and its place in the outbox."""

    id: str
    """The endpoint's id."""
    url: str
    """Where deliveries go."""
    event_types: tuple[WebhookEventType, ...]
    """What it subscribes to, sorted."""
    enabled: bool
    """Whether deliveries are made."""
    disabled_reason: DisabledReason | None
    """``gone`` (410), ``failing`` (for days) or ``manual``; ``None`` while enabled."""
    disabled_at: datetime | None
    """When it was disabled (UTC)."""
    secret_hints: tuple[str, ...]
    """Each secret as ``whsec_…`` and its last four characters, current one first."""
    max_in_flight: int
    """Deliveries in flight at once."""
    rate_per_second: float
    """Deliveries started per second, at most."""
    allowed_networks: tuple[str, ...]
    """Private networks it may reach."""
    allowed_hosts: tuple[str, ...]
    """Host names whose private addresses it may reach."""
    failing_since: datetime | None
    """The first failed attempt since the last success (UTC)."""
    consecutive_failures: int
    """Failed attempts since the last success."""
    last_success_at: datetime | None
    """The last 2xx (UTC)."""
    last_failure_at: datetime | None
    """The last failure (UTC)."""
    pending: int
    """Deliveries waiting or in flight."""
    behind: int
    """Outbox events it has not read yet (it reads them when a worker claims)."""
    dead: int
    """Dead letters."""
    created_at: datetime
    """When it was added (UTC)."""
    updated_at: datetime
    """When it last changed (UTC)."""

    @property
    def lag(self) -> int:
        """Events not yet delivered: pending deliveries plus events not yet read."""
        return self.pending + self.behind

    @property
    def healthy(self) -> bool:
        """No failure since the last success."""
        return self.consecutive_failures == 0


def endpoint_view(record: EndpointRecord, stats: ConsumerStats | None) -> EndpointView:
    """The view of a stored endpoint and its consumer's stats."""
    endpoint = endpoint_of(record)
    ordered = sorted(endpoint.secrets, key=lambda secret: secret.active_until is not None)
    return EndpointView(
        id=endpoint.id,
        url=endpoint.url,
        event_types=tuple(sorted(endpoint.event_types)),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled.reason if endpoint.disabled else None,
        disabled_at=endpoint.disabled.at if endpoint.disabled else None,
        secret_hints=tuple(secret_hint(secret.value) for secret in ordered),
        max_in_flight=endpoint.max_in_flight,
        rate_per_second=endpoint.rate_per_second,
        allowed_networks=tuple(str(network) for network in endpoint.allowed_networks),
        allowed_hosts=endpoint.allowed_hosts,
        failing_since=record.failing_since,
        consecutive_failures=record.consecutive_failures,
        last_success_at=record.last_success_at,
        last_failure_at=record.last_failure_at,
        pending=stats.pending if stats else 0,
        behind=max(0, stats.head - stats.cursor) if stats else 0,
        dead=stats.dead if stats else 0,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def coerce_endpoint(endpoint: WebhookEndpoint | Mapping[str, Any]) -> WebhookEndpoint:
    """An endpoint, parsed from settings input when it is not one already."""
    return endpoint if isinstance(endpoint, WebhookEndpoint) else parse_endpoint(endpoint)


def _one(tx: ReadTransaction, endpoint_id: str) -> EndpointRecord:
    found = tx.endpoints([endpoint_id]).get(endpoint_id)
    if found is None:
        raise EndpointNotFoundError("no such webhook endpoint", endpoint_id=endpoint_id)
    return found


def register(store: Store, endpoint: WebhookEndpoint) -> None:
    """Declare (or update) the endpoint's outbox consumer: its types, in order per cart,
    from the events written after it was first added."""
    store.register_consumer(
        consumer_name(endpoint.id),
        types=sorted(endpoint.event_types),
        ordered_per_cart=True,
        start="now",
    )


def add(tx: ReadTransaction, endpoint: WebhookEndpoint, at: datetime) -> EndpointRecord:
    """Store a new endpoint; an id already taken is refused."""
    if tx.endpoints([endpoint.id]):
        raise InvalidInputError(
            "a webhook endpoint with this id exists", field="id", reason="already_exists"
        )
    record = stored(endpoint, at, None)
    tx.apply(Changes(endpoints=(record,)))
    return record


def upsert(tx: ReadTransaction, endpoint: WebhookEndpoint, at: datetime) -> EndpointRecord:
    """Store an endpoint from the receiver's settings: new, or its settings replaced.

    Whether a stored endpoint is disabled stays as it is (a 410, the health rule or
    staff decided it), unless the settings disable it themselves.
    """
    before = tx.endpoints([endpoint.id]).get(endpoint.id)
    if before is not None and endpoint.disabled is None:
        endpoint = endpoint.model_copy(update={"disabled": endpoint_of(before).disabled})
    record = stored(endpoint, at, before)
    if before is None or record.config != before.config:
        tx.apply(Changes(endpoints=(record,)))
    return record


def update(
    tx: ReadTransaction, endpoint_id: str, changes: Mapping[str, Any], at: datetime
) -> EndpointRecord:
    """Change some settings of a stored endpoint (``id`` cannot change; ``secrets`` are
    kept unless given)."""
    before = _one(tx, endpoint_id)
    if "id" in changes and changes["id"] != endpoint_id:
        raise InvalidInputError("an endpoint's id cannot change", field="id", reason="immutable")
    settings = json.loads(before.config)
    settings.update(changes)
    endpoint = parse_endpoint(settings)
    record = stored(endpoint, at, before)
    tx.apply(Changes(endpoints=(record,)))
    return record


def disable(
    tx: ReadTransaction,
    endpoint_id: str,
    reason: DisabledReason,
    at: datetime,
    *,
    event_id: str | None = None,
) -> EndpointRecord | None:
    """Disable an endpoint (``None`` when it already was); with ``event_id``, an
    ``endpoint.disabled`` event is written with it (410 and failing, not manual)."""
    before = _one(tx, endpoint_id)
    endpoint = endpoint_of(before)
    if not endpoint.enabled:
        return None
    endpoint = endpoint.model_copy(update={"disabled": EndpointDisabled(reason=reason, at=at)})
    record = stored(endpoint, at, before)
    events: tuple[EndpointDisabledEvent, ...] = ()
    if event_id is not None:
        events = (
            EndpointDisabledEvent(
                event_id=event_id, occurred_at=at, endpoint_id=endpoint_id, reason=reason
            ),
        )
    tx.apply(Changes(endpoints=(record,), events=events))
    return record


def enable(tx: ReadTransaction, endpoint_id: str, at: datetime) -> EndpointRecord:
    """Enable an endpoint again; its failure count starts afresh."""
    before = _one(tx, endpoint_id)
    endpoint = endpoint_of(before).model_copy(update={"disabled": None})
    record = with_health(
        stored(endpoint, at, before),
        EndpointHealth(last_success_at=before.last_success_at),
        at,
    )
    tx.apply(Changes(endpoints=(record,)))
    return record
