"""The public surface of ``cartback``: what ``__all__`` promises is what you get."""

from __future__ import annotations

import inspect
import types
import typing

import cartback


def _public_names() -> set[str]:
    return {
        name
        for name, value in vars(cartback).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def _is_type_alias(value: object) -> bool:
    """``Literal[...]``/``Callable[...]`` aliases: no runtime docstring is possible."""
    return typing.get_origin(value) is not None


LAZY = {"PostgresStore"}  # resolved on first use: psycopg is needed only with PostgreSQL


def test_all_is_exactly_the_public_namespace() -> None:
    declared = {name for name in cartback.__all__ if not name.startswith("__")}
    assert declared - LAZY == _public_names() - LAZY
    assert all(getattr(cartback, name) for name in LAZY)


def test_all_has_no_duplicates() -> None:
    assert len(cartback.__all__) == len(set(cartback.__all__))


def test_every_name_in_all_resolves() -> None:
    for name in cartback.__all__:
        assert hasattr(cartback, name), name


def test_version_is_exported() -> None:
    assert "__version__" in cartback.__all__
    assert isinstance(cartback.__version__, str)
    assert cartback.__version__


def test_every_public_class_and_function_has_a_docstring() -> None:
    missing: list[str] = []
    for name in cartback.__all__:
        value = getattr(cartback, name)
        if _is_type_alias(value) or not callable(value):
            continue
        if inspect.isclass(value):
            doc = value.__dict__.get("__doc__")
        else:
            doc = getattr(value, "__doc__", None)
        if not (isinstance(doc, str) and doc.strip()):
            missing.append(name)
    assert missing == []


def test_public_methods_and_properties_of_exported_classes_have_docstrings() -> None:
    missing: list[str] = []
    for name in cartback.__all__:
        value = getattr(cartback, name)
        if not inspect.isclass(value):
            continue
        for member_name, member in vars(value).items():
            if member_name.startswith("_"):
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            documentable = inspect.isfunction(member) or isinstance(member, property)
            if documentable and not (member.__doc__ or "").strip():
                missing.append(f"{name}.{member_name}")
    assert missing == []


def test_package_has_a_module_docstring() -> None:
    assert (cartback.__doc__ or "").strip()
