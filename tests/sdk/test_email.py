"""The email fast path gives exactly email-validator's answers."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cartback._contact_values import normalize_email


def reference(value: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"

atoms = st.text(alphabet=ATEXT, min_size=1, max_size=12)
unicode_atoms = st.text(alphabet=st.sampled_from("äöüßéñøçåæœ日本語тест"), min_size=1, max_size=6)
role_names = st.sampled_from(
    ["info", "sales", "support", "postmaster", "abuse", "webmaster", "noc", "www"]
).flatmap(
    lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flips: "".join(
            char.upper() if flip else char for char, flip in zip(name, flips, strict=True)
        )
    )
)


@st.composite
def local_parts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["dots", "plus", "quoted", "unicode", "long", "odd", "role"]))
    if kind == "dots":
        return ".".join(draw(st.lists(atoms, min_size=1, max_size=5)))
    if kind == "plus":
        return draw(atoms) + "+" + draw(atoms)
    if kind == "quoted":
        return '"' + draw(st.text(alphabet=ATEXT + " .@\\", max_size=10)) + '"'
    if kind == "unicode":
        return ".".join(draw(st.lists(st.one_of(atoms, unicode_atoms), min_size=1, max_size=3)))
    if kind == "long":
        size = draw(st.integers(min_value=58, max_value=70))
        return "".join(draw(st.lists(st.sampled_from("ab.c+"), min_size=size, max_size=size)))
    if kind == "role":
        return draw(role_names)
    # odd: leading, trailing and consecutive dots, empty parts, spaces
    return draw(st.sampled_from(["", ".", "a.", ".a", "a..b", "a b", "a@b", "a\\b"])) + draw(
        st.sampled_from(["", "x"])
    )


labels = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", fullmatch=True)
idna_labels = st.text(
    alphabet=st.sampled_from("münchenäöü日本語中文"), min_size=1, max_size=12
).map(lambda text: text.encode("idna").decode("ascii") if text else "x")


@st.composite
def domains(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "special", "long", "odd", "idna", "upper"]))
    parts = draw(st.lists(labels, min_size=1, max_size=3))
    tld = draw(st.sampled_from(["com", "org", "io", "co.uk", "museum", "xn--p1ai"]))
    if kind == "special":
        tld = draw(st.sampled_from(["test", "localhost", "invalid", "local", "onion", "arpa"]))
    if kind == "long":
        size = draw(st.integers(min_value=3, max_value=6))
        parts = ["a" * draw(st.integers(min_value=40, max_value=63)) for _ in range(size)]
    if kind == "idna":
        parts = draw(st.lists(idna_labels, min_size=1, max_size=4))
    domain = ".".join([*parts, tld])
    if kind == "upper":
        domain = domain.upper()
    if kind == "odd":
        domain = draw(
            st.sampled_from(
                [domain + ".", "." + domain, domain.replace(".", "..", 1), "-" + domain, ""]
            )
        )
    return domain


addresses = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", local_parts(), domains()),
)


@settings(max_examples=400, deadline=None)
@given(addresses)
@example("a@example.com")
@example("first.last+tag@Example.COM")
@example("x@b.test")
@example("a..b@example.com")
@example("trailing@example.com.")
@example("a" * 64 + "@example.com")
@example("a" * 65 + "@example.com")
def test_property_fast_path_agrees_with_email_validator(address: str) -> None:
    assert normalize_email(address) == reference(address)


@pytest.mark.parametrize(
    "address",
    [
        "Postmaster@Example.com",
        "ABUSE@example.org",
        "Info@shop.example",
        "SALES@example.com",
    ],
)
def test_role_mailboxes_are_lower_cased_like_email_validator(address: str) -> None:
    """email-validator lower-cases RFC 2142 role mailboxes (``postmaster``, ``info``...);
    the fast path keeps the local part as typed."""
    assert normalize_email(address) == reference(address)


def test_length_limit_is_in_utf8_bytes_of_the_normalised_address() -> None:
    """An ASCII address with a punycode (``xn--``) domain fits 254 characters, but its
    normalised form (the Unicode domain) is 255 UTF-8 bytes: email-validator refuses it;
    the fast path counts characters and accepts it."""
    label = ("一二三四五六七八九十" * 2).encode("idna").decode("ascii")
    address = "b" * 7 + "@" + ".".join([label] * 4) + ".com"
    assert len(address) <= 254
    assert reference(address) is None
    assert normalize_email(address) is None


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("alice@EXAMPLE.COM", "alice@example.com"),
        ("Alice.Smith+news@Mail.Example.org", "Alice.Smith+news@mail.example.org"),
        ("user@xn--mnchen-3ya.de", "user@münchen.de"),
        ("jörg@münchen.de", "jörg@münchen.de"),
    ],
)
def test_normalised_forms(typed: str, normalised: str) -> None:
    assert normalize_email(typed) == normalised


@pytest.mark.parametrize(
    "typed",
    ["", "@", "a@", "@example.com", "a@b", "a b@example.com", "a@example..com", "a@.example.com"],
)
def test_invalid_addresses(typed: str) -> None:
    assert normalize_email(typed) is None
