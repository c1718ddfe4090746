"""Signing keys made for the tests: an APNs .p8 key (EC P-256) and a Google service
account (RSA 2048), both generated once per run."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@cache
def apns_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def apns_p8() -> str:
    """The .p8 file's text."""
    return _pem(apns_key())


@cache
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account(**changes: Any) -> dict[str, Any]:
    """A service account JSON key of the shape Google issues."""
    return {
        "type": "service_account",
        "project_id": "acme-bakery",
        "private_key_id": "4f1c0e8d2b",
        "private_key": _pem(google_key()),
        "client_email": "cartback@acme-bakery.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
        **changes,
    }
