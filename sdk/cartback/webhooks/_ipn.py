"""Platform-style IPN signatures: SHA-512 over the sorted ``KEY=value`` pairs, each
followed by a passphrase, as Digistore24 signs its IPN calls and thank-you page URLs.

The construction, as Digistore24's IPN receiver script and its ``sha_sign``
documentation describe it (and as independent libraries for it implement it):

1. drop the signature fields themselves (``sha_sign`` and ``SHASIGN``);
2. sort the remaining keys by byte value (PHP's ``SORT_STRING``); in the upper-case
   variant, sort by the upper-cased keys and write them upper-cased;
3. skip pairs whose value is empty;
4. concatenate ``KEY=value`` + passphrase for each pair, in that order;
5. SHA-512 of the UTF-8 bytes, as upper-case hex.

Values are compared exactly as received: no trimming, no HTML decoding. Only flat
string values are signed (form-encoded IPN fields); a list or nested value is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Mapping
from typing import Final

from cartback._errors import ConfigurationError, InvalidInputError, SignatureError

__all__ = ["IPN_SIGNATURE_FIELDS", "ipn_signature", "sign_ipn", "verify_ipn"]

IPN_SIGNATURE_FIELDS: Final = ("sha_sign", "SHASIGN")
"""The fields that carry the signature (lower-case and upper-case variants)."""

_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_HEX_DIGITS: Final = frozenset(string.hexdigits)


def _upper(key: str) -> str:
    """ASCII-only upper-casing, as PHP's ``strtoupper``."""
    return key.translate(_ASCII_UPPER)


def ipn_signature(
    params: Mapping[str, str], passphrase: str, *, uppercase_keys: bool = False
) -> str:
    """The signature of ``params`` (any signature field in it is left out)."""
    if not passphrase:
        raise ConfigurationError("an IPN passphrase must not be empty", setting="passphrase")
    pairs: list[tuple[bytes, str, str]] = []
    for key, value in params.items():
        if key in IPN_SIGNATURE_FIELDS:
            continue
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidInputError(
                "IPN fields must be strings", field="params", reason="not_a_string"
            )
        if value == "":
            continue
        written = _upper(key) if uppercase_keys else key
        pairs.append((written.encode(), key, written))
    pairs.sort(key=lambda pair: (pair[0], pair[1].encode()))
    digest = hashlib.sha512()
    for _sort_key, key, written in pairs:
        digest.update(f"{written}={params[key]}{passphrase}".encode())
    return digest.hexdigest().upper()


def sign_ipn(
    params: Mapping[str, str],
    passphrase: str,
    *,
    uppercase_keys: bool = False,
    field: str = "sha_sign",
) -> dict[str, str]:
    """``params`` with the signature added under ``field``, ready to POST form-encoded."""
    if field not in IPN_SIGNATURE_FIELDS:
        raise ConfigurationError("the signature goes in sha_sign or SHASIGN", setting="field")
    signed = {key: value for key, value in params.items() if key not in IPN_SIGNATURE_FIELDS}
    signed[field] = ipn_signature(signed, passphrase, uppercase_keys=uppercase_keys)
    return signed


def verify_ipn(params: Mapping[str, str], passphrase: str, *, uppercase_keys: bool = False) -> None:
    """Check an IPN call's signature before acting on any of its fields.

    The signature is read from ``sha_sign`` or ``SHASIGN``; hex case does not matter;
    the comparison takes the same time wherever the strings differ. Raises
    ``SignatureError`` when the signature is missing, malformed or does not match.
    """
    received = next((params[key] for key in IPN_SIGNATURE_FIELDS if key in params), None)
    if not received:
        raise SignatureError("the IPN call carries no sha_sign")
    candidate = received.strip()
    if len(candidate) != 128 or not set(candidate) <= _HEX_DIGITS:
        raise SignatureError("the IPN sha_sign is not a SHA-512 hex digest")
    expected = ipn_signature(params, passphrase, uppercase_keys=uppercase_keys)
    if not hmac.compare_digest(candidate.upper().encode(), expected.encode()):
        raise SignatureError("the IPN signature does not match")
