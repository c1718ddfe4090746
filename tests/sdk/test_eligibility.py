"""The four capture rules, their reason codes, and configurable policies."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cartback import EU_MEMBER_STATES, EligibilityPolicy, Region

DEFAULT = EligibilityPolicy()


def check(policy: EligibilityPolicy = DEFAULT, **overrides: Any) -> tuple[str, ...]:
    arguments: dict[str, Any] = {"seller": "us", "country": "US", "email": "alice@example.com"}
    arguments.update(overrides)
    return policy.check(**arguments).reasons


def test_an_eligible_prospect_passes_with_normalised_values() -> None:
    result = DEFAULT.check(seller="US", country="usa", email="Alice@EXAMPLE.com")
    assert result.eligible
    assert result.reasons == ()
    assert result.country == "US"
    assert result.email == "Alice@example.com"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"seller": None}, "seller_missing"),
        ({"seller": "   "}, "seller_missing"),
        ({"seller": "de"}, "seller_not_allowed"),
        ({"seller": "us-gmbh"}, "seller_not_allowed"),
        ({"country": None}, "country_missing"),
        ({"country": ""}, "country_missing"),
        ({"country": "  "}, "country_missing"),
        ({"country": "Narnia"}, "country_unknown"),
        ({"country": "ZZ"}, "country_unknown"),
        ({"country": "DE"}, "country_excluded"),
        ({"country": 276}, "country_excluded"),
        ({"email": None}, "email_missing"),
        ({"email": "   "}, "email_missing"),
        ({"email": "not-an-email"}, "email_invalid"),
        ({"email": "a@@example.com"}, "email_invalid"),
        ({"email": "alice@example"}, "email_invalid"),
        ({"steps_total": 2, "contact_step": 2}, "no_step_after_contact"),
    ],
)
def test_each_rule_reports_its_own_reason(overrides: dict[str, Any], reason: str) -> None:
    result = DEFAULT.check(
        **{"seller": "us", "country": "US", "email": "a@example.com", **overrides}
    )
    assert not result.eligible
    assert result.reasons == (reason,)


def test_seller_is_case_and_space_insensitive() -> None:
    assert check(seller="  US ") == ()


def test_all_failing_rules_are_reported_together_in_rule_order() -> None:
    result = DEFAULT.check(seller=None, country=None, email=None, steps_total=3, contact_step=3)
    assert result.reasons == (
        "seller_missing",
        "country_missing",
        "email_missing",
        "no_step_after_contact",
    )
    other = DEFAULT.check(seller="de", country="FR", email="nope", steps_total=2, contact_step=2)
    assert other.reasons == (
        "seller_not_allowed",
        "country_excluded",
        "email_invalid",
        "no_step_after_contact",
    )
    assert not other.eligible


RULE_ORDER = [
    "seller_missing",
    "seller_not_allowed",
    "country_missing",
    "country_unknown",
    "country_excluded",
    "email_missing",
    "email_invalid",
    "no_step_after_contact",
]


@settings(max_examples=200, deadline=None)
@given(
    seller=st.sampled_from([None, "", "us", "US", "de"]),
    country=st.sampled_from([None, "", "US", "usa", "DE", "fra", "Narnia", 840, 40]),
    email=st.sampled_from([None, " ", "a@example.com", "broken", "b@@x.org"]),
    steps=st.sampled_from([(None, None), (1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (3, None)]),
)
def test_reasons_are_every_failure_in_rule_order(
    seller: str | None,
    country: str | int | None,
    email: str | None,
    steps: tuple[int | None, int | None],
) -> None:
    result = DEFAULT.check(
        seller=seller, country=country, email=email, steps_total=steps[0], contact_step=steps[1]
    )
    positions = [RULE_ORDER.index(reason) for reason in result.reasons]
    assert positions == sorted(positions)
    assert len(set(result.reasons)) == len(result.reasons)
    assert result.eligible == (result.reasons == ())
    expected_seller = seller is not None and seller.strip() != "" and seller.lower() == "us"
    assert ("seller_missing" in result.reasons or "seller_not_allowed" in result.reasons) != (
        expected_seller
    )
    assert ("email_missing" in result.reasons or "email_invalid" in result.reasons) != (
        email == "a@example.com"
    )


# -- rule 4: multi-step forms ---------------------------------------------------------


def test_contact_on_step_2_of_3_passes() -> None:
    assert check(steps_total=3, contact_step=2) == ()


def test_contact_on_the_last_step_fails() -> None:
    assert check(steps_total=3, contact_step=3) == ("no_step_after_contact",)


def test_missing_contact_step_on_a_multi_step_form_means_step_1() -> None:
    assert check(steps_total=3, contact_step=None) == ()


@pytest.mark.parametrize("steps_total", [None, 1])
@pytest.mark.parametrize("contact_step", [None, 1, 2, 5])
def test_single_page_forms_never_fail_rule_4(
    steps_total: int | None, contact_step: int | None
) -> None:
    assert check(steps_total=steps_total, contact_step=contact_step) == ()


def test_rule_4_can_be_switched_off() -> None:
    policy = EligibilityPolicy(require_step_after_contact=False)
    assert check(policy, steps_total=3, contact_step=3) == ()


# -- configurable policies ----------------------------------------------------------


def test_allowed_sellers_are_configurable_and_case_insensitive() -> None:
    policy = EligibilityPolicy(allowed_sellers=frozenset({"US", " ca-inc "}))
    assert check(policy, seller="us") == ()
    assert check(policy, seller="CA-INC") == ()
    assert check(policy, seller="de") == ("seller_not_allowed",)


@pytest.mark.parametrize(
    ("regions", "country", "excluded"),
    [
        ({"EEA"}, "NO", True),
        ({"EEA"}, "Iceland", True),
        ({"EEA"}, "LIE", True),
        ({"EEA"}, "DE", True),
        ({"EEA"}, "GB", False),
        ({"UK"}, "GB", True),
        ({"UK"}, "United Kingdom", True),
        ({"UK"}, "DE", False),
        ({"CH"}, "Switzerland", True),
        ({"CH"}, "FR", False),
        ({"EU", "UK", "CH"}, "GBR", True),
        ({"EU"}, "NO", False),
        ({"EU"}, "GB", False),
        ({"EU"}, "CH", False),
        (set(), "DE", False),
    ],
)
def test_excluded_regions(regions: set[Region], country: str, excluded: bool) -> None:
    policy = EligibilityPolicy(excluded_regions=frozenset(regions))
    assert (check(policy, country=country) == ("country_excluded",)) is excluded
    if not excluded:
        assert check(policy, country=country) == ()


@pytest.mark.parametrize("spelling", ["CA", "can", "124", 124, "Canada", " CANADA "])
def test_excluded_countries_accept_any_spelling(spelling: str | int) -> None:
    policy = EligibilityPolicy(excluded_countries=frozenset({str(spelling)}))
    assert policy.excluded_countries == frozenset({"CA"})
    assert check(policy, country="Canada") == ("country_excluded",)
    assert check(policy, country="US") == ()


def test_an_unknown_excluded_country_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        EligibilityPolicy(excluded_countries=frozenset({"Narnia"}))


def test_an_unknown_region_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        EligibilityPolicy.model_validate({"excluded_regions": ["EUROPE"]})


def test_unknown_policy_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        EligibilityPolicy.model_validate({"allow_everyone": True})


def test_require_email_false_accepts_a_missing_email() -> None:
    policy = EligibilityPolicy(require_email=False)
    result = policy.check(seller="us", country="US", email=None)
    assert result.eligible
    assert result.email is None


def test_require_email_false_never_returns_an_invalid_email() -> None:
    policy = EligibilityPolicy(require_email=False)
    result = policy.check(seller="us", country="US", email="broken@")
    assert result.eligible
    assert result.email is None


def test_require_email_false_still_applies_the_other_rules() -> None:
    policy = EligibilityPolicy(require_email=False)
    assert check(policy, email=None, country="DE") == ("country_excluded",)


def test_the_default_policy_excludes_every_eu_member() -> None:
    for code in EU_MEMBER_STATES:
        assert check(country=code) == ("country_excluded",), code


POLICIES = [
    EligibilityPolicy(),
    EligibilityPolicy(
        allowed_sellers=frozenset({"us", "ca"}),
        excluded_regions=frozenset({"EEA", "UK", "CH"}),
        excluded_countries=frozenset({"Canada", "bra", "392"}),
        require_email=False,
        require_step_after_contact=False,
    ),
    EligibilityPolicy(excluded_regions=frozenset()),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_json_round_trip(policy: EligibilityPolicy) -> None:
    text = policy.model_dump_json()
    again = EligibilityPolicy.model_validate_json(text)
    assert again == policy
    assert EligibilityPolicy.model_validate_json(again.model_dump_json()) == policy
    for country in ("US", "DE", "CA", "BR", "JP", "GB", "NO", "CH"):
        assert again.check(seller="us", country=country, email="a@example.com") == policy.check(
            seller="us", country=country, email="a@example.com"
        )


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT.require_email = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("countries", "reasons", "country"),
    [
        (("US",), (), "US"),
        (("US", "CA"), (), "US"),
        ((), ("country_missing",), None),
        ((None,), ("country_unknown",), None),
        (("US", None), ("country_unknown",), "US"),
        (("US", "FR"), ("country_excluded",), "US"),
        ((None, "DE"), ("country_excluded",), "DE"),
        (("France",), ("country_unknown",), None),  # read them first: alpha-2 codes only
        (("us",), ("country_unknown",), None),
    ],
)
def test_every_country_a_form_gave_must_pass(
    countries: tuple[str | None, ...], reasons: tuple[str, ...], country: str | None
) -> None:
    result = DEFAULT.check(seller="us", country="US", countries=countries, email="a@example.com")
    assert (result.reasons, result.country) == (reasons, country)
