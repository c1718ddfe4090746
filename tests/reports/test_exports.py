"""The public surface of ``cartback.reports``: what ``__all__`` promises, documented."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing

import cartback.reports as reports


def _kind(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_exactly_the_public_namespace_and_sorted() -> None:
    public = {
        name
        for name, value in vars(reports).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(reports.__all__) == public
    assert reports.__all__ == sorted(reports.__all__, key=_kind)


def test_every_public_class_function_and_field_is_documented() -> None:
    missing: list[str] = []
    for name in reports.__all__:
        value = getattr(reports, name)
        if typing.get_origin(value) is not None or not callable(value):
            continue
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        if not (isinstance(doc, str) and doc.strip()):
            missing.append(name)
        fields = getattr(value, "model_fields", None)
        if isinstance(fields, dict):
            missing += [f"{name}.{field}" for field, info in fields.items() if not info.description]
        if dataclasses.is_dataclass(value) and inspect.isclass(value):
            source = inspect.getsource(value)
            for field in dataclasses.fields(value):
                # each field is followed by its one-line docstring
                line = next(line for line in source.splitlines() if
                            line.strip().startswith(f"{field.name}:"))  # fmt: skip
                after = source.split(line, 1)[1].lstrip().splitlines()[0]
                if not after.startswith('"""'):
                    missing.append(f"{name}.{field.name}")
    assert missing == []
