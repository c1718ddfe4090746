"""Who may be stored at all: the four rules, as a configurable, serialisable policy.

1. the seller of record is an allowed entity (default: the US entity, ``"us"``);
2. the prospect is outside the excluded regions (default: the EU); the country is
   normalised from alpha-2, alpha-3, numeric or an English name, and an unknown or
   missing country fails closed; when a form gave several countries (a billing and a
   shipping address), every one must pass;
3. a syntactically valid email address was entered (no DNS);
4. on a multi-step order form, at least one step follows the contact-data step.

``check`` reports every failing rule, not just the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cartback._contact_values import normalize_email
from cartback._regions import REGIONS, Region, normalize_country
from cartback._types import ReasonCode

__all__ = ["EligibilityPolicy", "EligibilityResult"]


def _casefold_all(values: frozenset[str]) -> frozenset[str]:
    return frozenset(value.strip().casefold() for value in values)


def _alpha2_all(values: frozenset[str]) -> frozenset[str]:
    codes = set()
    for value in values:
        code = normalize_country(value)
        if code is None:
            raise ValueError(f"unknown country in excluded_countries: {value!r}")
        codes.add(code)
    return frozenset(codes)


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    """The verdict on one prospect, with the normalised values the rules looked at."""

    eligible: bool
    """True when every rule passed."""
    reasons: tuple[ReasonCode, ...] = ()
    """Every failing rule's reason code, in rule order; empty when eligible."""
    country: str | None = None
    """The prospect's country as alpha-2, when it could be normalised."""
    email: str | None = None
    """The normalised email, when one was entered and is valid."""


class EligibilityPolicy(BaseModel):
    """The rules deciding whether a prospect may be stored. Frozen: share it freely.

    Serialise with ``model_dump_json()`` and load with ``model_validate_json()``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    allowed_sellers: Annotated[frozenset[str], AfterValidator(_casefold_all)] = frozenset({"us"})
    """Seller-of-record entities for which capture is allowed (case-insensitive)."""
    excluded_regions: frozenset[Region] = frozenset({"EU"})
    """Regions whose prospects are never stored: ``EU``, ``EEA``, ``UK``, ``CH``."""
    excluded_countries: Annotated[frozenset[str], AfterValidator(_alpha2_all)] = Field(
        default_factory=frozenset
    )
    """Further countries to exclude, in any spelling ``normalize_country`` accepts."""
    require_email: bool = True
    """Require a valid email. When False, a verified phone number can identify the
    prospect instead; an invalid email is still never stored."""
    require_step_after_contact: bool = True
    """On a multi-step form, require a step after the contact-data step."""

    def excluded(self, country: str) -> bool:
        """Whether an alpha-2 ``country`` falls in an excluded region or country."""
        if country in self.excluded_countries:
            return True
        return any(country in REGIONS[region] for region in self.excluded_regions)

    def check(
        self,
        *,
        seller: str | None,
        country: str | int | None,
        email: str | None,
        steps_total: int | None = None,
        contact_step: int | None = None,
        countries: Sequence[str | None] | None = None,
    ) -> EligibilityResult:
        """Apply every rule and report all that fail.

        ``country`` is the prospect's country in any spelling ``normalize_country``
        reads. ``countries``, when given, replaces it: the countries a form gave,
        already read as alpha-2 codes by the capture step (``None`` for one that means
        nothing certain, such as a platform's number without its name); every one must
        pass, and the result's country is the first. ``steps_total``/``contact_step``
        describe a multi-step form; ``None`` or a single step means a one-page form,
        where rule 4 does not apply. A missing ``contact_step`` on a multi-step form is
        taken as step 1.
        """
        reasons: list[ReasonCode] = []

        if seller is None or not seller.strip():
            reasons.append("seller_missing")
        elif seller.strip().casefold() not in self.allowed_sellers:
            reasons.append("seller_not_allowed")

        if countries is None:
            if country is None or (isinstance(country, str) and not country.strip()):
                countries = ()
            else:
                countries = (normalize_country(country),)
        # Anything but an alpha-2 code (as read_country gives them) means nothing certain.
        codes = [code for code in countries if code is not None and normalize_country(code) == code]
        code = codes[0] if codes else None
        if not countries:
            reasons.append("country_missing")
        elif any(self.excluded(known) for known in codes):
            reasons.append("country_excluded")
        elif len(codes) < len(countries):  # a number without its name, a typo, ...
            reasons.append("country_unknown")

        normalized = None
        if email is None or not email.strip():
            if self.require_email:
                reasons.append("email_missing")
        else:
            normalized = normalize_email(email.strip())
            if normalized is None and self.require_email:
                reasons.append("email_invalid")

        if (
            self.require_step_after_contact
            and steps_total is not None
            and steps_total > 1
            and (contact_step or 1) >= steps_total
        ):
            reasons.append("no_step_after_contact")

        return EligibilityResult(
            eligible=not reasons, reasons=tuple(reasons), country=code, email=normalized
        )
