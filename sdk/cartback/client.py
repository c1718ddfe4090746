"""``Cartback``: the one object a shop developer constructs and calls."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from cartback._clock import Clock, ensure_utc, system_clock
from cartback._contact_values import normalize_email
from cartback._errors import ConfigurationError, InvalidInputError, SignatureError
from cartback._luhn import contains_card_number
from cartback._models import Cart, ConsentEvent, ConsentSource, DroppedFields
from cartback._submission import Money, Submission, parse_submission
from cartback._types import CHANNELS, Channel, ConsentAction, ConsentSourceKind, ReasonCode
from cartback._writes import append_consent, close_carts, record_click, save_captures
from cartback.capture import CapturePlan, plan_capture
from cartback.consent import DEFAULT_CONSENT, ConsentDecision, decide_consent
from cartback.eligibility import EligibilityPolicy
from cartback.links import UTM_PARAMETERS, LinkClaims, LinkKind, LinkSigner
from cartback.order_form import OrderForm
from cartback.store import CartPage, CartQuery, ErasureReport, OrderClosure, SaveOutcome, Store

__all__ = ["CaptureResult", "CaptureStatus", "Cartback"]

_MAX_UTM_LENGTH = 200
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)
_MAX_DEFAULT_FORMS = 1024

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
        links: LinkSigner | None = None,
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
        self.links = links
        self._default_forms: dict[str, OrderForm] = {}

    def now(self) -> datetime:
        """The injected clock's time, checked to be timezone-aware, in UTC."""
        return ensure_utc(self.clock(), name="clock")

    def form(self, form_id: str) -> OrderForm:
        """The declaration of ``form_id``, or a default one."""
        form = self.forms.get(form_id) or self._default_forms.get(form_id)
        if form is None:
            # Undeclared forms share the default map: build (and cache) it once per id.
            form = OrderForm(form_id=form_id)
            if len(self._default_forms) >= _MAX_DEFAULT_FORMS:
                self._default_forms.clear()
            self._default_forms[form_id] = form
        return form

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
        plan = self.plan(submission, fallback_country=fallback_country)
        if not plan.stored:
            return CaptureResult(
                status="not_stored", reasons=plan.eligibility.reasons, dropped=plan.dropped
            )
        (outcome,) = self.save([plan])
        return CaptureResult(
            status=outcome.status, reasons=(), dropped=plan.dropped, cart=outcome.cart
        )

    def save(self, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
        """Store eligible plans in order, in one transaction (one durable commit).

        Each merges into its prospect's open cart on the same form or opens one; consent
        boxes that change nothing in force are not repeated; a plan whose ``event_id``
        was saved before (a retried request) writes nothing. A later plan sees what the
        earlier ones stored. Raises ``InvalidInputError`` for a plan that is not
        eligible and ``StoreUnavailableError`` when the database cannot be reached
        (nothing is written then).
        """
        if not plans:
            return []
        return self.store.write(lambda tx: save_captures(tx, plans))

    def plan(
        self,
        submission: Submission | Mapping[str, Any],
        *,
        fallback_country: str | None = None,
    ) -> CapturePlan:
        """What ``capture`` would store, without storing it (pure, no I/O).

        A receiver can plan on the request path and hand the plan to a batching
        writer that calls ``Cartback.save``.
        """
        parsed = parse_submission(submission)
        return plan_capture(
            parsed,
            form=self.form(parsed.form_id),
            policy=self.policy,
            now=self.now(),
            fallback_country=fallback_country,
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
            at=self.now(),
            source=ConsentSource(kind=source, ref=ref),
            text_version=text_version,
        )
        self.store.write(lambda tx: append_consent(tx, [event]))
        return event

    def consent(
        self, email: str, channel: Channel, *, at: datetime | None = None
    ) -> ConsentDecision:
        """The ledger's decision for a prospect and channel at ``at`` (default: now)."""
        when = self.now() if at is None else ensure_utc(at, name="at")
        events = self.store.consent_events(_prospect_key(email))
        return decide_consent(events, channel, when, defaults=self.consent_defaults)

    def consents(self, email: str, *, at: datetime | None = None) -> dict[Channel, ConsentDecision]:
        """The ledger's decision on every channel at ``at`` (default: now), from one read.

        ``email`` may also be a prospect key (``Contact.prospect_key``).
        """
        when = self.now() if at is None else ensure_utc(at, name="at")
        events = self.store.consent_events(_prospect_key(email))
        return {
            channel: decide_consent(events, channel, when, defaults=self.consent_defaults)
            for channel in CHANNELS
        }

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
            try:
                amount = _MONEY.validate_python(amount)
            except ValidationError:
                raise InvalidInputError(
                    "revenue must be below 100 million with at most 4 decimals",
                    field="revenue",
                    reason="out_of_range",
                ) from None
        if order_id is not None and (len(order_id) > 128 or contains_card_number(order_id)):
            raise InvalidInputError(
                "order_id is not acceptable", field="order_id", reason="invalid"
            )
        closure = OrderClosure(at=self.now(), order_id=order_id, revenue=amount)
        prospect = None if email is None else _prospect_key(email)
        return self.store.write(
            lambda tx: close_carts(
                tx, closure, prospect=prospect, session_id=session_id, form_id=form_id
            )
        )

    # -- links ---------------------------------------------------------------------

    def _signer(self) -> LinkSigner:
        if self.links is None:
            raise ConfigurationError("Cartback(links=LinkSigner(...)) is not set", setting="links")
        return self.links

    def verify_link(self, token: str, kind: LinkKind) -> LinkClaims:
        """The claims of an authentic, unexpired link token (nothing is recorded)."""
        return self._signer().verify(token, now=self.now(), kind=kind)

    def recovery_token(self, cart_id: str) -> str:
        """A signed, expiring token for a link that reopens the cart's order form."""
        return self._signer().recovery_token(self.store.get_cart(cart_id).id, now=self.now())

    def unsubscribe_token(self, cart_id: str, channel: Channel) -> str:
        """A signed token for a link that withdraws consent on ``channel``."""
        return self._signer().unsubscribe_token(self.store.get_cart(cart_id).id, channel)

    def open_recovery_link(self, token: str, utm: Mapping[str, str] | None = None) -> Cart:
        """Verify a recovery token, record the click with its UTM parameters, return
        the cart (to pre-fill its form). Raises ``SignatureError``,
        ``TokenExpiredError`` or ``CartNotFoundError``."""
        now = self.now()
        claims = self._signer().verify(token, now=now, kind="recover")
        cart = self.store.get_cart(claims.cart_id)
        kept = {
            name: value[:_MAX_UTM_LENGTH]
            for name, value in (utm or {}).items()
            if name in UTM_PARAMETERS and value and not contains_card_number(value)
        }
        self.store.write(lambda tx: record_click(tx, cart.id, now, kept))
        return cart

    def unsubscribe(self, token: str) -> ConsentEvent:
        """Verify an unsubscribe token and withdraw the channel's consent."""
        now = self.now()
        claims = self._signer().verify(token, now=now, kind="unsubscribe")
        cart = self.store.get_cart(claims.cart_id)
        prospect = cart.contact.prospect_key
        if prospect is None or claims.channel is None:
            raise SignatureError("unsubscribe token names no channel")
        event = ConsentEvent(
            prospect=prospect,
            channel=claims.channel,
            action="withdrawn",
            at=now,
            source=ConsentSource(kind="unsubscribe_link", ref=cart.id),
        )
        self.store.write(lambda tx: append_consent(tx, [event]))
        return event

    # -- queries -------------------------------------------------------------------

    def get_cart(self, cart_id: str) -> Cart:
        """One cart; raises ``CartNotFoundError``."""
        return self.store.get_cart(cart_id)

    def list_carts(
        self, query: CartQuery | None = None, *, limit: int = 50, offset: int = 0
    ) -> CartPage:
        """Carts newest first, filtered by ``query``."""
        return self.store.list_carts(query or CartQuery(), limit=limit, offset=offset)

    def iter_carts(self, query: CartQuery | None = None) -> Iterator[Cart]:
        """Every cart matching ``query``, newest first, read in batches (for exports:
        memory stays flat whatever the number of carts)."""
        return self.store.iter_carts(query or CartQuery())

    def count_carts_by(
        self, key: Literal["product_id", "form_id"], query: CartQuery | None = None
    ) -> list[tuple[str | None, int]]:
        """Carts matching ``query`` counted per product or per order form, most first."""
        return self.store.count_carts_by(key, query or CartQuery())

    # -- erasure and retention -----------------------------------------------------

    def erase(self, email: str) -> ErasureReport:
        """Remove everything held about a prospect, outbox payloads included."""
        return self.store.erase_prospect(_prospect_key(email))

    def forget_session(self, session_id: str) -> ErasureReport:
        """Remove what a browser session captured (the snippet's "No thanks")."""
        return self.store.forget_session(session_id)

    def purge_expired(self) -> int:
        """Remove carts idle for longer than ``retention_days``; returns how many."""
        now = self.now()
        return self.store.purge(now - timedelta(days=self.retention_days), now=now)
