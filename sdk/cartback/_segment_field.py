"""A segment (``cartback.reports``) as a field of a flow or ticket condition.

The segment models live in ``cartback.reports``, which itself reads flow enrolments, so
flows and tickets cannot import them while their own models are built. This field parses
a segment lazily, when a condition is validated: at that point every package is loaded.
Type checkers see the segment union itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, ValidationError, WithJsonSchema

__all__ = ["SegmentField"]


def _parse(value: object) -> object:
    from cartback.reports._segments import _ADAPTER

    try:
        if isinstance(value, str | bytes):
            return _ADAPTER.validate_json(value)
        return _ADAPTER.validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"not a segment: {where or 'the segment'}: {first['msg']}") from None


def _dump(segment: object) -> object:
    from cartback.reports._segments import _ADAPTER

    return _ADAPTER.dump_python(segment, mode="json")  # type: ignore[arg-type]


if TYPE_CHECKING:
    from cartback.reports._segments import Segment

    SegmentField = Segment
else:
    SegmentField = Annotated[
        Any,
        BeforeValidator(_parse),
        PlainSerializer(_dump),
        WithJsonSchema(
            {
                "type": "object",
                "description": "A segment of cartback.reports, as its JSON "
                "(the dashboard's segment builder shows it).",
            }
        ),
    ]
