"""``Cartback``: the one object a shop developer constructs and calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cartback._clock import Clock, ensure_utc, system_clock
from cartback._contact_values import normalize_email
from cartback._errors import ConfigurationError, InvalidInputError
from cartback._luhn import contains_card_number
from cartback._models import Cart, ConsentEvent, ConsentSource, DroppedFields
from cartback._submission import Submission, parse_submission
from cartback._types import Channel, ConsentAction, ConsentSourceKind, ReasonCode
from cartback.capture import plan_capture
from cartback.consent import DEFAULT_CONSENT, ConsentDecision, decide_consent
from cartback.eligibility import EligibilityPolicy
from cartback.order_form import OrderForm
from cartback.store import CartPage, CartQuery, ErasureReport, OrderClosure, Store

__all__ = ["CaptureResult", "CaptureStatus", "Cartback"]

CaptureStatus = Literal["stored", "updated", "unchanged", "not_stored"]
"""What a capture did: opened a cart, changed one, repeated one, or stored nothing."""


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """The answer to one capture: safe to return to the page (no personal data)."""

    status: CaptureStatus
    """``stored``, ``updated``, ``unchanged`` or ``not_stored``."""
    reasons: tuple[ReasonCode, ...]
    """Why nothing was stored (empty otherwise)."""
    dropped: DroppedFields
    """Fields not kept, by reason."""
    cart: Cart | None = None
    """The cart as stored, when something was stored."""

    @property
    def stored(self) -> bool:
        """Whether the prospect now has a stored cart."""
        return self.cart is not None


def _prospect_key(email_or_key: str) -> str:
    text = email_or_key.strip()
    if text.startswith("tel:"):
        return text
    normalized = normalize_email(text)
    if normalized is None:
        raise InvalidInputError("not a valid email address", field="email", reason="email_invalid")
    return normalized.lower()


class Cartback:
    """Capture abandoned carts, record consent, close carts on orders, erase on request.

    Construct once and share: every dependency comes in here. ``forms`` declares your
    order forms by id; a form id without a declaration uses the default field map.
    """

    def __init__(
        self,
        store: Store,
        *,
        policy: EligibilityPolicy | None = None,
        forms: Mapping[str, OrderForm] | None = None,
        clock: Clock = system_clock,
        retention_days: int = 90,
        consent_defaults: Mapping[Channel, bool] = DEFAULT_CONSENT,
    ) -> None:
        if retention_days < 1:
            raise ConfigurationError("retention_days must be at least 1", setting="retention_days")
        for form_id, form in (forms or {}).items():
            if form.form_id != form_id:
                raise ConfigurationError(
                    f"forms[{form_id!r}] declares form_id {form.form_id!r}", setting="forms"
                )
        self.store = store
        self.policy = policy or EligibilityPolicy()
        self.forms: Mapping[str, OrderForm] = dict(forms or {})
        self.clock = clock
        self.retention_days = retention_days
        self.consent_defaults = consent_defaults

    def _now(self) -> datetime:
        return ensure_utc(self.clock(), name="clock")

    def form(self, form_id: str) -> OrderForm:
        """The declaration of ``form_id``, or a default one."""
        return self.forms.get(form_id) or OrderForm(form_id=form_id)

    # -- capture -------------------------------------------------------------------

    def capture(
        self,
        submission: Submission | Mapping[str, Any],
        *,
        fallback_country: str | None = None,
    ) -> CaptureResult:
        """Check and store one order-form submission.

        Raises ``InvalidInputError`` for malformed input (nothing is written). An
        ineligible prospect (e.g. in the EU) is written nowhere and reported with
        reason codes.
        """
        parsed = parse_submission(submission)
        plan = plan_capture(
            parsed,
            form=self.form(parsed.form_id),
            policy=self.policy,
            now=self._now(),
            fallback_country=fallback_country,
        )
        if not plan.stored:
            return CaptureResult(
                status="not_stored", reasons=plan.eligibility.reasons, dropped=plan.dropped
            )
        outcome = self.store.save_capture(plan)
        return CaptureResult(
            status=outcome.status, reasons=(), dropped=plan.dropped, cart=outcome.cart
        )

    # -- consent -------------------------------------------------------------------

    def record_consent(
        self,
        email: str,
        channel: Channel,
        action: ConsentAction,
        *,
        source: ConsentSourceKind = "api",
        ref: str | None = None,
        text_version: str | None = None,
    ) -> ConsentEvent:
        """Append a grant or withdrawal to the ledger and return it."""
        for name, value in (("ref", ref), ("text_version", text_version)):
            if value is not None and (len(value) > 128 or contains_card_number(value)):
                raise InvalidInputError(f"{name} is not acceptable", field=name, reason="invalid")
        event = ConsentEvent(
            prospect=_prospect_key(email),
            channel=channel,
            action=action,
            at=self._now(),
            source=ConsentSource(kind=source, ref=ref),
            text_version=text_version,
        )
        self.store.append_consent([event])
        return event

    def consent(
        self, email: str, channel: Channel, *, at: datetime | None = None
    ) -> ConsentDecision:
        """The ledger's decision for a prospect and channel at ``at`` (default: now)."""
        when = self._now() if at is None else ensure_utc(at, name="at")
        events = self.store.consent_events(_prospect_key(email))
        return decide_consent(events, channel, when, defaults=self.consent_defaults)

    def may_contact(self, email: str, channel: Channel, *, at: datetime | None = None) -> bool:
        """Whether the prospect may be reached on ``channel`` at ``at`` (default: now)."""
        return self.consent(email, channel, at=at).allowed

    # -- orders --------------------------------------------------------------------

    def mark_ordered(
        self,
        *,
        email: str | None = None,
        session_id: str | None = None,
        form_id: str | None = None,
        order_id: str | None = None,
        revenue: Decimal | str | int | None = None,
    ) -> list[Cart]:
        """Close the prospect's (or browser session's) open carts with the order.

        Returns the closed carts; an empty list when none was open.
        """
        if email is None and session_id is None:
            raise InvalidInputError("give email or session_id", field="email", reason="missing")
        amount: Decimal | None = None
        if revenue is not None:
            try:
                amount = Decimal(str(revenue))
            except InvalidOperation:
                raise InvalidInputError(
                    "revenue must be a number", field="revenue", reason="not_a_number"
                ) from None
            if not amount.is_finite() or amount < 0:
                raise InvalidInputError(
                    "revenue must be a finite, non-negative number",
                    field="revenue",
                    reason="out_of_range",
                )
        if order_id is not None and (len(order_id) > 128 or contains_card_number(order_id)):
            raise InvalidInputError(
                "order_id is not acceptable", field="order_id", reason="invalid"
            )
        return self.store.close_open_carts(
            OrderClosure(at=self._now(), order_id=order_id, revenue=amount),
            prospect=None if email is None else _prospect_key(email),
            session_id=session_id,
            form_id=form_id,
        )

    # -- queries -------------------------------------------------------------------

    def get_cart(self, cart_id: str) -> Cart:
        """One cart; raises ``CartNotFoundError``."""
        return self.store.get_cart(cart_id)

    def list_carts(
        self, query: CartQuery | None = None, *, limit: int = 50, offset: int = 0
    ) -> CartPage:
        """Carts newest first, filtered by ``query``."""
        return self.store.list_carts(query or CartQuery(), limit=limit, offset=offset)

    # -- erasure and retention -----------------------------------------------------

    def erase(self, email: str) -> ErasureReport:
        """Remove everything held about a prospect, outbox payloads included."""
        return self.store.erase_prospect(_prospect_key(email))

    def forget_session(self, session_id: str) -> ErasureReport:
        """Remove what a browser session captured (the snippet's "No thanks")."""
        return self.store.forget_session(session_id)

    def purge_expired(self) -> int:
        """Remove carts idle for longer than ``retention_days``; returns how many."""
        return self.store.purge(self._now() - timedelta(days=self.retention_days))
