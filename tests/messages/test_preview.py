"""The dashboard's preview: what each channel would send for one cart, or why not."""

from __future__ import annotations

from cartback.messages import RecoveryEmail, SmsMessage, preview
from tests.messages.fixtures import ALL_CONSENT, AT, CARTS, SHOP, SIGNER, devices, recipient

JANE = "jane@example.com"


def test_every_channel_in_order_with_what_it_would_send() -> None:
    shown = preview(CARTS["named"], shop=SHOP, signer=SIGNER, at=AT, consent=ALL_CONSENT,
                    devices=devices(JANE), recipients=[recipient(JANE)])  # fmt: skip
    assert [p.channel for p in shown] == ["email", "sms", "push", "messenger", "instagram"]
    email, sms, push, messenger, instagram = shown
    assert isinstance(email.message, RecoveryEmail)
    assert email.title == "You had started your order…"
    assert email.text is not None
    assert email.text.startswith("Hello Jane,")
    assert email.html is not None
    assert "<ol>" in email.html
    assert isinstance(sms.message, SmsMessage)
    assert sms.text == sms.message.text
    assert push.title == "Your order is saved"
    assert isinstance(push.message, tuple)
    assert len(push.message) == 3
    assert messenger.text is not None
    assert messenger.text.startswith("Hi Jane, it's Anna Martin")
    assert (instagram.message, instagram.refusal) == (None, "no_recipient")


def test_refused_channels_say_why_and_nothing_is_built() -> None:
    shown = preview(CARTS["unnamed"], shop=SHOP, signer=SIGNER, at=AT,
                    consent={"email": True})  # fmt: skip
    reasons = {p.channel: p.refusal for p in shown}
    assert reasons == {
        "email": None,
        "sms": "no_consent",
        "push": "no_consent",
        "messenger": "no_consent",
        "instagram": "no_consent",
    }
    assert all(p.message is None for p in shown if p.refusal)
