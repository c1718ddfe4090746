"""The ``dispatcher`` section of ``CARTBACK_CONFIG``: how many sends share a commit."""

from __future__ import annotations

from typing import Any

import pytest

from cartback import ConfigurationError
from cartback._recovery_config import dispatcher_settings

SHOP = {"shop_name": "S", "sender_name": "C", "sender_email": "c@example.com",
        "postal_address": "1 Main St"}  # fmt: skip


def settings(**sections: Any) -> Any:
    return dispatcher_settings({"shop": SHOP, **sections}, public_url="https://r.example")


def test_send_batch_defaults_to_ten_and_can_be_one() -> None:
    assert settings().send_batch == 10
    assert settings(dispatcher={"send_batch": 1}).send_batch == 1


@pytest.mark.parametrize(
    ("section", "setting"),
    [
        ({"send_batch": 0}, "dispatcher.send_batch"),
        ({"send_batch": "10"}, "dispatcher.send_batch"),
        ({"send_batch": True}, "dispatcher.send_batch"),
        ({"batch": 5}, "dispatcher.batch"),
    ],
)
def test_a_bad_dispatcher_setting_is_named(section: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(dispatcher=section)
    assert caught.value.setting == setting
