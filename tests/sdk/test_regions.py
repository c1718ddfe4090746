"""Countries and regions: which codes are the EU, and every spelling of every country."""

from __future__ import annotations

from typing import Any

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import (
    EEA_MEMBER_STATES,
    EU_MEMBER_STATES,
    EU_SPECIAL_TERRITORIES,
    REGIONS,
    normalize_country,
)
from cartback._regions import read_country

THE_27 = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
}  # fmt: skip

COUNTRIES = list(pycountry.countries)


def spellings(country: Any) -> list[str]:
    """Every accepted textual spelling of a pycountry country."""
    texts = [
        str(country.alpha_2),
        str(country.alpha_3),
        str(country.numeric),
        str(int(country.numeric)),
    ]
    for attribute in ("name", "official_name", "common_name"):
        name = getattr(country, attribute, None)
        if isinstance(name, str):
            texts.append(name)
    return texts


def test_eu_has_exactly_the_27_current_member_states() -> None:
    assert len(EU_MEMBER_STATES) == 27
    assert set(EU_MEMBER_STATES) == THE_27


@pytest.mark.parametrize("code", ["GB", "CH", "NO", "IS", "LI"])
def test_non_members_are_not_in_the_eu(code: str) -> None:
    assert code not in EU_MEMBER_STATES
    assert code not in REGIONS["EU"]


def test_every_region_code_is_a_real_alpha_2() -> None:
    known = {country.alpha_2 for country in COUNTRIES}
    for region, codes in REGIONS.items():
        assert codes <= known, region


def test_regions_cover_what_their_names_say() -> None:
    assert REGIONS["EU"] == EU_MEMBER_STATES | EU_SPECIAL_TERRITORIES
    assert {"IS", "LI", "NO"} <= REGIONS["EEA"]
    assert REGIONS["EU"] <= REGIONS["EEA"]
    assert EU_MEMBER_STATES | {"IS", "LI", "NO"} == EEA_MEMBER_STATES
    assert "GB" in REGIONS["UK"]
    assert REGIONS["CH"] == {"CH"}
    assert not EU_SPECIAL_TERRITORIES & EU_MEMBER_STATES


def test_every_spelling_of_every_country_normalises_to_its_alpha_2() -> None:
    wrong: list[tuple[str, str, str | None]] = []
    for country in COUNTRIES:
        code = str(country.alpha_2)
        for text in spellings(country):
            variants = {
                text,
                text.lower(),
                text.upper(),
                text.swapcase(),
                text.title(),
                f"  {text}\t",
                "  ".join(text.split()),
            }
            for variant in variants:
                result = normalize_country(variant)
                if result != code:
                    wrong.append((code, variant, result))
        as_int = normalize_country(int(country.numeric))
        if as_int != code:
            wrong.append((code, f"int {int(country.numeric)}", as_int))
    assert wrong == []


@settings(max_examples=120, deadline=None)
@given(
    country=st.sampled_from(COUNTRIES),
    data=st.data(),
)
def test_any_casing_and_spacing_of_any_spelling(country: Any, data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(spellings(country)))
    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    cased = "".join(
        char.upper() if flip else char.lower() for char, flip in zip(text, flips, strict=True)
    )
    gap = data.draw(st.sampled_from([" ", "  ", "\t", " \u00a0 "]))
    spaced = gap.join(cased.split())
    padding = data.draw(st.sampled_from(["", " ", "\n", "   "]))
    assert normalize_country(padding + spaced + padding) == country.alpha_2


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("040", "AT"),
        ("40", "AT"),
        (40, "AT"),
        ("276", "DE"),
        (276, "DE"),
        ("DEU", "DE"),
        ("de", "DE"),
        ("Germany", "DE"),
        ("federal republic of germany", "DE"),
        ("UNITED STATES", "US"),
        ("united states of america", "US"),
        ("uk", "GB"),
        ("Netherlands", "NL"),
        ("the netherlands", "NL"),
        ("Åland Islands", "AX"),
        ("Réunion", "RE"),
        ("united_states", "US"),
    ],
)
def test_known_spellings(value: str | int, code: str) -> None:
    assert normalize_country(value) == code


@pytest.mark.parametrize(
    "value",
    ["", "   ", "Narnia", "XX", "XXX", "999", "0", "Deutschland!", "EU", "Europe", "x" * 500],
)
def test_unknown_strings_are_none(value: str) -> None:
    assert normalize_country(value) is None


def test_none_and_bool_are_none() -> None:
    assert normalize_country(None) is None
    assert normalize_country(True) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Nd", "Zs"]), max_size=12))
def test_normalize_country_returns_a_real_code_or_none(value: str) -> None:
    result = normalize_country(value)
    assert result is None or pycountry.countries.get(alpha_2=result) is not None


# -- a form's country input -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kwargs", "code"),
    [
        ("FR", {}, "FR"),
        ("fr", {"text": "France"}, "FR"),
        ("US", {"text": "United States (US)"}, "US"),  # a text that is no name: the value
        ("8", {}, None),  # a bare number means nothing by itself
        ("008", {}, None),
        ("8", {"iso_numeric": True}, "AL"),  # unless the form says its numbers are ISO
        ("250", {"iso_numeric": True}, "FR"),
        ("8", {"text": "France"}, "FR"),
        ("8", {"values": {"8": "FR"}}, "FR"),
        ("8", {"values": {"8": "FR"}, "text": "Albania"}, None),  # they disagree
        ("21", {"values": {"8": "FR"}, "text": "Vereinigte Staaten"}, None),
        ("US", {"text": "Germany"}, None),
        ("12", {"text": "12"}, None),
        ("Germany", {}, "DE"),
        ("Narnia", {"text": "Narnia"}, None),
    ],
)
def test_read_country(value: str, kwargs: dict[str, Any], code: str | None) -> None:
    assert read_country(value, **kwargs) == code


@settings(max_examples=300, deadline=None)
@given(number=st.integers(min_value=0, max_value=999), pad=st.sampled_from(["", "0", "00"]))
def test_property_no_bare_number_names_a_country_unless_the_form_says_so(
    number: int, pad: str
) -> None:
    assert read_country(f"{pad}{number}") is None
