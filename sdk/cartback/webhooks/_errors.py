"""The errors of outbound webhooks, in cartback's tree.

```
ConfigurationError
└── EndpointConfigError        an endpoint's settings cannot work (``setting``, ``reason``)
CartbackError
├── TargetRefusedError         the target resolved to an address the SSRF guard refuses
├── TargetUnresolvedError      the target's name did not resolve to any address
└── EndpointNotFoundError      no webhook endpoint has the given id (also a LookupError)
```

Messages name the address class or the setting, never a secret, a body or an address.
"""

from __future__ import annotations

from cartback._errors import CartbackError, ConfigurationError

__all__ = [
    "EndpointConfigError",
    "EndpointNotFoundError",
    "TargetRefusedError",
    "TargetUnresolvedError",
]


class EndpointConfigError(ConfigurationError):
    """An endpoint's settings are invalid.

    ``setting`` is the dotted path of the offending setting (``"url"``,
    ``"secrets.1"``); ``reason`` is a stable code such as ``"http_not_allowed"``,
    ``"refused_address"`` or ``"secret_too_short"``.
    """

    def __init__(self, message: str, *, setting: str, reason: str) -> None:
        super().__init__(message, setting=setting)
        self.reason = reason


class TargetRefusedError(CartbackError):
    """A connection was refused before it was made: the target is, or resolves to, an
    address of a refused class (``address_class``: ``loopback``, ``private``, ...)."""

    def __init__(self, message: str, *, address_class: str) -> None:
        super().__init__(message)
        self.address_class = address_class


class TargetUnresolvedError(CartbackError):
    """The target's host name did not resolve to any address (no connection made)."""


class EndpointNotFoundError(CartbackError, LookupError):
    """No webhook endpoint with the given id is stored."""

    def __init__(self, message: str, *, endpoint_id: str) -> None:
        super().__init__(message)
        self.endpoint_id = endpoint_id
