"""Write docs/reference.md from the SDK's own docstrings: ``python docs/generate_reference.py``.

A test fails when the committed page differs from what this prints, so the reference
cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

import cartback

OUTPUT = Path(__file__).with_name("reference.md")

SECTIONS: list[tuple[str, list[str]]] = [
    ("The facade", ["Cartback", "CaptureResult", "CaptureStatus"]),
    (
        "Submissions",
        [
            "Submission",
            "parse_submission",
            "Money",
            "MAX_FIELDS",
            "MAX_FIELD_LENGTH",
            "MAX_FIELD_NAME_LENGTH",
        ],
    ),
    (
        "Eligibility",
        [
            "EligibilityPolicy",
            "EligibilityResult",
            "ReasonCode",
            "Region",
            "REGIONS",
            "EU_MEMBER_STATES",
            "EU_SPECIAL_TERRITORIES",
            "EEA_MEMBER_STATES",
            "normalize_country",
        ],
    ),
    (
        "Order forms and capture",
        [
            "OrderForm",
            "DEFAULT_FIELD_MAP",
            "DEFAULT_ADDITIONAL_ADDRESS_FIELDS",
            "DEFAULT_PAYMENT_PLAN_FIELDS",
            "field_key",
            "FieldRoute",
            "CanonicalField",
            "extract_fields",
            "FilledFields",
            "plan_capture",
            "CapturePlan",
            "DroppedFields",
            "contains_card_number",
        ],
    ),
    (
        "Stored values",
        [
            "Cart",
            "CartStatus",
            "Contact",
            "CartContext",
            "PaymentFailure",
            "PaymentFailureReason",
            "Click",
        ],
    ),
    (
        "Consent by jurisdiction",
        [
            "JurisdictionTable",
            "DEFAULT_JURISDICTIONS",
            "ConsentDefault",
            "consent_row",
            "default_consent",
        ],
    ),
    (
        "Messages",
        [
            "ShopSettings",
            "DeepLinkTemplates",
            "MessageRequest",
            "RefusalReason",
            "preview",
            "ChannelPreview",
            "BuiltMessage",
            "build_email",
            "RecoveryEmail",
            "EMAIL_TEMPLATES",
            "build_sms",
            "SmsMessage",
            "SmsSegments",
            "sms_segments",
            "is_opt_out",
            "OPT_OUT_KEYWORDS",
            "build_push",
            "PushMessage",
            "ApnsNotification",
            "FcmMessage",
            "PUSH_PAYLOAD_LIMIT",
            "build_social_message",
            "SocialMessage",
            "build_audience_event",
            "AudienceEvent",
            "Coupon",
            "CouponKind",
            "CouponSource",
            "StaticCouponSource",
        ],
    ),
    (
        "Recipients and history",
        [
            "MessageChannel",
            "MESSAGE_CHANNELS",
            "PushDevice",
            "DevicePlatform",
            "SocialRecipient",
            "SocialPlatform",
            "MessageRecord",
            "MessageStatus",
            "Activity",
            "ActivityKind",
        ],
    ),
    (
        "Domain events",
        [
            "DomainEvent",
            "EventType",
            "EVENT_TYPES",
            "parse_event",
            "CartCaptured",
            "CartUpdated",
            "CartSubmitted",
            "CartPaymentFailed",
            "CartReopened",
            "CartOrdered",
            "CartRecovered",
            "ConsentChanged",
            "LinkClicked",
            "MessageSent",
            "MessageFailed",
            "TicketCreated",
            "EndpointDisabled",
        ],
    ),
    (
        "Consent",
        [
            "ConsentEvent",
            "ConsentSource",
            "ConsentSourceKind",
            "ConsentAction",
            "Channel",
            "CHANNELS",
            "ConsentDecision",
            "decide_consent",
            "ledger_changes",
            "DEFAULT_CONSENT",
        ],
    ),
    (
        "Storage",
        [
            "Store",
            "open_store",
            "SQLiteStore",
            "PostgresStore",
            "CartQuery",
            "CartPage",
            "SaveOutcome",
            "SaveStatus",
            "Receipt",
            "RECEIPT_LIFETIME",
            "OrderClosure",
            "ErasureReport",
        ],
    ),
    ("The outbox", ["Delivery", "Settlement", "ConsumerStats"]),
    (
        "Storage internals for backend authors",
        ["Changes", "ReadTransaction", "CartKey"],
    ),
    ("Links", ["LinkSigner", "LinkClaims", "LinkKind", "prefill_url", "UTM_PARAMETERS"]),
    (
        "Webhook signatures",
        [
            "sign_webhook",
            "verify_webhook",
            "webhook_headers",
            "decode_secret",
            "DEFAULT_TOLERANCE_SECONDS",
        ],
    ),
    (
        "Insights",
        ["Headline", "Insights", "FlowLift", "ReportSettings", "Engagement", "EngagementKind"],
    ),
    ("CSV export", ["iter_csv", "cart_row", "neutralize_cell", "CSV_COLUMNS", "CsvFormat"]),
    ("Time", ["Clock", "system_clock"]),
    (
        "Errors",
        [
            "CartbackError",
            "InvalidInputError",
            "ConfigurationError",
            "CartNotFoundError",
            "SignatureError",
            "TokenExpiredError",
            "StoreError",
            "StoreUnavailableError",
            "MessageRefusedError",
            "MessageNotFoundError",
        ],
    ),
]


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _default(value: Any) -> str:
    if callable(value) and hasattr(value, "__name__"):
        return str(value.__name__)
    if isinstance(value, MappingProxyType):
        return repr(dict(value))
    # A set's order changes with each run's string hashing: list its members sorted.
    return _FROZENSET.sub(
        lambda m: f"frozenset({{{', '.join(sorted(m[1].split(', ')))}}})", repr(value)
    )


_FROZENSET = re.compile(r"frozenset\(\{([^{}]*)\}\)")


def _signature(name: str, obj: Any) -> str:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    parts: list[str] = []
    star_done = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if parameter.kind is parameter.VAR_POSITIONAL:
            star_done = True
        text = parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {_type_name(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {_default(parameter.default)}"
        parts.append(text)
    result = f"{name}({', '.join(parts)})"
    if signature.return_annotation is not signature.empty:
        result += f" -> {_type_name(signature.return_annotation)}"
    return result


def _type_name(annotation: Any) -> str:
    """A readable type: ``Annotated`` metadata dropped, ``Optional`` as ``X | None``."""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin is Literal:
        return "Literal[" + ", ".join(repr(arg) for arg in args) + "]"
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{', '.join(_type_name(arg) for arg in args)}]"
    if annotation is Ellipsis:
        return "..."
    return str(annotation).replace("typing.", "")


def _model_fields(model: type[BaseModel]) -> list[str]:
    lines = ["", "| field | type | description |", "| --- | --- | --- |"]
    for field_name, info in model.model_fields.items():
        annotation = _type_name(info.annotation).replace("|", "\\|")
        lines.append(f"| `{field_name}` | `{annotation}` | {info.description or ''} |")
    return lines


def _dataclass_fields(cls: Any) -> list[str]:
    lines = ["", "| field | type |", "| --- | --- |"]
    for field in dataclasses.fields(cls):
        annotation = _type_name(field.type).replace("|", "\\|")
        lines.append(f"| `{field.name}` | `{annotation}` |")
    return lines


def _methods(cls: type[Any]) -> list[str]:
    lines: list[str] = []
    for method_name, member in inspect.getmembers(cls):
        if method_name.startswith(("_", "model_")):
            continue
        if not (inspect.isfunction(member) or isinstance(member, property)):
            continue
        if isinstance(member, property):
            lines.append(f"- `{method_name}` (property) — {_doc(member).splitlines()[0]}")
        elif member.__qualname__.startswith(cls.__name__ + "."):
            summary = _doc(member).splitlines()[0] if _doc(member) else ""
            lines.append(f"- `{_signature(method_name, member)}` — {summary}")
    return ["", *lines] if lines else []


def _entry(name: str) -> list[str]:
    obj = getattr(cartback, name)
    lines = [f"### `{name}`", ""]
    if inspect.isclass(obj) and issubclass(obj, BaseModel):
        lines.append(f"```python\nclass {name}(BaseModel)\n```")
    elif inspect.isclass(obj) and issubclass(obj, BaseException):
        bases = ", ".join(base.__name__ for base in obj.__bases__)
        lines.append(f"```python\nclass {name}({bases})\n```")
    elif inspect.isclass(obj):
        lines.append(f"```python\nclass {_signature(name, obj)}\n```")
    if inspect.isclass(obj):
        if _doc(obj):
            lines += ["", _doc(obj)]
        if issubclass(obj, BaseModel):
            lines += _model_fields(obj)
        elif dataclasses.is_dataclass(obj):
            lines += _dataclass_fields(obj)
        if not issubclass(obj, BaseException):
            lines += _methods(obj)
    elif inspect.isfunction(obj) or hasattr(obj, "__wrapped__"):
        lines.append(f"```python\n{_signature(name, obj)}\n```")
        if _doc(obj):
            lines += ["", _doc(obj)]
    elif get_origin(obj) is Annotated:
        base, *metadata = get_args(obj)
        constraints = [
            repr(item) for meta in metadata for item in getattr(meta, "metadata", [meta])
        ]
        lines.append(f"```python\n{name} = {_type_name(base)}\n```")
        lines += ["", "Constraints: " + ", ".join(f"`{c}`" for c in constraints) + "."]
    elif get_origin(obj) is not None:
        lines.append(f"```python\n{name} = {_type_name(obj)}\n```")
    else:
        value = repr(obj)
        if isinstance(obj, frozenset):
            value = "frozenset({" + ", ".join(repr(v) for v in sorted(obj)) + "})"
        elif isinstance(obj, dict) and all(isinstance(v, frozenset) for v in obj.values()):
            value = "{" + ", ".join(f"{k!r}: {len(v)} countries" for k, v in obj.items()) + "}"
        elif isinstance(obj, MappingProxyType):
            value = repr(dict(obj))
        if len(value) > 300:
            value = value[:300] + " …"
        lines.append(f"```python\n{name} = {value}\n```")
    return [*lines, ""]


def render() -> str:
    covered = {name for _, names in SECTIONS for name in names}
    missing = sorted(set(cartback.__all__) - covered - {"__version__"})
    if missing:
        raise SystemExit(f"add to SECTIONS in docs/generate_reference.py: {missing}")
    out = [
        "# cartback SDK reference",
        "",
        "Generated from the docstrings by `python docs/generate_reference.py`; do not edit.",
        f"Every name is importable from `cartback` (version {cartback.__version__}).",
        "",
    ]
    for title, names in SECTIONS:
        out += [f"## {title}", ""]
        for name in names:
            out += _entry(name)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT}\n")
