"""``Cartback``: the one object a shop developer constructs and calls."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import TypeAdapter, ValidationError

from cartback._clock import Clock, ensure_utc, system_clock
from cartback._contact_values import normalize_email, normalize_phone
from cartback._engagement_writes import record_engagement, reply_engaged, unsubscribe_engaged
from cartback._errors import (
    ConfigurationError,
    InvalidInputError,
    MessageNotFoundError,
    SignatureError,
)
from cartback._ids import new_id
from cartback._insights import (
    Headline,
    Insights,
    as_segment,
    build_headline,
    build_insights,
    read_segment,
    segment_batches,
)
from cartback._jurisdictions import DEFAULT_JURISDICTIONS, JurisdictionTable, default_consent
from cartback._luhn import contains_card_number
from cartback._models import (
    Activity,
    ActivityKind,
    Cart,
    ConsentEvent,
    ConsentSource,
    DroppedFields,
    MessageRecord,
    PushDevice,
    Reply,
    SocialRecipient,
)
from cartback._submission import CONTROL_CHARACTERS, Money, Submission, parse_submission
from cartback._types import (
    CHANNELS,
    Channel,
    ConsentAction,
    ConsentSourceKind,
    DevicePlatform,
    MessageChannel,
    PaymentFailureReason,
    ReasonCode,
    SocialPlatform,
)
from cartback._writes import (
    append_consent,
    close_carts,
    invalidate_devices,
    mark_submitted,
    record_click,
    record_payment_failure,
    register_device,
    register_social,
    reopen_stale_submissions,
    save_captures,
)
from cartback.capture import CapturePlan, plan_capture
from cartback.consent import ConsentDecision, decide_consent
from cartback.eligibility import EligibilityPolicy
from cartback.flows._facts import track
from cartback.links import UTM_PARAMETERS, LinkClaims, LinkKind, LinkSigner
from cartback.messages._sms import is_opt_out
from cartback.order_form import OrderForm
from cartback.reports import (
    DEFAULT_SETTINGS,
    BucketSize,
    ReportSettings,
    Segment,
    SegmentContext,
    TimeZoneLike,
    parse_segment,
    segment_json,
)
from cartback.reports._engagement import Engagement, EngagementKind
from cartback.store import (
    CartPage,
    CartQuery,
    Changes,
    Delivery,
    ErasureReport,
    OrderClosure,
    ReadTransaction,
    SaveOutcome,
    Scheduled,
    Store,
    TicketQuery,
)
from cartback.tickets import (
    Ticket,
    TicketResolution,
    add_note,
    assign_ticket,
    close_ticket,
    reopen_ticket,
    unassign_ticket,
)
from cartback.tickets._ticket import TicketNotFoundError

if TYPE_CHECKING:  # cartback.webhooks needs httpx (the server extra): imported when used
    from cartback.webhooks import DisabledReason, WebhookEndpoint
    from cartback.webhooks._registry import EndpointView

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


_IDENTIFIER: Final = re.compile(r"[!-~]+")  # printable ASCII, no space
_INSTANT: Final = timedelta(microseconds=1)
_SEGMENT_NAME: Final = re.compile(r"[A-Za-z0-9_ -]{1,80}")


def _check_identifier(name: str, value: str, longest: int) -> None:
    if not 1 <= len(value) <= longest or not _IDENTIFIER.fullmatch(value):
        raise InvalidInputError(
            f"{name} must be 1-{longest} printable ASCII characters", field=name, reason="invalid"
        )


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
    ``consent_defaults`` says what a channel with no consent event defaults to: by the
    prospect's jurisdiction (``DEFAULT_JURISDICTIONS``, or your own table), or one flat
    mapping for everyone. A cart the browser saw submitted waits ``submitted_ttl`` for
    the shop's confirmation before it counts as abandoned again.
    """

    def __init__(
        self,
        store: Store,
        *,
        policy: EligibilityPolicy | None = None,
        forms: Mapping[str, OrderForm] | None = None,
        clock: Clock = system_clock,
        retention_days: int = 90,
        consent_defaults: JurisdictionTable | Mapping[Channel, bool] = DEFAULT_JURISDICTIONS,
        links: LinkSigner | None = None,
        submitted_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        if retention_days < 1:
            raise ConfigurationError("retention_days must be at least 1", setting="retention_days")
        if submitted_ttl <= timedelta(0):
            raise ConfigurationError("submitted_ttl must be positive", setting="submitted_ttl")
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
        self.submitted_ttl = submitted_ttl
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
            self.forget_refused(plan)
            return CaptureResult(
                status="not_stored", reasons=plan.eligibility.reasons, dropped=plan.dropped
            )
        (outcome,) = self.save([plan])
        return CaptureResult(
            status=outcome.status, reasons=(), dropped=plan.dropped, cart=outcome.cart
        )

    def forget_refused(self, plan: CapturePlan) -> ErasureReport | None:
        """After a capture refused because the prospect is in an excluded country (the
        EU), erase what the same browser session stored earlier: a page may preselect a
        country the prospect changes only later, and an EU prospect is kept nowhere.
        ``None`` for any other plan; an empty report when the session held nothing."""
        session_id = plan.session_id
        if plan.stored or not session_id or "country_excluded" not in plan.eligibility.reasons:
            return None
        return self.store.forget_session(session_id)

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

    def _defaults(self, cart: Cart | None, at: datetime) -> Mapping[Channel, bool]:
        """What each channel defaults to with no event: by the prospect's jurisdiction
        (the cart's country; its creation is the inquiry), or the flat mapping given."""
        table = self.consent_defaults
        if not isinstance(table, JurisdictionTable):
            return table
        country = cart.contact.country if cart is not None else None
        inquiry = cart.created_at if cart is not None else None
        return {
            channel: default_consent(country, channel, inquiry_at=inquiry, at=at, table=table)
            for channel in CHANNELS
        }

    def _latest_cart(self, prospect: str) -> Cart | None:
        page = self.store.list_carts(CartQuery(email=prospect), limit=1)
        return page.items[0] if page.items else None

    def consent(
        self, email: str, channel: Channel, *, at: datetime | None = None
    ) -> ConsentDecision:
        """The ledger's decision for a prospect and channel at ``at`` (default: now).

        Without an event on the channel, the default of the prospect's jurisdiction
        applies (their latest cart's country, ``consent_defaults``).
        """
        return self.consents(email, at=at)[channel]

    def consents(self, email: str, *, at: datetime | None = None) -> dict[Channel, ConsentDecision]:
        """The ledger's decision on every channel at ``at`` (default: now).

        ``email`` may also be a prospect key (``Contact.prospect_key``).
        """
        prospect = _prospect_key(email)
        return self._decide(prospect, self._latest_cart(prospect), at)

    def consents_for(
        self,
        cart: Cart,
        *,
        at: datetime | None = None,
        events: Sequence[ConsentEvent] | None = None,
    ) -> dict[Channel, ConsentDecision]:
        """The decision on every channel for the prospect of ``cart``, whose country and
        creation decide the defaults (what a recovery message about it may use).
        ``events``: the prospect's ledger when already read (else it is read now)."""
        prospect = cart.contact.prospect_key
        if prospect is None:
            raise InvalidInputError("the cart has no prospect", field="cart", reason="invalid")
        return self._decide(prospect, cart, at, events)

    def _decide(
        self,
        prospect: str,
        cart: Cart | None,
        at: datetime | None,
        events: Sequence[ConsentEvent] | None = None,
    ) -> dict[Channel, ConsentDecision]:
        when = self.now() if at is None else ensure_utc(at, name="at")
        if events is None:
            events = self.store.consent_events(prospect)
        defaults = self._defaults(cart, when)
        return {
            channel: decide_consent(events, channel, when, defaults=defaults)
            for channel in CHANNELS
        }

    def may_contact(self, email: str, channel: Channel, *, at: datetime | None = None) -> bool:
        """Whether the prospect may be reached on ``channel`` at ``at`` (default: now)."""
        return self.consent(email, channel, at=at).allowed

    # -- recipients: push devices, Messenger and Instagram ---------------------------

    def register_device(
        self, email: str, platform: DevicePlatform, token: str, app_id: str
    ) -> PushDevice:
        """Register an app's (or browser's) push token for a prospect. The operating
        system's opt-in that produced the token is recorded as a push grant. Call it from
        your backend (or the receiver's signed endpoint): whoever registers a token for
        an email will receive that prospect's pushes."""
        _check_identifier("token", token, 4096)
        _check_identifier("app_id", app_id, 255)
        if contains_card_number(token):
            raise InvalidInputError("token is not acceptable", field="token", reason="invalid")
        device = PushDevice(
            prospect=_prospect_key(email),
            platform=platform,
            token=token,
            app_id=app_id,
            registered_at=self.now(),
        )
        return self.store.write(lambda tx: register_device(tx, device))

    def invalidate_device(self, platform: DevicePlatform, token: str) -> bool:
        """Mark a device token unusable (the provider answered "unregistered"); it is
        never used again. Whether it was registered and active."""
        now = self.now()
        return bool(self.store.write(lambda tx: invalidate_devices(tx, [(platform, token)], now)))

    def devices(self, email: str) -> list[PushDevice]:
        """A prospect's push devices (invalidated ones included: check ``active``)."""
        return self.store.devices(_prospect_key(email))

    def register_social_recipient(
        self,
        email: str,
        platform: SocialPlatform,
        *,
        page_id: str,
        recipient_id: str,
        text_version: str | None = None,
    ) -> SocialRecipient:
        """Register the page-scoped Messenger or Instagram id of a prospect, obtained
        through the platform's opt-in, and record that opt-in as a grant on the channel.

        Page-scoped ids are the platform's own numbers, stored as given (they are not
        checked for card numbers: a 16-digit PSID is not a card)."""
        _check_identifier("page_id", page_id, 64)
        _check_identifier("recipient_id", recipient_id, 64)
        recipient = SocialRecipient(
            prospect=_prospect_key(email),
            platform=platform,
            page_id=page_id,
            recipient_id=recipient_id,
            opted_in_at=self.now(),
        )
        return self.store.write(
            lambda tx: register_social(tx, recipient, text_version=text_version)
        )

    def social_recipients(self, email: str) -> list[SocialRecipient]:
        """A prospect's Messenger and Instagram recipients."""
        return self.store.social_recipients(_prospect_key(email))

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

    def record_payment_failure(
        self,
        reason: PaymentFailureReason,
        *,
        email: str | None = None,
        session_id: str | None = None,
        form_id: str | None = None,
    ) -> list[Cart]:
        """The order platform reported a failed payment attempt: the prospect's (or
        browser session's) open carts keep the reason and stay open, so recovery can
        start (the conversational email puts the matching advice first)."""
        if email is None and session_id is None:
            raise InvalidInputError("give email or session_id", field="email", reason="missing")
        now = self.now()
        prospect = None if email is None else _prospect_key(email)
        return self.store.write(
            lambda tx: record_payment_failure(
                tx, reason, now, prospect=prospect, session_id=session_id, form_id=form_id
            )
        )

    def mark_submitted(self, session_id: str, *, form_id: str | None = None) -> list[Cart]:
        """The browser saw the order form submitted (the snippet's ``complete``): the
        session's open carts wait for the shop's confirmation (``mark_ordered``) or a
        failed payment; ``reopen_stale_submissions`` opens them again after
        ``submitted_ttl`` without either."""
        now = self.now()
        return self.store.write(
            lambda tx: mark_submitted(tx, now, session_id=session_id, form_id=form_id)
        )

    def reopen_stale_submissions(self) -> int:
        """Open again the carts submitted longer than ``submitted_ttl`` ago and neither
        confirmed nor failed; returns how many (run it every minute or so)."""
        now = self.now()
        total = 0
        while True:
            reopened = self.store.write(
                lambda tx: reopen_stale_submissions(tx, now - self.submitted_ttl, now)
            )
            total += len(reopened)
            if len(reopened) < 500:
                return total

    # -- what the flows read: activity, replies, history ------------------------------

    def track(
        self,
        email: str,
        kind: ActivityKind,
        *,
        name: str | None = None,
        value: Decimal | int | str | None = None,
    ) -> Activity:
        """Record what a prospect did (site or app activity, a custom engagement metric
        such as ``profile_completed``, a purchase): consent-neutral facts that flow
        splits read, erased with the prospect."""
        activity = track(_prospect_key(email), kind, at=self.now(), name=name, value=value)
        self.store.write(lambda tx: tx.apply(Changes(activities=(activity,))))
        return activity

    def record_reply(
        self,
        email: str,
        channel: MessageChannel,
        text: str,
        *,
        cart_id: str | None = None,
        message_id: str | None = None,
    ) -> Reply:
        """A prospect answered a recovery message: the reply is kept for staff and the
        prospect's flows pause (a person is talking to them now)."""
        cleaned = " ".join(text.split())[:4000] if text else ""
        if CONTROL_CHARACTERS.search(cleaned) or contains_card_number(cleaned):
            cleaned = "[removed: the reply held a card number]" if cleaned else ""
        reply = Reply(
            id=new_id("rpl_"),
            prospect=_prospect_key(email),
            channel=channel,
            at=self.now(),
            text=cleaned,
            cart_id=cart_id,
            message_id=message_id,
        )

        def work(tx: ReadTransaction) -> None:
            engagement = reply_engaged(tx, reply)
            found = () if engagement is None else (engagement,)
            tx.apply(Changes(replies=(reply,), engagements=found))

        self.store.write(work)
        return reply

    def record_sms_reply(self, phone: str, text: str) -> Reply | ConsentEvent | None:
        """An SMS came back from ``phone``. A carrier opt-out word (STOP, END, CANCEL,
        UNSUBSCRIBE, QUIT) withdraws the prospect's SMS consent; anything else is a reply
        that pauses their flows. ``None`` when no prospect was texted at that number."""
        number = normalize_phone(phone, None)[0] if phone else ""
        prospect = self.store.prospect_by_phone(number) if number else None
        if prospect is None:
            return None
        if is_opt_out(text):
            event = ConsentEvent(
                prospect=prospect,
                channel="sms",
                action="withdrawn",
                at=self.now(),
                source=ConsentSource(kind="reply", ref="sms"),
            )
            self.store.write(lambda tx: self._withdraw(tx, event, carts=None))
            return event
        return self.record_reply(prospect, "sms", text)

    def replies(self, email: str | None = None, *, limit: int = 100) -> list[Reply]:
        """A prospect's replies, or everyone's latest, newest first (for staff)."""
        prospect = None if email is None else _prospect_key(email)
        return self.store.replies(prospect=prospect, limit=limit)

    def messages(self, cart_id: str) -> list[MessageRecord]:
        """Every recovery message planned for a cart: sent, skipped, deferred or failed,
        with why, oldest first."""
        return self.store.messages(cart_id=cart_id)

    def resume_flow(self, cart_id: str) -> bool:
        """Staff resume a flow a reply paused: earlier replies no longer pause it, and it
        is planned again at once. Whether the cart had a paused enrolment."""
        scheduled = self.store.enrolment(cart_id)
        if scheduled is None or scheduled.enrolment.finished:
            return False
        now = self.now()
        resumed = Scheduled(scheduled.enrolment.resume(now), now)
        self.store.write(lambda tx: tx.apply(Changes(enrolments=(resumed,))))
        return True

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
        self.store.write(
            lambda tx: self._withdraw(tx, event, carts=[cart.id], message_id=claims.message_id)
        )
        return event

    @staticmethod
    def _withdraw(
        tx: ReadTransaction,
        event: ConsentEvent,
        *,
        carts: list[str] | None,
        message_id: str | None = None,
    ) -> None:
        """Append a withdrawal and count it against the message it came through."""
        append_consent(tx, [event])
        if carts is None:
            carts = [cart.id for cart in tx.carts_of([event.prospect]).get(event.prospect, [])]
        engagement = unsubscribe_engaged(tx, carts, event.channel, event.at, message_id=message_id)
        if engagement is not None:
            tx.apply(Changes(engagements=(engagement,)))

    def record_open(self, token: str) -> Engagement | None:
        """An email's tracking image was loaded: record the open of the message its
        token names. ``None`` when the message is gone (erased); raises
        ``SignatureError`` for a token that is not an authentic open token."""
        now = self.now()
        claims = self._signer().verify(token, now=now, kind="open")
        if claims.message_id is None:
            raise SignatureError("open token names no message")
        message_id = claims.message_id
        try:
            return self.store.write(lambda tx: record_engagement(tx, message_id, "opened", now))
        except (MessageNotFoundError, InvalidInputError):
            return None

    def record_engagement(
        self, message_id: str, kind: EngagementKind, *, at: datetime | None = None
    ) -> Engagement:
        """Record an engagement with a sent recovery message: ``delivered`` (a provider's
        delivery receipt), ``opened``, ``clicked``, ``replied`` or ``unsubscribed``, at
        ``at`` (now by default). Raises ``MessageNotFoundError`` or
        ``InvalidInputError`` (``field="kind"``; ``field="message_id"``,
        ``reason="not_sent"``)."""
        when = self.now() if at is None else ensure_utc(at, name="at")
        return self.store.write(lambda tx: record_engagement(tx, message_id, kind, when))

    def engagements(self, cart_id: str) -> list[Engagement]:
        """The engagements with the recovery messages about a cart, oldest first."""
        return self.store.engagements(cart_id)

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

    # -- insights ------------------------------------------------------------------

    def _period(self, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
        # By default the period runs up to and including this instant.
        end = self.now() + _INSTANT if until is None else ensure_utc(until, name="until")
        start = end - timedelta(days=30) if since is None else ensure_utc(since, name="since")
        return start, end

    def headline(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        settings: ReportSettings = DEFAULT_SETTINGS,
    ) -> Headline:
        """The headline figures of carts abandoned from ``since`` (inclusive; 30 days
        before ``until`` by default) to ``until`` (exclusive; by default up to and
        including now): abandoned,
        contacted, recovered, recovery rate, recovered revenue, and each flow's lift
        against its control group. Counted by the database; fast on large stores."""
        start, end = self._period(since, until)
        return build_headline(self.store, start, end, settings=settings)

    def insights(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        settings: ReportSettings = DEFAULT_SETTINGS,
        time_zone: TimeZoneLike = "UTC",
        bucket: BucketSize = "day",
    ) -> Insights:
        """Every figure of carts abandoned in the period (as ``headline``): the headline,
        rates per channel, flow, step and variant, recovery per day (or week) in
        ``time_zone``, abandonments by product, form, hour and weekday, and where
        prospects stop. One pass over the period's carts, memory flat in their number."""
        start, end = self._period(since, until)
        return build_insights(
            self.store, start, end, settings=settings, time_zone=time_zone, bucket=bucket
        )

    def _segment_consents(
        self, at: datetime
    ) -> Callable[[Cart, Sequence[ConsentEvent]], Mapping[Channel, ConsentDecision]]:
        def consents(cart: Cart, events: Sequence[ConsentEvent]) -> dict[Channel, ConsentDecision]:
            return self.consents_for(cart, at=at, events=events)

        return consents

    def segment_carts(
        self,
        segment: Segment | str | Mapping[str, object],
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> CartPage:
        """One page of the carts in ``segment`` (a segment, its JSON or a mapping),
        newest first, with how many it holds. Raises ``InvalidInputError`` naming the
        part of the segment that is wrong."""
        now = self.now()
        items, total = read_segment(
            self.store,
            as_segment(segment),
            now=now,
            consents=self._segment_consents(now),
            limit=limit,
            offset=offset,
        )
        return CartPage(items=tuple(items), total=total, limit=limit, offset=offset)

    def iter_segment(
        self, segment: Segment | str | Mapping[str, object]
    ) -> Iterator[tuple[Cart, SegmentContext]]:
        """Every cart in ``segment`` with what the segment read about it, newest first,
        streamed (for exports: ``cartback.reports.iter_segment_csv``)."""
        now = self.now()
        chosen = as_segment(segment)
        for page in segment_batches(
            self.store, chosen, now=now, consents=self._segment_consents(now)
        ):
            yield from page

    def save_segment(self, name: str, segment: Segment | str | Mapping[str, object]) -> Segment:
        """Save ``segment`` under ``name`` (1-80 letters, digits, spaces, ``-`` and ``_``),
        replacing one of that name; the segment saved is returned."""
        if not isinstance(name, str) or not _SEGMENT_NAME.fullmatch(name):
            raise InvalidInputError(
                "a segment name is 1-80 letters, digits, spaces, - or _",
                field="name",
                reason="invalid",
            )
        chosen = as_segment(segment)
        self.store.save_segment(name, segment_json(chosen), at=self.now())
        return chosen

    def segments(self) -> dict[str, Segment]:
        """The saved segments, by name."""
        return {name: parse_segment(body) for name, body in self.store.segments().items()}

    def delete_segment(self, name: str) -> bool:
        """Remove a saved segment; whether it existed."""
        if name not in self.store.segments():
            return False
        self.store.save_segment(name, None, at=self.now())
        return True

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

    # -- webhook endpoints (stored: every receiver and worker sees the same) ----------

    def _endpoint_view(self, endpoint_id: str) -> EndpointView:
        from cartback.webhooks._errors import EndpointNotFoundError
        from cartback.webhooks._registry import consumer_name, endpoint_view

        record = self.store.endpoint(endpoint_id)
        if record is None:
            raise EndpointNotFoundError("no such webhook endpoint", endpoint_id=endpoint_id)
        return endpoint_view(record, self.store.consumer_stats(consumer_name(endpoint_id)))

    def add_webhook_endpoint(self, endpoint: WebhookEndpoint | Mapping[str, Any]) -> EndpointView:
        """Store a new webhook endpoint (a ``WebhookEndpoint``, or its settings as a
        mapping) and subscribe its outbox consumer ``webhook:<id>`` to its event types,
        in order per cart, from now on. An id already taken raises
        ``InvalidInputError`` (``already_exists``); bad settings ``EndpointConfigError``."""
        from cartback.webhooks._registry import add, coerce_endpoint, register

        parsed = coerce_endpoint(endpoint)
        now = self.now()
        self.store.write(lambda tx: add(tx, parsed, now))
        register(self.store, parsed)
        return self._endpoint_view(parsed.id)

    def upsert_webhook_endpoint(
        self, endpoint: WebhookEndpoint | Mapping[str, Any]
    ) -> EndpointView:
        """Store an endpoint from settings: added if new, else its settings replaced.
        Whether it is disabled (a 410, the health rule, staff) is kept unless the
        settings say ``disabled`` themselves; its health and progress are kept."""
        from cartback.webhooks._registry import coerce_endpoint, register, upsert

        parsed = coerce_endpoint(endpoint)
        now = self.now()
        self.store.write(lambda tx: upsert(tx, parsed, now))
        register(self.store, parsed)
        return self._endpoint_view(parsed.id)

    def update_webhook_endpoint(self, endpoint_id: str, changes: Mapping[str, Any]) -> EndpointView:
        """Change some settings of an endpoint (``url``, ``event_types``, ``secrets``,
        limits...); the rest stay. Raises ``EndpointNotFoundError``."""
        from cartback.webhooks._registry import endpoint_of, register, update

        now = self.now()
        record = self.store.write(lambda tx: update(tx, endpoint_id, changes, now))
        register(self.store, endpoint_of(record))
        return self._endpoint_view(endpoint_id)

    def disable_webhook_endpoint(
        self, endpoint_id: str, *, reason: DisabledReason = "manual"
    ) -> EndpointView:
        """Stop deliveries to an endpoint; its events wait in the outbox until it is
        enabled again. Raises ``EndpointNotFoundError``."""
        from cartback.webhooks._registry import disable

        now = self.now()
        self.store.write(lambda tx: disable(tx, endpoint_id, reason, now))
        return self._endpoint_view(endpoint_id)

    def enable_webhook_endpoint(self, endpoint_id: str) -> EndpointView:
        """Deliver to an endpoint again (after a 410, failing days, or staff); what
        waited in the outbox goes out, its failure count starts afresh."""
        from cartback.webhooks._registry import enable

        now = self.now()
        self.store.write(lambda tx: enable(tx, endpoint_id, now))
        return self._endpoint_view(endpoint_id)

    def remove_webhook_endpoint(self, endpoint_id: str) -> bool:
        """Remove an endpoint with its pending deliveries and dead letters; whether it
        existed."""
        return self.store.remove_endpoint(endpoint_id)

    def webhook_endpoints(self) -> list[EndpointView]:
        """Every endpoint with its status, health and lag; secrets only as hints."""
        from cartback.webhooks._registry import consumer_name, endpoint_view

        return [
            endpoint_view(record, self.store.consumer_stats(consumer_name(record.id)))
            for record in self.store.endpoints()
        ]

    def webhook_endpoint(self, endpoint_id: str) -> EndpointView:
        """One endpoint's view; raises ``EndpointNotFoundError``."""
        return self._endpoint_view(endpoint_id)

    def webhook_dead_letters(
        self,
        endpoint_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """An endpoint's dead letters, oldest first (by event time, optionally)."""
        from cartback.webhooks._registry import consumer_name

        self._endpoint_view(endpoint_id)
        return self.store.dead_letters(
            consumer_name(endpoint_id), since=since, until=until, limit=limit
        )

    def replay_webhooks(
        self,
        endpoint_id: str,
        *,
        seqs: Sequence[int] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Send dead letters again (all, these outbox ``seqs``, or those whose event
        happened in ``[since, until]``), with the same ``webhook-id``; how many."""
        from cartback.webhooks._registry import consumer_name

        self._endpoint_view(endpoint_id)
        return self.store.replay(
            consumer_name(endpoint_id), now=self.now(), seqs=seqs, since=since, until=until
        )

    # -- tickets ---------------------------------------------------------------------

    def tickets(
        self, query: TicketQuery | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Ticket]:
        """Tickets newest first, filtered by ``query``."""
        return self.store.list_tickets(query or TicketQuery(), limit=limit, offset=offset)

    def ticket(self, ticket_id: str) -> Ticket:
        """One ticket; raises ``TicketNotFoundError``."""
        ticket = self.store.ticket(ticket_id)
        if ticket is None:
            raise TicketNotFoundError("no such ticket", ticket_id=ticket_id)
        return ticket

    def _ticket_step(self, ticket_id: str, step: Any) -> Ticket:
        now = self.now()

        def work(tx: ReadTransaction) -> Ticket:
            ticket = tx.tickets([ticket_id]).get(ticket_id)
            if ticket is None:
                raise TicketNotFoundError("no such ticket", ticket_id=ticket_id)
            changed: Ticket = step(ticket, now)
            tx.apply(Changes(tickets=(changed,)))
            return changed

        return self.store.write(work)

    def assign_ticket(self, ticket_id: str, assignee: str) -> Ticket:
        """Give a ticket to a salesperson (or to another one)."""
        return self._ticket_step(ticket_id, lambda t, at: assign_ticket(t, assignee, at=at))

    def unassign_ticket(self, ticket_id: str) -> Ticket:
        """Put an assigned ticket back in the open pile."""
        return self._ticket_step(ticket_id, lambda t, at: unassign_ticket(t, at=at))

    def add_ticket_note(self, ticket_id: str, *, author: str, text: str) -> Ticket:
        """Add a staff note to a ticket (notes may hold personal data: never logged)."""
        return self._ticket_step(
            ticket_id, lambda t, at: add_note(t, author=author, text=text, at=at)
        )

    def close_ticket(self, ticket_id: str, resolution: TicketResolution) -> Ticket:
        """Close a ticket with how it ended."""
        return self._ticket_step(
            ticket_id, lambda t, at: close_ticket(t, resolution=resolution, at=at)
        )

    def reopen_ticket(self, ticket_id: str) -> Ticket:
        """Reopen a closed ticket."""
        return self._ticket_step(ticket_id, lambda t, at: reopen_ticket(t, at=at))
