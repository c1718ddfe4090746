"""cartback: turn abandoned checkouts into sales.

Capture the fields a prospect filled on an order form, decide whether they may be
stored at all, keep only what the rules allow, record consent per channel, and close
the cart when the prospect buys. Start with ``Cartback``; see docs/quickstart.md.
"""

import typing

from cartback._clock import Clock, system_clock
from cartback._errors import (
    CartbackError,
    CartNotFoundError,
    ConfigurationError,
    InvalidInputError,
    SignatureError,
    StoreError,
    StoreUnavailableError,
    TokenExpiredError,
)
from cartback._luhn import contains_card_number
from cartback._models import (
    Activity,
    ActivityKind,
    Cart,
    CartContext,
    ConsentEvent,
    ConsentSource,
    Contact,
    DroppedFields,
    MessageRecord,
    MessageStatus,
    PaymentFailure,
    PushDevice,
    SocialRecipient,
)
from cartback._regions import (
    EEA_MEMBER_STATES,
    EU_MEMBER_STATES,
    EU_SPECIAL_TERRITORIES,
    REGIONS,
    Region,
    normalize_country,
)
from cartback._submission import (
    MAX_FIELD_LENGTH,
    MAX_FIELD_NAME_LENGTH,
    MAX_FIELDS,
    Money,
    Submission,
    parse_submission,
)
from cartback._types import (
    CHANNELS,
    MESSAGE_CHANNELS,
    CanonicalField,
    CartStatus,
    Channel,
    ConsentAction,
    ConsentSourceKind,
    DevicePlatform,
    MessageChannel,
    PaymentFailureReason,
    ReasonCode,
    SocialPlatform,
)
from cartback.capture import CapturePlan, FilledFields, extract_fields, plan_capture
from cartback.client import CaptureResult, CaptureStatus, Cartback
from cartback.consent import DEFAULT_CONSENT, ConsentDecision, decide_consent, ledger_changes
from cartback.eligibility import EligibilityPolicy, EligibilityResult
from cartback.events import (
    EVENT_TYPES,
    CartCaptured,
    CartOrdered,
    CartPaymentFailed,
    CartRecovered,
    CartReopened,
    CartSubmitted,
    CartUpdated,
    ConsentChanged,
    DomainEvent,
    EndpointDisabled,
    EventType,
    LinkClicked,
    MessageFailed,
    MessageSent,
    TicketCreated,
    parse_event,
)
from cartback.export import CSV_COLUMNS, CsvFormat, cart_row, iter_csv, neutralize_cell
from cartback.links import UTM_PARAMETERS, LinkClaims, LinkKind, LinkSigner, prefill_url
from cartback.order_form import (
    DEFAULT_ADDITIONAL_ADDRESS_FIELDS,
    DEFAULT_FIELD_MAP,
    DEFAULT_PAYMENT_PLAN_FIELDS,
    FieldRoute,
    OrderForm,
    field_key,
)
from cartback.signatures import (
    DEFAULT_TOLERANCE_SECONDS,
    decode_secret,
    sign_webhook,
    verify_webhook,
    webhook_headers,
)
from cartback.store import (
    RECEIPT_LIFETIME,
    CartKey,
    CartPage,
    CartQuery,
    Changes,
    Click,
    ConsumerStats,
    Delivery,
    ErasureReport,
    OrderClosure,
    ReadTransaction,
    Receipt,
    SaveOutcome,
    SaveStatus,
    Settlement,
    SQLiteStore,
    Store,
    open_store,
)

if typing.TYPE_CHECKING:  # at run time, on first use: psycopg is needed only with PostgreSQL
    from cartback.store._postgres import PostgresStore

__version__ = "0.1.0"

__all__ = [
    "CHANNELS",
    "CSV_COLUMNS",
    "DEFAULT_ADDITIONAL_ADDRESS_FIELDS",
    "DEFAULT_CONSENT",
    "DEFAULT_FIELD_MAP",
    "DEFAULT_PAYMENT_PLAN_FIELDS",
    "DEFAULT_TOLERANCE_SECONDS",
    "EEA_MEMBER_STATES",
    "EU_MEMBER_STATES",
    "EU_SPECIAL_TERRITORIES",
    "EVENT_TYPES",
    "MAX_FIELDS",
    "MAX_FIELD_LENGTH",
    "MAX_FIELD_NAME_LENGTH",
    "MESSAGE_CHANNELS",
    "RECEIPT_LIFETIME",
    "REGIONS",
    "UTM_PARAMETERS",
    "Activity",
    "ActivityKind",
    "CanonicalField",
    "CapturePlan",
    "CaptureResult",
    "CaptureStatus",
    "Cart",
    "CartCaptured",
    "CartContext",
    "CartKey",
    "CartNotFoundError",
    "CartOrdered",
    "CartPage",
    "CartPaymentFailed",
    "CartQuery",
    "CartRecovered",
    "CartReopened",
    "CartStatus",
    "CartSubmitted",
    "CartUpdated",
    "Cartback",
    "CartbackError",
    "Changes",
    "Channel",
    "Click",
    "Clock",
    "ConfigurationError",
    "ConsentAction",
    "ConsentChanged",
    "ConsentDecision",
    "ConsentEvent",
    "ConsentSource",
    "ConsentSourceKind",
    "ConsumerStats",
    "Contact",
    "CsvFormat",
    "Delivery",
    "DevicePlatform",
    "DomainEvent",
    "DroppedFields",
    "EligibilityPolicy",
    "EligibilityResult",
    "EndpointDisabled",
    "ErasureReport",
    "EventType",
    "FieldRoute",
    "FilledFields",
    "InvalidInputError",
    "LinkClaims",
    "LinkClicked",
    "LinkKind",
    "LinkSigner",
    "MessageChannel",
    "MessageFailed",
    "MessageRecord",
    "MessageSent",
    "MessageStatus",
    "Money",
    "OrderClosure",
    "OrderForm",
    "PaymentFailure",
    "PaymentFailureReason",
    "PostgresStore",
    "PushDevice",
    "ReadTransaction",
    "ReasonCode",
    "Receipt",
    "Region",
    "SQLiteStore",
    "SaveOutcome",
    "SaveStatus",
    "Settlement",
    "SignatureError",
    "SocialPlatform",
    "SocialRecipient",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Submission",
    "TicketCreated",
    "TokenExpiredError",
    "__version__",
    "cart_row",
    "contains_card_number",
    "decide_consent",
    "decode_secret",
    "extract_fields",
    "field_key",
    "iter_csv",
    "ledger_changes",
    "neutralize_cell",
    "normalize_country",
    "open_store",
    "parse_event",
    "parse_submission",
    "plan_capture",
    "prefill_url",
    "sign_webhook",
    "system_clock",
    "verify_webhook",
    "webhook_headers",
]


def __getattr__(name: str) -> object:
    if name == "PostgresStore":
        from cartback.store._postgres import PostgresStore

        globals()[name] = PostgresStore
        return PostgresStore
    raise AttributeError(f"module 'cartback' has no attribute {name!r}")
