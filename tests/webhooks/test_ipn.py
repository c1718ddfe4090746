"""Platform-style IPN signatures (Digistore24's scheme): produce, verify, refuse."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import ConfigurationError, InvalidInputError, SignatureError
from cartback.webhooks import ipn_signature, sign_ipn, verify_ipn

PASSPHRASE = "n0t-a-real-passphrase"
FIELDS = {
    "event": "on_payment",
    "order_id": "A3NXHEHF",
    "email": "jane@example.com",
    "amount": "49.00",
    "address_street": "",
    "product_id": "122343",
}

keys = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12
)
field_sets = st.dictionaries(
    keys.map(lambda key: "f_" + key), st.text(max_size=20), min_size=1, max_size=8
)


def test_the_signature_follows_the_documented_construction() -> None:
    # Sorted keys, empty values skipped, each KEY=value followed by the passphrase,
    # SHA-512 in upper-case hex.
    expected = (
        hashlib.sha512(
            (
                f"amount=49.00{PASSPHRASE}"
                f"email=jane@example.com{PASSPHRASE}"
                f"event=on_payment{PASSPHRASE}"
                f"order_id=A3NXHEHF{PASSPHRASE}"
                f"product_id=122343{PASSPHRASE}"
            ).encode()
        )
        .hexdigest()
        .upper()
    )
    assert ipn_signature(FIELDS, PASSPHRASE) == expected


def test_the_upper_case_variant_sorts_and_writes_upper_cased_keys() -> None:
    fields = {"orderID": "A1", "amount": "5", "Currency": "EUR"}
    expected = (
        hashlib.sha512(
            f"AMOUNT=5{PASSPHRASE}CURRENCY=EUR{PASSPHRASE}ORDERID=A1{PASSPHRASE}".encode()
        )
        .hexdigest()
        .upper()
    )
    assert ipn_signature(fields, PASSPHRASE, uppercase_keys=True) == expected
    signed = sign_ipn(fields, PASSPHRASE, uppercase_keys=True, field="SHASIGN")
    assert signed["SHASIGN"] == expected
    verify_ipn(signed, PASSPHRASE, uppercase_keys=True)


def test_sorting_is_by_byte_value_so_capitals_come_first() -> None:
    fields = {"b": "2", "B": "1", "a": "3"}
    expected = (
        hashlib.sha512(f"B=1{PASSPHRASE}a=3{PASSPHRASE}b=2{PASSPHRASE}".encode())
        .hexdigest()
        .upper()
    )
    assert ipn_signature(fields, PASSPHRASE) == expected


def test_values_are_signed_as_utf8_exactly_as_received() -> None:
    fields = {"name": " Zoë "}
    expected = hashlib.sha512(f"name= Zoë {PASSPHRASE}".encode()).hexdigest().upper()
    assert ipn_signature(fields, PASSPHRASE) == expected


@given(field_sets)
def test_a_signed_call_verifies_whatever_the_field_order(fields: dict[str, str]) -> None:
    signed = sign_ipn(fields, PASSPHRASE)
    reordered = dict(reversed(list(signed.items())))
    verify_ipn(reordered, PASSPHRASE)


@given(field_sets, st.data())
def test_changing_any_signed_value_breaks_the_signature(
    fields: dict[str, str], data: st.DataObject
) -> None:
    signed = sign_ipn(fields, PASSPHRASE)
    candidates = [key for key, value in fields.items() if value]
    if not candidates:
        candidates = list(fields)
    key = data.draw(st.sampled_from(candidates))
    tampered = {**signed, key: signed[key] + "1"}
    with pytest.raises(SignatureError):
        verify_ipn(tampered, PASSPHRASE)


def test_empty_fields_and_the_signature_fields_do_not_take_part() -> None:
    without_empty = {key: value for key, value in FIELDS.items() if value}
    assert ipn_signature(FIELDS, PASSPHRASE) == ipn_signature(without_empty, PASSPHRASE)
    assert ipn_signature({**FIELDS, "sha_sign": "X", "SHASIGN": "Y"}, PASSPHRASE) == (
        ipn_signature(FIELDS, PASSPHRASE)
    )


def test_hex_case_does_not_matter_when_verifying() -> None:
    signed = sign_ipn(FIELDS, PASSPHRASE)
    verify_ipn({**signed, "sha_sign": signed["sha_sign"].lower()}, PASSPHRASE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha_sign": ""}, "no sha_sign"),
        ({"sha_sign": "ABC"}, "not a SHA-512"),
        ({"sha_sign": "Z" * 128}, "not a SHA-512"),
        ({"sha_sign": "A" * 128}, "does not match"),
        ({"amount": "0.01"}, "does not match"),
    ],
)
def test_every_failure_is_a_signature_error(change: dict[str, str], message: str) -> None:
    signed = sign_ipn(FIELDS, PASSPHRASE)
    with pytest.raises(SignatureError, match=message):
        verify_ipn({**signed, **change}, PASSPHRASE)


def test_a_missing_signature_and_a_wrong_passphrase_fail() -> None:
    with pytest.raises(SignatureError, match="no sha_sign"):
        verify_ipn(FIELDS, PASSPHRASE)
    with pytest.raises(SignatureError):
        verify_ipn(sign_ipn(FIELDS, PASSPHRASE), PASSPHRASE + "x")


def test_misuse_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        ipn_signature(FIELDS, "")
    with pytest.raises(ConfigurationError):
        sign_ipn(FIELDS, PASSPHRASE, field="signature")
    with pytest.raises(InvalidInputError):
        ipn_signature({"tags": ["a", "b"]}, PASSPHRASE)  # type: ignore[dict-item]
