"""Helpers for browser tests of the dashboard: logging in, reading styles and boxes.

- ``facade``: the SDK facade of a receiver app.
- ``log_in``: open a dashboard page, log in through the form, land back on it.
- ``contrast``: the WCAG contrast ratio of two CSS colours as the browser computed them.
- ``focusable``: the page's keyboard-focusable elements, in document order.
- ``shoot``: a screenshot for a person to look at, when ``CARTBACK_SCREENSHOTS`` is set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Page, expect
from starlette.applications import Starlette

from cartback import Cartback
from tests.server.fixtures import RECEIVER_PASSWORD

__all__ = [
    "contrast",
    "describe_focus",
    "facade",
    "focusable",
    "log_in",
    "luminance",
    "shoot",
]

_RGB = re.compile(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)")


def facade(app: Starlette) -> Cartback:
    """``app``'s SDK facade."""
    cartback = app.state.cartback
    assert isinstance(cartback, Cartback)
    return cartback


def log_in(page: Page, base: str, *, start: str = "/admin/carts", heading: str = "Carts") -> None:
    """Open ``start``, get sent to the login form, log in, and land back on ``start``."""
    page.goto(base + start)
    expect(page).to_have_url(f"{base}/admin/login?{urlencode({'next': start})}")
    page.get_by_label("Admin password").fill(RECEIVER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + start)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def _channels(color: str) -> tuple[float, float, float, float]:
    match = _RGB.fullmatch(color.strip())
    assert match is not None, f"not an rgb() colour: {color}"
    red, green, blue, alpha = match.groups()
    return float(red), float(green), float(blue), float(alpha) if alpha is not None else 1.0


def luminance(color: str) -> float:
    """The relative luminance (WCAG 2) of an opaque ``rgb(...)`` colour."""
    red, green, blue, alpha = _channels(color)
    assert alpha == 1.0, f"translucent colour: {color}"

    def linear(channel: float) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two opaque colours (1 to 21)."""
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


_FOCUSABLE_JS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]';
  return [...document.querySelectorAll(selector)]
    .filter(el => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0)
    .map(el => el.outerHTML.slice(0, 120));
}"""

_ACTIVE_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {html: el.outerHTML.slice(0, 120), outline: style.outlineStyle,
          width: parseFloat(style.outlineWidth), color: style.outlineColor};
}"""


def focusable(page: Page) -> list[str]:
    """The start of each keyboard-focusable element's markup, in document order."""
    found: list[str] = page.evaluate(_FOCUSABLE_JS)
    return found


def describe_focus(page: Page) -> dict[str, Any] | None:
    """The focused element's markup start and its outline as computed, or ``None``."""
    active: dict[str, Any] | None = page.evaluate(_ACTIVE_JS)
    return active


def shoot(page: Page, name: str) -> None:
    """Save a full-page screenshot as ``$CARTBACK_SCREENSHOTS/<name>.png`` when that
    variable names a folder (for a person to look at; no test reads them)."""
    folder = os.environ.get("CARTBACK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
