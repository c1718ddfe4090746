"""Merging a new capture into a stored cart: newer filled values win, nothing is erased.

A capture merges into the prospect's open (or submitted) cart on the same order form;
without one it opens a new cart. The furthest step reached is kept; the last field
touched follows the latest capture. A capture that changes only those diagnostics
(``DIAGNOSTIC_FIELDS``: focus moving on, a step reached) is stored quietly: it counts as
no new capture, reopens no submitted cart, and the caller emits no ``cart.updated``.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from pydantic import BaseModel

from cartback._models import Cart, CartContext, Contact
from cartback.capture import CapturePlan

_M = TypeVar("_M", bound=BaseModel)

DIAGNOSTIC_FIELDS: Final = frozenset({"last_field", "step"})
"""Context fields that tell where a prospect stopped, not what they entered."""


def _overlay(old: _M, new: _M) -> _M:
    """``old`` with every field that ``new`` has set (non-``None``) taken from ``new``."""
    updates: dict[str, Any] = {}
    for name in type(new).model_fields:
        value = getattr(new, name)
        if value is None or value == getattr(old, name):
            continue
        if isinstance(value, dict):
            merged = {**getattr(old, name), **value}
            if merged != getattr(old, name):
                updates[name] = merged
            continue
        updates[name] = value
    return old.model_copy(update=updates) if updates else old


def _merged_contact(old: Contact, new: Contact) -> Contact:
    merged = _overlay(old, new)
    if new.phone is not None:  # the phone and its verification flag travel together
        merged = merged.model_copy(update={"phone_e164": new.phone_e164})
    return merged


def new_cart(plan: CapturePlan, cart_id: str) -> Cart:
    """The cart a first capture opens."""
    assert plan.contact is not None
    assert plan.context is not None
    return Cart(
        id=cart_id,
        status="open",
        created_at=plan.captured_at,
        updated_at=plan.captured_at,
        contact=plan.contact,
        context=plan.context,
        newsletter_opt_in=plan.newsletter_opt_in,
        session_id=plan.session_id,
    )


def _merged_context(old: CartContext, new: CartContext) -> CartContext:
    merged = _overlay(old, new)
    if old.step is not None and new.step is not None and new.step < old.step:
        merged = merged.model_copy(update={"step": old.step})  # the furthest step reached
    return merged


def merge_into(cart: Cart, plan: CapturePlan) -> Cart | None:
    """The open ``cart`` updated by ``plan``, or ``None`` when nothing would change."""
    assert plan.contact is not None
    assert plan.context is not None
    contact = _merged_contact(cart.contact, plan.contact)
    context = _merged_context(cart.context, plan.context)
    newsletter = (
        plan.newsletter_opt_in if plan.newsletter_opt_in is not None else cart.newsletter_opt_in
    )
    session_id = plan.session_id or cart.session_id
    if (
        contact == cart.contact
        and context == cart.context
        and newsletter == cart.newsletter_opt_in
        and session_id == cart.session_id
    ):
        return None
    if (
        contact == cart.contact
        and newsletter == cart.newsletter_opt_in
        and session_id == cart.session_id
        and _only_diagnostics(cart.context, context)
    ):
        return cart.model_copy(
            update={"context": context, "updated_at": max(plan.captured_at, cart.updated_at)}
        )
    return cart.model_copy(
        update={
            "contact": contact,
            "context": context,
            "newsletter_opt_in": newsletter,
            "session_id": session_id,
            "updated_at": max(plan.captured_at, cart.updated_at),
            "capture_count": cart.capture_count + 1,
            # Typing into the form again after a submit: the prospect is back on it.
            "status": "open",
            "submitted_at": None,
        }
    )


def _only_diagnostics(old: CartContext, new: CartContext) -> bool:
    return all(
        name in DIAGNOSTIC_FIELDS or getattr(old, name) == getattr(new, name)
        for name in type(old).model_fields
    )


def is_diagnostic_update(old: Cart, new: Cart) -> bool:
    """Whether ``new`` differs from ``old`` only in where the prospect stopped."""
    return (
        old.contact == new.contact
        and old.newsletter_opt_in == new.newsletter_opt_in
        and old.status == new.status
        and old.capture_count == new.capture_count
        and _only_diagnostics(old.context, new.context)
    )


def filled_fields(cart: Cart) -> tuple[str, ...]:
    """Names of the contact fields a cart holds (never their values)."""
    held = cart.contact.model_dump(exclude_none=True, exclude=_NOT_NAMES)
    return (*held, *sorted(cart.contact.address_extra))


_NOT_NAMES: Final = {"phone_e164", "address_extra"}


def changed_fields(old: Cart, new: Cart) -> tuple[str, ...]:
    """Names of the contact and context fields that differ between two states of a cart."""
    changed = [
        name
        for name in type(old.contact).model_fields
        if name not in ("phone_e164", "address_extra")
        and getattr(old.contact, name) != getattr(new.contact, name)
    ]
    extra_old, extra_new = old.contact.address_extra, new.contact.address_extra
    changed += sorted(key for key in extra_new if extra_old.get(key) != extra_new[key])
    changed += [
        name
        for name in type(old.context).model_fields
        if getattr(old.context, name) != getattr(new.context, name)
    ]
    if old.newsletter_opt_in != new.newsletter_opt_in:
        changed.append("newsletter_opt_in")
    return tuple(changed)
