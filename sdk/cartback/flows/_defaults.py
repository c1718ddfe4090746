"""The shipped flows and the template ids they use.

- ``conversational_flow()``: reference 001, one conversational email three hours after
  the abandonment (first person, a troubleshooting list, "just reply to this email").
- ``multichannel_flow()``: reference 002, seven days over email, Instagram, Messenger and
  SMS; high-value carts get the SMS offer and the day-7 Instagram message.
- ``push_flow()``: reference 003, a split on push consent after the first delay, the
  coupon by SMS or email two days later, push reminders every other day while the
  coupon is valid.

The builders in ``cartback.messages`` provide one template per id in
``SHIPPED_TEMPLATES``; docs/flows.md describes each.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from cartback.flows._definitions import Flow
from cartback.flows._durations import format_duration
from cartback.flows._validation import load_flow

__all__ = [
    "SHIPPED_TEMPLATES",
    "conversational_flow",
    "multichannel_flow",
    "push_flow",
    "shipped_flows",
]

SHIPPED_TEMPLATES: Final = frozenset(
    {
        "conversational",
        "reminder",
        "social_proof",
        "discount",
        "incentive",
        "sms_offer",
        "push_reminder",
        "push_coupon",
        "messenger_reminder",
        "instagram_message",
        "instagram_audience",
    }
)
"""The template ids the shipped flows use; the message builders define one of each."""


def _wait(step_id: str, duration: str, next_: str) -> dict[str, Any]:
    return {"type": "wait", "id": step_id, "duration": duration, "next": next_}


def _send(step_id: str, channel: str, template: str, next_: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "send",
        "id": step_id,
        "channel": channel,
        "template": template,
        "next": next_,
        **extra,
    }


def _split(step_id: str, when: dict[str, Any], yes: str, no: str) -> dict[str, Any]:
    return {
        "type": "split",
        "id": step_id,
        "branches": [{"when": when, "next": yes}],
        "otherwise": no,
    }


def conversational_flow() -> Flow:
    """Reference 001: one email, ``conversational``, three hours after the abandonment."""
    return load_flow(
        {
            "id": "conversational",
            "version": 1,
            "name": "Conversational email",
            "description": "One personal email three hours after the abandonment.",
            "steps": [
                _wait("wait_3h", "3h", "email"),
                _send("email", "email", "conversational", "end"),
                {"type": "exit", "id": "end"},
            ],
        },
        templates=SHIPPED_TEMPLATES,
    )


def multichannel_flow(*, high_value: Decimal = Decimal("100")) -> Flow:
    """Reference 002: seven days, four channels. ``high_value`` is the cart value (in the
    cart's currency) from which a cart gets the day-2 SMS offer and the day-7 Instagram
    message whether or not the prospect is otherwise highly engaged."""
    valuable = {"type": "cart_value", "at_least": str(high_value)}
    engaged = {
        "type": "any",
        "conditions": [
            {"type": "activity", "kind": "site_activity", "at_least": 3, "within": "14d"},
            {"type": "activity", "kind": "app_activity", "at_least": 3, "within": "14d"},
        ],
    }
    return load_flow(
        {
            "id": "multichannel",
            "version": 1,
            "name": "Seven-day multichannel",
            "description": "Email, Instagram, Messenger and SMS over seven days.",
            "steps": [
                _wait("hour_1", "1h", "email_1"),
                _send("email_1", "email", "reminder", "hour_6"),
                _wait("hour_6", "5h", "instagram_story"),
                _send("instagram_story", "instagram", "instagram_audience", "day_1"),
                _wait("day_1", "18h", "messenger"),
                _send("messenger", "messenger", "messenger_reminder", "day_2"),
                _wait("day_2", "1d", "sms_for_high_value"),
                _split(
                    "sms_for_high_value",
                    {
                        "type": "all",
                        "conditions": [valuable, {"type": "can_receive", "channel": "sms"}],
                    },
                    "sms_offer",
                    "day_3",
                ),
                _send(
                    "sms_offer",
                    "sms",
                    "sms_offer",
                    "day_3",
                    coupon={"type": "dynamic", "id": "sms_offer", "valid_for": "3d"},
                ),
                _wait("day_3", "1d", "email_social_proof"),
                _send("email_social_proof", "email", "social_proof", "day_5"),
                _wait("day_5", "2d", "email_discount"),
                _send(
                    "email_discount",
                    "email",
                    "discount",
                    "day_7",
                    coupon={"type": "dynamic", "id": "discount", "valid_for": "7d"},
                ),
                _wait("day_7", "2d", "engaged_or_high_value"),
                _split(
                    "engaged_or_high_value",
                    {"type": "any", "conditions": [engaged, valuable]},
                    "instagram_message",
                    "end",
                ),
                _send("instagram_message", "instagram", "instagram_message", "end"),
                {"type": "exit", "id": "end"},
            ],
        },
        templates=SHIPPED_TEMPLATES,
    )


def push_flow(*, coupon_valid_for: timedelta = timedelta(days=7)) -> Flow:
    """Reference 003: after the first hour, push for subscribers (consent and a device),
    email otherwise; two days later the coupon by SMS (with SMS consent) or email; then
    a push reminder every other day while the coupon is valid (four at most)."""
    has_push = {"type": "can_receive", "channel": "push"}
    coupon = {"type": "dynamic", "id": "incentive", "valid_for": format_duration(coupon_valid_for)}
    reminders: list[dict[str, Any]] = []
    for number in range(1, 5):
        after = f"remind_{number + 1}" if number < 4 else "end"
        reminders += [
            _wait(f"remind_{number}", "2d", f"coupon_valid_{number}"),
            _split(
                f"coupon_valid_{number}",
                {
                    "type": "all",
                    "conditions": [{"type": "coupon_active", "coupon": "incentive"}, has_push],
                },
                f"push_coupon_{number}",
                "end",
            ),
            _send(f"push_coupon_{number}", "push", "push_coupon", after),
        ]
    return load_flow(
        {
            "id": "push",
            "version": 1,
            "name": "Push, then the coupon",
            "description": (
                "Push for subscribers, email otherwise; the coupon by SMS or email;"
                " push reminders until it expires."
            ),
            "steps": [
                _wait("first_delay", "1h", "push_subscriber"),
                _split("push_subscriber", has_push, "push_reminder", "email_reminder"),
                _send("push_reminder", "push", "push_reminder", "coupon_delay"),
                _send("email_reminder", "email", "reminder", "coupon_delay"),
                _wait("coupon_delay", "2d", "coupon_channel"),
                _split(
                    "coupon_channel",
                    {"type": "can_receive", "channel": "sms"},
                    "coupon_sms",
                    "coupon_email",
                ),
                _send("coupon_sms", "sms", "sms_offer", "remind_1", coupon=coupon),
                _send("coupon_email", "email", "incentive", "remind_1", coupon=coupon),
                *reminders,
                {"type": "exit", "id": "end"},
            ],
        },
        templates=SHIPPED_TEMPLATES,
    )


def shipped_flows() -> tuple[Flow, ...]:
    """The three shipped flows with their default settings."""
    return (conversational_flow(), multichannel_flow(), push_flow())
