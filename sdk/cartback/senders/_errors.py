"""The senders' errors: a credential that cannot be had, a channel without a sender."""

from __future__ import annotations

from cartback._errors import CartbackError, ConfigurationError

__all__ = ["AccessTokenError", "MissingSenderError"]


class AccessTokenError(CartbackError):
    """A sender could not get the credential it signs requests with.

    ``transient`` is true when the token endpoint could not be reached or failed (the
    send is retried), false when it refused the credentials (a configuration error: the
    send fails). ``reason`` is a short code such as ``token_endpoint_unavailable`` or
    ``token_rejected``. A token provider passed to ``FcmSender`` raises this.
    """

    def __init__(self, message: str, *, reason: str, transient: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.transient = transient


class MissingSenderError(ConfigurationError, KeyError):
    """No sender is configured for a channel (or for this kind of message on it, such as
    an APNs notification on a push sender that only has FCM). A ``KeyError`` too, so
    ``Senders.get(channel)`` answers ``None``."""

    def __init__(self, message: str, *, channel: str) -> None:
        super().__init__(message, setting=f"senders.{channel}")
        self.channel = channel

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
