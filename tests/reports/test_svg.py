"""Charts: well-formed SVG, inert whatever the labels say, accessible, responsive and
dark-mode aware."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import InvalidInputError
from cartback.reports import bar_chart, format_count, format_percent, line_chart, sparkline

SVG = "{http://www.w3.org/2000/svg}"
ALLOWED = {"svg", "title", "desc", "style", "g", "rect", "text", "line", "path", "circle"}
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "]]><script>alert(2)</script>",
    "&lt;script&gt; &amp; &#x3C;",
    "</text><foreignObject><iframe src='javascript:alert(1)'/></foreignObject>",
    "\x00\x07 control \ufffe \ud800 characters",
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def local(tag: str) -> str:
    return tag.removeprefix(SVG)


def assert_inert(svg: str) -> ET.Element:
    root = parse(svg)
    for element in root.iter():
        assert local(element.tag) in ALLOWED, element.tag
        for name in element.attrib:
            assert not name.lower().startswith("on"), name
            assert "href" not in name.lower(), name
    assert "<script" not in svg
    assert "<img" not in svg
    assert "<foreignObject" not in svg
    assert "javascript:" not in re.sub(r">[^<]*<", "><", svg)  # only as inert text
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter() if local(element.tag) in
            {"text", "title", "desc"}]  # fmt: skip


def charts(labels: list[str]) -> list[str]:
    return [
        bar_chart([(label, index + 1) for index, label in enumerate(labels)], title=labels[0]),
        bar_chart([(label, 3) for label in labels], title="t", horizontal=False),
        bar_chart([(label, 3) for label in labels], title="t", horizontal=True),
        line_chart([(label, index) for index, label in enumerate(labels)], title=labels[-1]),
        sparkline([1, 2, 3], title=labels[0]),
    ]


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_labels_come_out_as_inert_text(label: str) -> None:
    for svg in charts([label, "plain"]):
        root = assert_inert(svg)
        shown = " ".join(texts(root))
        kept = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "\ufffd", label)
        assert kept[:20] in shown  # the label is there, as text


def test_bar_chart_is_accessible_and_holds_every_number() -> None:
    svg = bar_chart(
        [("Course", 12), ("Book", 7), ("Workshop", 0)],
        title="Abandoned carts by product",
        description="Last 30 days.",
        chart_id="by-product",
    )
    root = assert_inert(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "by-product-title by-product-desc"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert title.get("id") == "by-product-title"
    assert title.text == "Abandoned carts by product"
    assert desc.text == "Last 30 days. Values: Course: 12; Book: 7; Workshop: 0."
    rects = root.findall(f".//{SVG}rect")
    assert len(rects) == 3
    heights = [float(rect.get("height", "0")) for rect in rects]
    assert heights[0] > heights[1] > heights[2] == 0  # vertical: short labels, 3 bars


def test_charts_are_responsive_and_follow_the_colour_scheme() -> None:
    for svg in charts(["a", "b"]):
        root = parse(svg)
        assert re.fullmatch(r"0 0 \d+ [\d.]+", root.get("viewBox", ""))
        assert root.get("width") is None
        assert root.get("height") is None
        style = root.find(f"{SVG}style")
        assert style is not None
        assert style.text is not None
        assert "@media (prefers-color-scheme:dark)" in style.text
        assert "fill:currentColor" in style.text
        assert "var(--cb-bar" in style.text
        assert "cb-chart" in root.get("class", "")


def test_long_labels_lay_bars_out_horizontally_and_keep_the_whole_name() -> None:
    name = "The complete guide to sourdough baking, second edition (video course)"
    root = assert_inert(bar_chart([(name, 4), ("Short", 2)], title="t"))
    rects = root.findall(f".//{SVG}rect")
    widths = [float(rect.get("width", "0")) for rect in rects]
    assert widths[0] > widths[1] > 0  # horizontal: the widths carry the values
    shown = [text.text or "" for text in root.iter(f"{SVG}text")]
    assert any(label.endswith("\u2026") and len(label) <= 24 for label in shown)
    tooltips = [t.text for t in root.iter(f"{SVG}title")]
    assert f"{name}: 4" in tooltips


def test_line_chart_breaks_at_missing_values_and_labels_at_most_six_points() -> None:
    points = [(f"11-{day:02d}", None if day in (5, 6) else day / 100) for day in range(1, 31)]
    svg = line_chart(points, title="Recovery rate", value_format=format_percent)
    root = assert_inert(svg)
    lines = [p for p in root.iter(f"{SVG}path") if p.get("class") == "cb-line"]
    assert len(lines) == 2  # days 1-4, then 7-30
    dots = root.findall(f".//{SVG}circle")
    assert len(dots) == 28
    axis = [t for t in root.iter(f"{SVG}text") if (t.text or "").startswith("11-")]
    assert len(axis) == 6
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text is not None
    assert "11-05: n/a" in desc.text
    assert "11-30: 30.0%" in desc.text


def test_sparkline_and_empty_charts() -> None:
    root = assert_inert(sparkline([3, 5, None, 4, 8], title="Recovered this week"))
    assert root.get("viewBox") == "0 0 120 32"
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text == "Values: 1: 3; 2: 5; 3: n/a; 4: 4; 5: 8."
    assert len(root.findall(f".//{SVG}circle")) == 1
    for svg in (bar_chart([], title="none"), line_chart([], title="none")):
        empty = assert_inert(svg)
        assert "No data" in " ".join(texts(empty))
    assert_inert(sparkline([], title="none"))


def test_negative_and_non_finite_values_are_drawn_safely() -> None:
    root = assert_inert(bar_chart([("up", 3), ("down", -2), ("nan", float("nan"))], title="lift"))
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text == "Values: up: 3; down: -2; nan: 0."
    assert_inert(line_chart([("a", float("inf")), ("b", 1)], title="t"))


def test_value_formats() -> None:
    assert format_count(1234) == "1,234"
    assert format_count(2.5) == "2.5"
    assert format_percent(0.125) == "12.5%"


def test_chart_ids_are_checked_and_default_to_a_stable_one() -> None:
    assert bar_chart([("a", 1)], title="t") == bar_chart([("a", 1)], title="t")
    assert bar_chart([("a", 1)], title="t") != bar_chart([("a", 2)], title="t")
    with pytest.raises(InvalidInputError):
        bar_chart([("a", 1)], title="t", chart_id='x" onload="alert(1)')


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.text(max_size=60), st.floats(allow_nan=True, allow_infinity=True)),
        max_size=15,
    ),
    st.text(max_size=40),
    st.booleans(),
)
def test_any_labels_and_values_give_well_formed_inert_svg(
    bars: list[tuple[str, float]], title: str, horizontal: bool
) -> None:
    for svg in (
        bar_chart(bars, title=title, horizontal=horizontal),
        line_chart(bars, title=title),
        sparkline([value for _, value in bars], title=title),
    ):
        root = assert_inert(svg)
        heading = root.find(f"{SVG}title")
        assert heading is not None
        assert (heading.text or "") == re.sub(
            "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "\ufffd", title
        )


def test_values_too_close_to_tell_apart_still_draw() -> None:
    for values in ([5e-324, 0.0], [1e-300, 2e-300], [-5e-324]):
        assert_inert(bar_chart([(str(v), v) for v in values], title="tiny"))
        assert_inert(line_chart([(str(v), v) for v in values], title="tiny"))
