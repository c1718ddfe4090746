"""The admin session token: issued at login, checked on every dashboard request, revoked
at logout. Revocations live in the store, so every receiver on one database honours a
logout made on another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

from cartback import Store

__all__ = ["REVOKED_SESSION", "SessionSigner"]

REVOKED_SESSION: Final = "admin_session_revoked"
"""The store flag kind that marks a logged-out session (keyed by its nonce)."""

_TOKEN: Final = re.compile(r"v1\.(\d{1,12})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")


class SessionSigner:
    """Issues, verifies and revokes ``v1.<expiry>.<nonce>.<mac>`` admin session tokens.

    The MAC key is derived from the receiver's secret key and the admin password, so a
    new password invalidates every session issued under the old one. A revoked token
    (logout) is refused until it would have expired: the revocation is a store flag
    that lasts exactly that long, shared by every receiver on the database.
    """

    def __init__(
        self, secret_key: bytes, password: str, *, lifetime: timedelta, store: Store
    ) -> None:
        fingerprint = hashlib.sha256(password.encode("utf-8")).digest()
        self._key = hmac.new(
            secret_key, b"cartback-admin-session-v1\x00" + fingerprint, hashlib.sha256
        ).digest()
        self.lifetime = lifetime
        self._store = store

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, now: datetime) -> str:
        """A token valid from ``now`` for ``lifetime``."""
        expires = int((now + self.lifetime).timestamp())
        payload = f"v1.{expires}.{secrets.token_hex(16)}"
        return f"{payload}.{self._mac(payload)}"

    def _authentic(self, token: str) -> re.Match[str] | None:
        """The token's parts when it was issued here with this password, else ``None``."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        payload = token.rsplit(".", 1)[0]
        return match if hmac.compare_digest(self._mac(payload), match.group(3)) else None

    def verify(self, token: str, now: datetime) -> bool:
        """Whether ``token`` was issued here, with this password, has not expired and
        has not been revoked (blocking: it may read the store)."""
        match = self._authentic(token)
        if match is None or now.timestamp() >= int(match.group(1)):
            return False
        return self._store.flagged_until(REVOKED_SESSION, match.group(2), now=now) is None

    def revoke(self, token: str, now: datetime) -> None:
        """Refuse ``token`` from now on. Only authentic, unexpired tokens are recorded,
        each until its own expiry (blocking: it writes the store)."""
        match = self._authentic(token)
        if match is None or int(match.group(1)) <= now.timestamp():
            return
        until = datetime.fromtimestamp(int(match.group(1)), UTC)
        self._store.flag(REVOKED_SESSION, match.group(2), until=until)
