"""The public surface of ``cartback.senders``: what ``__all__`` promises, documented."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing

import cartback.senders as senders


def _kind(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_exactly_the_public_namespace_and_sorted() -> None:
    public = {
        name
        for name, value in vars(senders).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(senders.__all__) == public
    assert senders.__all__ == sorted(senders.__all__, key=_kind)


def _classes() -> list[type]:
    return [value for name in senders.__all__ if inspect.isclass(value := getattr(senders, name))]


def test_every_public_class_function_and_method_is_documented() -> None:
    missing: list[str] = []
    for name in senders.__all__:
        value = getattr(senders, name)
        if typing.get_origin(value) is not None or not callable(value):
            continue
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        if not (isinstance(doc, str) and doc.strip()):
            missing.append(name)
    for cls in _classes():
        for member, attribute in vars(cls).items():
            if member.startswith("_") or not (
                callable(attribute) or isinstance(attribute, property | classmethod)
            ):
                continue
            if not inspect.getdoc(getattr(cls, member)):
                missing.append(f"{cls.__name__}.{member}")
    assert missing == []


def test_every_dataclass_field_has_a_docstring() -> None:
    missing: list[str] = []
    for cls in _classes():
        if not dataclasses.is_dataclass(cls):
            continue
        [node] = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
        assert isinstance(node, ast.ClassDef)
        documented = {
            statement.target.id
            for statement, following in zip(node.body, node.body[1:], strict=False)
            if isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        }
        missing += [
            f"{cls.__name__}.{field.name}"
            for field in dataclasses.fields(cls)
            if field.name not in documented
        ]
    assert missing == []
