"""cartback: turn abandoned checkouts into sales.

Capture the fields a prospect filled on an order form, decide whether they may be
stored at all, keep only what the rules allow, record consent per channel, and close
the cart when the prospect buys. Start with ``Cartback``; see docs/quickstart.md.
"""

from cartback._clock import Clock, system_clock
from cartback._errors import (
    CartbackError,
    CartNotFoundError,
    ConfigurationError,
    InvalidInputError,
    SignatureError,
    StoreError,
    TokenExpiredError,
)
from cartback._luhn import contains_card_number
from cartback._models import (
    Cart,
    CartContext,
    ConsentEvent,
    ConsentSource,
    Contact,
    DroppedFields,
    OutboxEvent,
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
    invalid_input_from,
    parse_submission,
)
from cartback._types import (
    CHANNELS,
    CanonicalField,
    CartStatus,
    Channel,
    ConsentAction,
    ConsentSourceKind,
    EventType,
    ReasonCode,
)
from cartback.capture import CapturePlan, FilledFields, extract_fields, plan_capture
from cartback.client import CaptureResult, CaptureStatus, Cartback
from cartback.consent import DEFAULT_CONSENT, ConsentDecision, decide_consent
from cartback.eligibility import EligibilityPolicy, EligibilityResult
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
    CartPage,
    CartQuery,
    ErasureReport,
    OrderClosure,
    SaveOutcome,
    SaveStatus,
    SQLiteStore,
    Store,
)

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
    "MAX_FIELDS",
    "MAX_FIELD_LENGTH",
    "MAX_FIELD_NAME_LENGTH",
    "REGIONS",
    "UTM_PARAMETERS",
    "CanonicalField",
    "CapturePlan",
    "CaptureResult",
    "CaptureStatus",
    "Cart",
    "CartContext",
    "CartNotFoundError",
    "CartPage",
    "CartQuery",
    "CartStatus",
    "Cartback",
    "CartbackError",
    "Channel",
    "Clock",
    "ConfigurationError",
    "ConsentAction",
    "ConsentDecision",
    "ConsentEvent",
    "ConsentSource",
    "ConsentSourceKind",
    "Contact",
    "CsvFormat",
    "DroppedFields",
    "EligibilityPolicy",
    "EligibilityResult",
    "ErasureReport",
    "EventType",
    "FieldRoute",
    "FilledFields",
    "InvalidInputError",
    "LinkClaims",
    "LinkKind",
    "LinkSigner",
    "Money",
    "OrderClosure",
    "OrderForm",
    "OutboxEvent",
    "ReasonCode",
    "Region",
    "SQLiteStore",
    "SaveOutcome",
    "SaveStatus",
    "SignatureError",
    "Store",
    "StoreError",
    "Submission",
    "TokenExpiredError",
    "__version__",
    "cart_row",
    "contains_card_number",
    "decide_consent",
    "decode_secret",
    "extract_fields",
    "field_key",
    "invalid_input_from",
    "iter_csv",
    "neutralize_cell",
    "normalize_country",
    "parse_submission",
    "plan_capture",
    "prefill_url",
    "sign_webhook",
    "system_clock",
    "verify_webhook",
    "webhook_headers",
]
