"""JSON Web Tokens for the push providers, through PyJWT (``pip install cartback[push]``).

Imported on first use, so the SDK and its other senders work without the extra.
"""

from __future__ import annotations

import functools
from typing import Any

from cartback._errors import ConfigurationError

__all__ = ["encode_jwt", "load_private_key"]


def _missing(error: ImportError) -> ConfigurationError:
    return ConfigurationError(
        "push senders need PyJWT and cryptography: pip install 'cartback[push]'",
        setting="push",
    )


def load_private_key(pem: str | bytes, *, setting: str) -> Any:
    """A PEM private key (PKCS#8, as Apple's .p8 files and Google's service accounts
    hold them), or ``ConfigurationError`` when it does not parse. Parsed once per key
    (checking an RSA key takes a tenth of a second)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return _parse(data)
    except (ValueError, TypeError):
        raise ConfigurationError("the private key is not a PEM key", setting=setting) from None


@functools.lru_cache(maxsize=16)
def _parse(data: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError as error:
        raise _missing(error) from None
    return load_pem_private_key(data, password=None)


def encode_jwt(claims: dict[str, Any], key: Any, *, algorithm: str, key_id: str | None) -> str:
    """``claims`` signed with ``key`` (ES256 for APNs, RS256 for Google)."""
    try:
        import jwt
    except ImportError as error:
        raise _missing(error) from None
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)
