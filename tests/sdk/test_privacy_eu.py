"""The headline privacy property: a prospect in the EU is written nowhere.

For every EU member state and EU special territory, in every accepted spelling and
casing, ``Cartback.capture`` answers ``not_stored`` and the prospect's email never
reaches the SQLite file, its WAL, the outbox or the ledger: ``country_excluded`` for a
country it can name, ``country_unknown`` for an ISO 3166-1 number on a form that does
not say its numbers are ISO ones (a platform's own number could be any country).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback import (
    EU_MEMBER_STATES,
    EU_SPECIAL_TERRITORIES,
    Cartback,
    InvalidInputError,
    OrderForm,
    SQLiteStore,
)
from tests.conftest import FakeClock
from tests.sdk._support import (
    outbox,
    raw_bytes,
    reader,
    rows_mentioning,
    submission,
    table_names,
)

EU_CODES = sorted(EU_MEMBER_STATES | EU_SPECIAL_TERRITORIES)


def eu_spellings(code: str) -> list[str | int]:
    country: Any = pycountry.countries.get(alpha_2=code)
    assert country is not None
    texts: list[str | int] = [
        country.alpha_2,
        country.alpha_3,
        country.numeric,
        str(int(country.numeric)),
        int(country.numeric),
    ]
    for attribute in ("name", "official_name", "common_name"):
        name = getattr(country, attribute, None)
        if isinstance(name, str):
            texts.append(name)
    return texts


def casings(value: str | int) -> list[str | int]:
    if isinstance(value, int):
        return [value]
    alternating = "".join(
        char.upper() if index % 2 else char.lower() for index, char in enumerate(value)
    )
    return list(dict.fromkeys([value, value.upper(), value.lower(), alternating]))


def stored_text(db_path: Path) -> str:
    """Every value of every row of every table, as one lower-cased string."""
    with reader(db_path) as db:
        parts = [
            str(value).lower()
            for table in table_names(db)
            for row in db.execute(f"SELECT * FROM {table}")
            for value in row
            if value is not None
        ]
    return "\n".join(parts)


def assert_written_nowhere(store: SQLiteStore, db_path: Path, emails: list[str]) -> None:
    assert outbox(store) == []
    on_disk = raw_bytes(db_path)
    folded = on_disk.lower()
    in_rows = stored_text(db_path)
    for email in emails:
        local = email.rpartition("@")[0]
        assert email.encode() not in on_disk
        assert email.lower().encode() not in on_disk
        assert (local + "@").lower().encode() not in folded
        assert email.encode("utf-16-le") not in on_disk
        assert (local + "@").lower() not in in_rows
    assert store.consent_events(emails[0].lower()) == []


def test_the_eu_list_is_complete() -> None:
    assert len(EU_MEMBER_STATES) == 27
    assert {"AX", "GF", "GP", "MQ", "RE", "YT", "MF"} <= EU_SPECIAL_TERRITORIES


def test_every_eu_spelling_is_refused_and_written_nowhere(
    client: Cartback, store: SQLiteStore, db_path: Path
) -> None:
    emails: list[str] = []
    checked = 0
    for code in EU_CODES:
        for spelling in eu_spellings(code):
            for cased in casings(spelling):
                for field in ("country", "billing_country", "country_code"):
                    email = f"Prospect.{code}.{checked}@Example.COM"
                    body = submission(
                        email=email,
                        country=None,
                        fields={
                            field: cased,
                            "first_name": "Eva",
                            "phone": "+33 1 23 45 67 89",
                            "newsletter": "on",
                        },
                        consent={"sms": True, "push": True, "email": True},
                        consent_version="v1",
                        session_id=f"sess-{checked}",
                        product_id="p-1",
                    )
                    emails.append(email)
                    checked += 1
                    if isinstance(cased, int):  # a JSON number is not text: refused
                        with pytest.raises(InvalidInputError) as raised:
                            client.capture(body)
                        assert raised.value.reason == "not_a_string"
                        continue
                    result = client.capture(body)
                    assert result.status == "not_stored", (code, cased, field)
                    reason = "country_unknown" if str(cased).isdigit() else "country_excluded"
                    assert result.reasons == (reason,), (code, cased, field)
                    assert result.cart is None
                    assert not result.stored
    assert checked > 34 * 5 * 3
    assert_written_nowhere(store, db_path, emails)
    assert client.list_carts().total == 0
    with reader(db_path) as db:
        for table in table_names(db):
            if table == "consumers":  # the row of the test's own outbox probe
                continue
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


@pytest.mark.parametrize("code", EU_CODES)
def test_eu_fallback_country_is_refused_and_written_nowhere(
    client: Cartback, store: SQLiteStore, db_path: Path, code: str
) -> None:
    email = f"fallback.{code}@example.com"
    result = client.capture(submission(email=email, country=None), fallback_country=code)
    assert result.status == "not_stored"
    assert result.reasons == ("country_excluded",)
    assert_written_nowhere(store, db_path, [email])


def test_eu_prospect_is_refused_even_after_other_prospects_were_stored(
    client: Cartback, store: SQLiteStore, db_path: Path
) -> None:
    stored = client.capture(submission(email="us.buyer@example.com", country="US"))
    assert stored.status == "stored"
    email = "eu.buyer@example.com"
    result = client.capture(submission(email=email, country="France"))
    assert result.reasons == ("country_excluded",)
    assert email.encode() not in raw_bytes(db_path)
    assert rows_mentioning(db_path, email) == []
    pending = outbox(store)
    assert [event.type for event in pending] == ["cart.captured"]
    assert client.list_carts().total == 1


def test_an_eu_prospect_on_a_form_that_already_holds_their_cart_is_not_updated(
    client: Cartback, store: SQLiteStore
) -> None:
    first = client.capture(
        submission(email="mover@example.com", country="US", fields={"city": "Austin"})
    )
    assert first.cart is not None
    moved = client.capture(
        submission(email="mover@example.com", country="DE", fields={"city": "Berlin"})
    )
    assert moved.status == "not_stored"
    assert client.get_cart(first.cart.id) == first.cart
    assert len(outbox(store)) == 1


@st.composite
def eu_submissions(draw: st.DrawFn) -> tuple[dict[str, Any], str, str | None]:
    code = draw(st.sampled_from(EU_CODES))
    spelling = draw(st.sampled_from(eu_spellings(code)))
    if isinstance(spelling, str):
        flips = draw(st.lists(st.booleans(), min_size=len(spelling), max_size=len(spelling)))
        spelling = "".join(
            char.upper() if flip else char.lower()
            for char, flip in zip(spelling, flips, strict=True)
        )
        spelling = (
            draw(st.sampled_from(["", " ", "  "]))
            + spelling
            + draw(st.sampled_from(["", " ", "\t"]))
        )
    local = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9._+-]{0,20}[A-Za-z0-9]", fullmatch=True))
    email = f"{local}@Example-{code}.org"
    use_fallback = draw(st.booleans())
    fields: dict[str, Any] = {
        draw(st.sampled_from(["email", "billing_email", "e-mail", "Email"])): email,
        "first_name": draw(st.sampled_from(["", "Jan", "Marie-Claire"])),
        "newsletter": draw(st.sampled_from(["on", "", "yes"])),
    }
    fallback: str | None = None
    if use_fallback:
        fallback = str(spelling)
    else:
        fields[draw(st.sampled_from(["country", "billing_country", "country_code"]))] = spelling
    body = submission(
        email=None,
        country=None,
        fields=fields,
        consent=draw(
            st.dictionaries(st.sampled_from(["email", "sms", "push", "newsletter"]), st.booleans())
        ),
    )
    return body, email, fallback


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=eu_submissions())
def test_property_eu_prospects_are_never_written(
    store: SQLiteStore,
    db_path: Path,
    clock: FakeClock,
    case: tuple[dict[str, Any], str, str | None],
) -> None:
    body, email, fallback = case
    client = Cartback(store, clock=clock)
    if any(isinstance(value, int) for value in body["fields"].values()):
        with pytest.raises(InvalidInputError):  # a JSON number is not text: refused
            client.capture(body, fallback_country=fallback)
        assert_written_nowhere(store, db_path, [email])
        return
    result = client.capture(body, fallback_country=fallback)
    assert result.status == "not_stored"
    typed = next((str(v) for k, v in body["fields"].items() if "country" in k), None)
    if typed is not None and typed.strip().isdigit():
        assert "country_unknown" in result.reasons  # no form says its numbers are ISO
    else:
        assert "country_excluded" in result.reasons
    assert_written_nowhere(store, db_path, [email])


@pytest.mark.parametrize("code", EU_CODES)
def test_iso_numbers_on_a_form_that_says_so_are_read_and_refused(
    store: SQLiteStore, db_path: Path, clock: FakeClock, code: str
) -> None:
    form = OrderForm(form_id="iso", iso_numeric_countries=True)
    client = Cartback(store, clock=clock, forms={"iso": form})
    country: Any = pycountry.countries.get(alpha_2=code)
    emails = []
    for number in (country.numeric, str(int(country.numeric))):
        email = f"iso.{code}.{number}@example.com"
        emails.append(email)
        result = client.capture(submission(email=email, form_id="iso", country=number))
        assert result.reasons == ("country_excluded",)
    assert_written_nowhere(store, db_path, emails)
