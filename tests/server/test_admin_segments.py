"""The dashboard's segments page over HTTP: the builder and its preview, saving and
deleting, the CSV download, bad input named with a 400, and stored markup shown as text."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from starlette.testclient import TestClient

from cartback import Cart, Cartback
from cartback.reports import SEGMENT_COLUMNS, ProductSegment, segment_json
from server_example.admin_segments import PREVIEW_SIZE
from tests.conftest import FakeClock
from tests.server.support import cart_ids, cart_submission, seed

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def carts(cartback: Cartback, clock: FakeClock) -> list[Cart]:
    """Four carts: three of product p1 (two on form f2), one of p2; oldest first."""
    return seed(
        cartback,
        clock,
        [
            cart_submission("ann@example.com", product_id="p1", form_id="f1"),
            cart_submission("ben@example.com", product_id="p2", form_id="f1"),
            cart_submission("cy@example.com", product_id="p1", form_id="f2"),
            cart_submission("dee@example.com", product_id="p1", form_id="f2"),
        ],
        step_seconds=3600,
    )


def newest_first(chosen: list[Cart]) -> list[str]:
    return [cart.id for cart in sorted(chosen, key=lambda c: c.created_at, reverse=True)]


def saved_names(page: str) -> list[str]:
    return [html.unescape(name) for name in re.findall(r'<tr data-segment="([^"]*)">', page)]


def test_an_empty_page_offers_the_builder_and_says_nothing_is_saved(admin: TestClient) -> None:
    page = admin.get("/admin/segments")
    assert page.status_code == 200
    assert "<h1>Segments</h1>" in page.text
    assert 'id="no-saved"' in page.text
    assert 'action="/admin/segments"' in page.text
    assert 'id="preview"' not in page.text  # nothing built, nothing previewed


def test_a_built_segment_previews_exactly_its_carts(admin: TestClient, carts: list[Cart]) -> None:
    ann, ben, dave1, dave2 = carts
    page = admin.get("/admin/segments?products=p1").text
    assert cart_ids(page) == newest_first([ann, dave1, dave2])
    assert "3 carts are in this segment." in page
    assert "abandoned product &#39;p1&#39;" in page
    assert 'value="p1"' in page  # shown back in the builder

    negated = admin.get("/admin/segments?products=p1&not=product").text
    assert cart_ids(negated) == [ben.id]
    assert 'value="product" checked' in negated

    both = admin.get("/admin/segments?products=p1&forms=f1").text
    assert cart_ids(both) == [ann.id]
    either = admin.get("/admin/segments?products=p2&forms=f2&combine=any").text
    assert cart_ids(either) == newest_first([ben, dave1, dave2])

    once = admin.get("/admin/segments?repeat_at_least=1&repeat_within=7d").text
    assert cart_ids(once) == newest_first(carts)
    twice = admin.get("/admin/segments?repeat_at_least=2&repeat_within=7d").text
    assert cart_ids(twice) == []

    from_json = admin.get(
        "/admin/segments", params={"json": segment_json(ProductSegment(product_id="p2"))}
    ).text
    assert cart_ids(from_json) == [ben.id]


def test_a_segment_matching_nothing_says_so_and_offers_no_export(
    admin: TestClient, carts: list[Cart]
) -> None:
    page = admin.get("/admin/segments?products=nothing-like-it")
    assert page.status_code == 200
    assert 'id="empty"' in page.text
    assert "Nothing to export." in page.text
    assert "Export 0" not in page.text


def test_the_preview_pages_through_a_large_segment(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    many = seed(
        cartback,
        clock,
        [cart_submission(f"p{i}@example.com", product_id="big") for i in range(PREVIEW_SIZE + 2)],
    )
    first = admin.get("/admin/segments?products=big").text
    assert cart_ids(first) == newest_first(many)[:PREVIEW_SIZE]
    match = re.search(r'rel="next" href="([^"]+)"', first)
    assert match is not None
    second = admin.get(html.unescape(match.group(1))).text
    assert cart_ids(second) == newest_first(many)[PREVIEW_SIZE:]
    assert 'rel="prev"' in second


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("repeat_at_least=abc", "Abandoned at least"),
        ("value_at_least=lots", "Cart value from"),
        ("consent_channel=pigeon", "consent channel"),
        ("outcome=vanished", "flow outcome"),
        ("json=%7B%22type%22%3A%22nope%22%7D", "segment JSON"),
        ("products=p1&page=zero", "Page"),
    ],
)
def test_bad_builder_input_is_a_400_naming_the_field(
    admin: TestClient, query: str, named: str
) -> None:
    page = admin.get("/admin/segments?" + query)
    assert page.status_code == 400
    errors = re.search(r'<div class="error" role="alert" id="errors">(.*?)</div>', page.text, re.S)
    assert errors is not None
    assert named in errors.group(1)
    assert 'id="preview"' not in page.text


def test_save_show_and_delete_a_segment(admin: TestClient, carts: list[Cart]) -> None:
    body = segment_json(ProductSegment(product_id="p1"))
    saved = admin.post(
        "/admin/segments/save",
        data={"name": "Sourdough fans", "json": body},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = admin.get(saved.headers["location"])
    assert "Segment saved." in page.text
    assert "Segment Sourdough fans" in page.text
    assert saved_names(page.text) == ["Sourdough fans"]
    assert cart_ids(page.text.split('id="preview"')[1]) == newest_first(
        [carts[0], carts[2], carts[3]]
    )
    # the same conditions typed in the builder are recognised as the saved segment
    assert "Segment Sourdough fans" in admin.get("/admin/segments?products=p1").text

    deleted = admin.post(
        "/admin/segments/delete", data={"name": "Sourdough fans"}, follow_redirects=False
    )
    assert deleted.status_code == 303
    after = admin.get(deleted.headers["location"]).text
    assert "Segment deleted." in after
    assert saved_names(after) == []


@pytest.mark.parametrize("name", ["", "<b>bold</b>", "x" * 81])
def test_a_bad_name_is_refused_naming_it(admin: TestClient, name: str) -> None:
    body = segment_json(ProductSegment(product_id="p1"))
    page = admin.post("/admin/segments/save", data={"name": name, "json": body})
    assert page.status_code == 400
    assert "Name: 1 to 80 letters" in page.text
    assert saved_names(page.text) == []


def test_saving_nothing_or_a_broken_segment_is_refused(admin: TestClient) -> None:
    assert admin.post("/admin/segments/save", data={"name": "x", "json": ""}).status_code == 400
    broken = admin.post("/admin/segments/save", data={"name": "x", "json": "{"})
    assert broken.status_code == 400
    assert "segment JSON" in broken.text


def test_unknown_saved_segments_are_404s(admin: TestClient) -> None:
    assert admin.get("/admin/segments?saved=nope").status_code == 404
    assert admin.get("/admin/segments.csv?saved=nope").status_code == 404
    missing = admin.post("/admin/segments/delete", data={"name": "nope"})
    assert missing.status_code == 404
    assert "no saved segment has this name" in missing.text


def test_the_forms_refuse_a_cross_site_post(admin: TestClient) -> None:
    body = segment_json(ProductSegment(product_id="p1"))
    cross = {"sec-fetch-site": "cross-site"}
    saved = admin.post("/admin/segments/save", data={"name": "x", "json": body}, headers=cross)
    assert saved.status_code == 403
    admin.post("/admin/segments/save", data={"name": "x", "json": body})
    deleted = admin.post("/admin/segments/delete", data={"name": "x"}, headers=cross)
    assert deleted.status_code == 403
    assert saved_names(admin.get("/admin/segments").text) == ["x"]


def test_the_pages_need_the_login(receiver_client: TestClient) -> None:
    for path in ("/admin/segments", "/admin/segments.csv?products=p1"):
        response = receiver_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login")
    post = receiver_client.post(
        "/admin/segments/save", data={"name": "x", "json": "{}"}, follow_redirects=False
    )
    assert post.status_code in (303, 401)


def test_the_csv_download_is_the_segment_in_spreadsheet_format_by_default(
    admin: TestClient, carts: list[Cart]
) -> None:
    response = admin.get("/admin/segments.csv?products=p1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="segment-2026-11-2' in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert tuple(rows[0]) == SEGMENT_COLUMNS
    ids = [row[SEGMENT_COLUMNS.index("cart_id")] for row in rows[1:]]
    assert ids == newest_first([carts[0], carts[2], carts[3]])

    tools = admin.get("/admin/segments.csv?products=p1&format=tools").content.decode("utf-8")
    assert not tools.startswith("\ufeff")
    assert len(list(csv.reader(io.StringIO(tools)))) == 4


def test_a_saved_segment_exports_under_its_name(admin: TestClient, carts: list[Cart]) -> None:
    body = segment_json(ProductSegment(product_id="p2"))
    admin.post("/admin/segments/save", data={"name": "p2 buyers", "json": body})
    response = admin.get("/admin/segments.csv", params={"saved": "p2 buyers", "format": "tools"})
    assert 'filename="p2-buyers-' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert [row[0] for row in rows[1:]] == ["p2 buyers"]


def test_a_download_without_a_usable_segment_is_a_400(admin: TestClient) -> None:
    assert admin.get("/admin/segments.csv").status_code == 400
    bad = admin.get("/admin/segments.csv?products=p1&format=pdf")
    assert bad.status_code == 400
    assert "The export format must be spreadsheet or tools." in bad.text


def test_stored_markup_is_shown_as_text(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(cartback, clock, [cart_submission("x@example.com", product_id=XSS, product_name=XSS)])
    body = json.dumps({"type": "product", "product_id": XSS})
    admin.post("/admin/segments/save", data={"name": "odd one", "json": body})
    for page in (
        admin.get("/admin/segments", params={"products": XSS}).text,
        admin.get("/admin/segments", params={"saved": "odd one"}).text,
    ):
        assert "<script>" not in page
        assert "<img" not in page
        assert XSS in html.unescape(page)
