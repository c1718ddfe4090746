"""The rendered examples in docs/messages/ are what the builders make today."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

PAGES = Path(__file__).parent.parent.parent / "docs" / "messages"


def load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_examples", PAGES / "render_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_channel_has_its_page() -> None:
    names = {path.name for path in PAGES.glob("*.md")}
    assert {"email.md", "sms.md", "push.md", "social.md", "links.md"} <= names


def test_the_examples_are_current() -> None:
    renderer = load_renderer()
    for page in sorted(PAGES.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        assert renderer.render(text) == text, (
            f"run: python docs/messages/render_examples.py ({page.name})"
        )


def test_every_example_is_shown_and_every_mark_names_one() -> None:
    renderer = load_renderer()
    shown: set[str] = set()
    for page in PAGES.glob("*.md"):
        shown |= set(re.findall(r"<!-- example: ([\w.]+) -->", page.read_text(encoding="utf-8")))
    assert shown == set(renderer.EXAMPLES)


def test_pages_link_to_pages_that_exist() -> None:
    for page in PAGES.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
