"""The SDK facade the settings describe, the same in every process of the receiver."""

from __future__ import annotations

from datetime import timedelta

from cartback import Cartback, Clock, LinkSigner, open_store, system_clock
from server_example.settings import Settings

__all__ = ["build_cartback"]


def build_cartback(settings: Settings, *, clock: Clock = system_clock) -> Cartback:
    """A ``Cartback`` on the store ``settings.database`` names (opened, migrated), with
    the settings' policy, forms, retention, link key and submitted-cart wait."""
    return Cartback(
        open_store(settings.database, synchronous=settings.synchronous),
        policy=settings.policy,
        forms=settings.forms,
        clock=clock,
        retention_days=settings.retention_days,
        links=LinkSigner(settings.secret_key),
        submitted_ttl=timedelta(minutes=settings.submitted_minutes),
    )
