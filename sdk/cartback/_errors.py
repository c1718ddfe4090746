"""The exception tree of cartback.

```
CartbackError                  every error this package raises on purpose
├── InvalidInputError          a submission, field or argument is malformed (HTTP 4xx)
├── ConfigurationError         a policy, order form or store is configured wrongly
├── CartNotFoundError          no cart has the given id
├── SignatureError             a signed message or link token does not verify
│   └── TokenExpiredError      a link token verified but is past its expiry
├── StoreError                 the store cannot serve the request (e.g. a newer schema)
│   └── StoreUnavailableError  the database cannot be reached now; try again (HTTP 503)
└── MessageRefusedError        a message builder will not build this message (``reason``)
```

Every error carries its context as keyword arguments, and ``InvalidInputError`` names
the offending ``field`` and a stable ``reason`` code that callers can return to a client.
No error message ever contains a submitted value: values may be personal data.
"""

from __future__ import annotations

__all__ = [
    "CartNotFoundError",
    "CartbackError",
    "ConfigurationError",
    "InvalidInputError",
    "MessageNotFoundError",
    "MessageRefusedError",
    "SignatureError",
    "StoreError",
    "StoreUnavailableError",
    "TokenExpiredError",
]


class CartbackError(Exception):
    """Base class of every error raised by cartback."""


class InvalidInputError(CartbackError, ValueError):
    """A submission or argument is malformed.

    ``field`` is a dotted path to the offending input (``"fields.email"``,
    ``"cart_value"``); ``reason`` is a stable, machine-readable code such as
    ``"too_long"``, ``"not_a_string"`` or ``"invalid_unicode"``.
    """

    def __init__(self, message: str, *, field: str, reason: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason

    def to_dict(self) -> dict[str, str]:
        """The error as a JSON-ready mapping, safe to send back to a client."""
        return {"field": self.field, "reason": self.reason, "message": str(self)}


class ConfigurationError(CartbackError, ValueError):
    """A policy, order form or store was configured with values that cannot work."""

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class CartNotFoundError(CartbackError, LookupError):
    """No cart with the given id exists (it may have been erased or purged)."""

    def __init__(self, message: str, *, cart_id: str) -> None:
        super().__init__(message)
        self.cart_id = cart_id


class MessageNotFoundError(CartbackError, LookupError):
    """No recovery message with the given id exists (it may have been erased)."""

    def __init__(self, message: str, *, message_id: str) -> None:
        super().__init__(message)
        self.message_id = message_id


class StoreError(CartbackError):
    """The store cannot serve the request, e.g. its schema is newer than this code."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or did not commit: nothing was written, and the
    same request may succeed once it is back (a receiver answers 503 with Retry-After)."""


class SignatureError(CartbackError):
    """A webhook signature or a link token does not verify (tampered, wrong key)."""


class TokenExpiredError(SignatureError):
    """A link token is authentic but past its expiry."""


class MessageRefusedError(CartbackError):
    """A message builder refuses to build a message, for a stable ``reason`` code.

    ``channel`` is the message channel (``"email"``, ``"sms"``, ...); ``reason`` is one of
    ``messages.RefusalReason`` (``"no_consent"``, ``"no_recipient"``, ``"over_size"``,
    ...). The message never holds a recipient, a name or any other personal value.
    """

    def __init__(self, message: str, *, channel: str, reason: str) -> None:
        super().__init__(message)
        self.channel = channel
        self.reason = reason
