"""When an endpoint has failed long enough to be disabled: a pure rule over its record.

Standard Webhooks recommends disabling an endpoint whose deliveries fail consistently
over a long period (and telling its owner through another channel). cartback's rule:
disable when every attempt since a first failure at least ``after`` ago (5 days by
default) has failed. One success starts the count again; a 410 is handled at once by
the delivery result, not by this rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from cartback.webhooks._results import DeliveryResult

__all__ = ["DISABLE_AFTER", "EndpointHealth", "record_result", "should_disable"]

DISABLE_AFTER: Final = timedelta(days=5)
"""How long every attempt must have failed before the endpoint is disabled."""


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    """What the rule needs of an endpoint's history (the store keeps it per endpoint)."""

    failing_since: datetime | None = None
    """The first failed attempt since the last success; ``None`` while healthy."""
    consecutive_failures: int = 0
    """Failed attempts since the last success."""
    last_success_at: datetime | None = None
    """The last attempt answered 2xx."""
    last_failure_at: datetime | None = None
    """The last failed attempt."""


def record_result(health: EndpointHealth, result: DeliveryResult) -> EndpointHealth:
    """The record after one more result. Deferred deliveries (nothing sent) change
    nothing; a 410 counts as a failure."""
    if result.kind == "deferred":
        return health
    if result.kind == "delivered":
        return EndpointHealth(last_success_at=result.at, last_failure_at=health.last_failure_at)
    return replace(
        health,
        failing_since=health.failing_since or result.at,
        consecutive_failures=health.consecutive_failures + 1,
        last_failure_at=result.at,
    )


def should_disable(
    health: EndpointHealth, now: datetime, *, after: timedelta = DISABLE_AFTER
) -> bool:
    """Whether every attempt has failed for at least ``after``, up to ``now``."""
    return (
        health.failing_since is not None
        and health.consecutive_failures > 0
        and now - health.failing_since >= after
    )
