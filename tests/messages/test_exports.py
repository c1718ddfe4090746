"""The public surface of ``cartback.messages``: what ``__all__`` promises is what you get."""

from __future__ import annotations

import inspect
import types
import typing

import pytest

import cartback.messages as messages
from cartback import ConfigurationError
from cartback.messages import build_email
from tests.messages.fixtures import ALL_CONSENT, CARTS, SHOP, SIGNER, request


def test_all_is_exactly_the_public_namespace() -> None:  # ruff (RUF022) keeps it sorted
    public = {
        name
        for name, value in vars(messages).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(messages.__all__) == public
    assert len(messages.__all__) == len(set(messages.__all__))


def test_every_public_class_and_function_has_a_docstring() -> None:
    missing = []
    for name in messages.__all__:
        value = getattr(messages, name)
        if typing.get_origin(value) is not None or not callable(value):
            continue
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        if not (isinstance(doc, str) and doc.strip()):
            missing.append(name)
    assert missing == []


def test_an_unknown_template_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as error:
        build_email(request(CARTS["named"], template="nope"), shop=SHOP, signer=SIGNER,
                    consent=ALL_CONSENT)  # fmt: skip
    assert error.value.setting == "templates"
