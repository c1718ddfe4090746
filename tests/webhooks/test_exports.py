"""The public surfaces of ``cartback.webhooks`` and ``cartback.tickets`` are what their
``__all__`` promise, each name documented."""

from __future__ import annotations

import inspect
import types
import typing

import pytest

import cartback.tickets
import cartback.webhooks

PACKAGES = [cartback.webhooks, cartback.tickets]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_all_is_the_sorted_public_namespace(package: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(package.__all__) == public
    assert list(package.__all__) == sorted(
        package.__all__, key=lambda name: (not name.isupper(), name)
    )


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_every_public_class_function_and_method_has_a_docstring(
    package: types.ModuleType,
) -> None:
    missing: list[str] = []
    for name in package.__all__:
        value = getattr(package, name)
        if typing.get_origin(value) is not None or not callable(value):
            continue
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        if not (doc or "").strip():
            missing.append(name)
        if inspect.isclass(value):
            for member_name, member in vars(value).items():
                if member_name.startswith("_"):
                    continue
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                documentable = inspect.isfunction(member) or isinstance(member, property)
                if documentable and not (member.__doc__ or "").strip():
                    missing.append(f"{name}.{member_name}")
    assert missing == []


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_every_model_field_is_documented(package: types.ModuleType) -> None:
    missing: list[str] = []
    for name in package.__all__:
        value = getattr(package, name)
        fields = getattr(value, "model_fields", None)
        if inspect.isclass(value) and fields:
            missing += [f"{name}.{field}" for field, info in fields.items() if not info.description]
    assert missing == []
