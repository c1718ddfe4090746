"""The public surface of ``cartback.flows``: what ``__all__`` promises, documented."""

from __future__ import annotations

import inspect
import types
import typing

import cartback.flows as flows


def _kind(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_exactly_the_public_namespace_and_sorted() -> None:
    public = {
        name
        for name, value in vars(flows).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(flows.__all__) == public
    assert flows.__all__ == sorted(flows.__all__, key=_kind)


def test_every_public_class_function_and_field_is_documented() -> None:
    missing: list[str] = []
    for name in flows.__all__:
        value = getattr(flows, name)
        if typing.get_origin(value) is not None or not callable(value):
            continue
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        if not (isinstance(doc, str) and doc.strip()):
            missing.append(name)
        fields = getattr(value, "model_fields", None)
        if isinstance(fields, dict):
            missing += [f"{name}.{field}" for field, info in fields.items() if not info.description]
    assert missing == []
