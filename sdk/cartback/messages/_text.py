"""Making values safe for a message, and shortening text without breaking it."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["clean_value", "one_line", "shorten"]

_BREAKS: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # Cc, Zl, Zp
_BIDI_CONTROLS: Final = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SPACES: Final = re.compile(r"[^\S\u00a0\u202f]+")  # no-break spaces stay


def clean_value(value: str | None) -> str | None:
    """A value for any part of a message, or ``None`` when nothing is left.

    Control characters (CR, LF, tab, NUL, ...), line and paragraph separators become a
    space, bidirectional overrides (which can make text read backwards) are dropped,
    runs of whitespace collapse to one space and the ends are stripped. Such a value
    cannot start a new header line or a new line of an SMS, whatever the prospect typed.
    """
    if value is None:
        return None
    text = _BIDI_CONTROLS.sub("", _BREAKS.sub(" ", value))
    text = _SPACES.sub(" ", text).strip()
    return text or None


def one_line(text: str) -> str:
    """Rendered template output as one line (for a subject or a push title)."""
    return clean_value(text) or ""


def shorten(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near,
    with ``ellipsis`` appended when anything was cut. Combining marks and joiners are never
    separated from the character before them."""
    if len(text) <= limit:
        return text
    room = max(limit - len(ellipsis), 0)
    cut = room
    while 0 < cut < len(text) and _joins_previous(text, cut):
        cut -= 1
    head = text[:cut]
    space = head.rfind(" ")
    if space >= room * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:-") + ellipsis


def _joins_previous(text: str, index: int) -> bool:
    """Whether ``text[index]`` belongs to the character before it: a combining mark, a
    joiner or what follows one, a variation selector, a skin tone or a tag character."""
    char = text[index]
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char in "\u200d\ufe0e\ufe0f"
        or text[index - 1] == "\u200d"
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )
