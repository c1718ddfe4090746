"""The OpenAPI document of the receiver's public endpoints.

Built from the same pydantic models the endpoints validate with, so it cannot drift;
``python -m server_example --write-openapi`` rewrites the committed ``openapi.json`` and a test
fails when the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from cartback import Submission
from cartback.notices import (
    DeviceNotice,
    EngagementNotice,
    InboundEmailNotice,
    InboundSmsNotice,
    OrderNotice,
    PaymentFailureNotice,
    SessionNotice,
    SocialOptInNotice,
    TrackNotice,
)
from server_example.capture_api import response_schema

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

_ERROR = {
    "type": "object",
    "required": ["field", "reason", "message"],
    "properties": {
        "field": {"type": "string", "description": "The offending input, e.g. fields.email"},
        "reason": {"type": "string", "description": "A stable reason code"},
        "message": {"type": "string"},
    },
}


class _NumbersAsText(GenerateJsonSchema):
    """A model with ``coerce_numbers_to_str`` (``Submission``) reads a JSON number where it
    takes text (a page's product id ``123`` is ``"123"``): its document says so."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        return {"anyOf": [super().str_schema(schema), {"type": "number"}]}


def _schema(model: type[Any]) -> dict[str, Any]:
    coerces = bool(getattr(model, "model_config", {}).get("coerce_numbers_to_str"))
    schema: dict[str, Any] = model.model_json_schema(
        ref_template="#/components/schemas/{model}",
        by_alias=True,
        schema_generator=_NumbersAsText if coerces else GenerateJsonSchema,
    )
    schema.pop("$defs", None)
    return schema


def _errors(*statuses: int) -> dict[str, Any]:
    descriptions = {
        400: "Malformed body (not UTF-8, not JSON, not an object)",
        401: "Signature missing or invalid",
        403: "Origin not allowed, or endpoint not configured",
        413: "Body over the size limit (16 KiB by default)",
        415: "Content type is not application/json or text/plain",
        422: "A field is invalid; the body names it and the reason",
        404: "Nothing stored under the id the body names",
        429: "Rate limited; see Retry-After",
        503: "Overloaded or the database is unavailable; see Retry-After",
    }
    return {
        str(status): {
            "description": descriptions[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status in statuses
    }


def _json_body(ref: str, *, text_plain: bool) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"}
    content = {"application/json": {"schema": schema}}
    if text_plain:
        content["text/plain"] = {"schema": schema}
    return {"required": True, "content": content}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _status_body(status: str, carts: dict[str, Any]) -> dict[str, Any]:
    """``{"status": <status>, "carts": ...}``, the answer of the session and order calls."""
    return {
        "type": "object",
        "required": ["status", "carts"],
        "properties": {"status": {"const": status}, "carts": carts},
    }


_SIGNED: dict[str, tuple[str, str, list[str], str]] = {
    "/api/devices": ("registerDevice", "Register a push token for a prospect, or invalidate one",
                     ["DeviceNotice"], "Registered, invalidated or unchanged"),
    "/api/social": ("socialOptIn", "A Messenger or Instagram opt-in", ["SocialOptInNotice"],
                    "Registered"),
    "/api/track": ("track", "Something the prospect did (activity, a metric, a purchase)",
                   ["TrackNotice"], "Recorded"),
    "/api/inbound/email": ("inboundEmail", "A reply to a recovery email: pauses the flow",
                           ["InboundEmailNotice"], "Recorded"),
    "/api/inbound/sms": ("inboundSms", "An SMS back: STOP withdraws SMS consent",
                         ["InboundSmsNotice"], "Recorded, opted out or unknown number"),
    "/api/engagements": ("recordEngagement", "A provider's delivery receipt or open of a sent"
                         " recovery message", ["EngagementNotice"], "Recorded"),
}  # fmt: skip
_NOT_FOUND: Final = {"/api/engagements"}
"""Signed calls that name a stored thing, answered 404 when it is not there."""


def _signed(
    operation: str,
    summary: str,
    bodies: list[str],
    answer: str,
    params: list[Any],
    *,
    not_found: bool = False,
) -> dict[str, Any]:
    schema: dict[str, Any] = (
        {"$ref": f"#/components/schemas/{bodies[0]}"}
        if len(bodies) == 1
        else {"oneOf": [{"$ref": f"#/components/schemas/{body}"} for body in bodies]}
    )
    return {
        "post": {
            "operationId": operation,
            "summary": summary + " (signed: Standard Webhooks, CARTBACK_API_SECRET)",
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": _json_response(
                    answer,
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"type": "string"}},
                    },
                ),
                **_errors(*((400, 401, 403, 404, 413, 422, 503) if not_found
                            else (400, 401, 403, 413, 422, 503))),
            },
        }
    }  # fmt: skip


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document for the capture, signed, link and unsubscribe endpoints."""
    closed = _status_body("submitted", {"type": "integer"})
    forgotten = _status_body("forgotten", {"type": "integer"})
    order_closed = {
        "type": "object",
        "required": ["status", "carts"],
        "properties": {
            "status": {"enum": ["closed", "payment_failed"]},
            "carts": {"type": "array", "items": {"type": "string"}},
        },
    }
    html = {"text/html": {"schema": {"type": "string"}}}
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    utm = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
    ]
    signature_headers = [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cartback receiver",
            "version": "1",
            "description": "Capture abandoned checkouts from the cartback snippet.",
        },
        "paths": {
            "/api/capture": {
                "post": {
                    "operationId": "capture",
                    "summary": "Store the filled fields of an order form (if eligible)",
                    "requestBody": _json_body("Submission", text_plain=True),
                    "responses": {
                        "200": _json_response(
                            "Stored, updated, unchanged or not stored", response_schema()
                        ),
                        **_errors(400, 403, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/api/capture/complete": {
                "post": {
                    "operationId": "checkoutCompleted",
                    "summary": "The prospect submitted the order form: the session's carts await"
                    " the order",
                    "requestBody": _json_body("SessionNotice", text_plain=True),
                    "responses": {
                        "200": _json_response("Carts submitted", closed),
                        **_errors(400, 403, 413, 415, 422, 429),
                    },
                }
            },
            "/api/capture/optout": {
                "post": {
                    "operationId": "optOut",
                    "summary": "No thanks: delete what this browser session captured",
                    "requestBody": _json_body("SessionNotice", text_plain=True),
                    "responses": {
                        "200": _json_response("Deleted", forgotten),
                        **_errors(400, 403, 413, 415, 422, 429),
                    },
                }
            },
            "/api/orders": {
                "post": {
                    "operationId": "orderPlaced",
                    "summary": "Server to server: an order closes open carts, or a failed"
                    " payment keeps them open (signed: Standard Webhooks, CARTBACK_API_SECRET)",
                    "parameters": signature_headers,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/OrderNotice"},
                                        {"$ref": "#/components/schemas/PaymentFailureNotice"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json_response("Carts closed, or kept open", order_closed),
                        **_errors(400, 401, 403, 413, 422, 503),
                    },
                }
            },
            **{
                path: _signed(*spec, signature_headers, not_found=path in _NOT_FOUND)
                for path, spec in _SIGNED.items()
            },
            "/o/{token}": {
                "get": {
                    "operationId": "trackOpen",
                    "summary": "An email's tracking image: records the open of its message",
                    "parameters": [token],
                    "responses": {
                        "200": {
                            "description": "A 1x1 transparent GIF, whatever the token",
                            "content": {"image/gif": {}},
                        }
                    },
                }
            },
            "/r/{token}": {
                "get": {
                    "operationId": "openRecoveryLink",
                    "summary": "Record the click and redirect to the pre-filled order form",
                    "parameters": [token, *utm],
                    "responses": {
                        "303": {"description": "Redirect to the pre-filled order form"},
                        "400": {"description": "Tampered link", "content": html},
                        "404": {"description": "Cart or form gone", "content": html},
                        "410": {"description": "Expired link", "content": html},
                    },
                }
            },
            "/u/{token}": {
                "get": {
                    "operationId": "confirmUnsubscribe",
                    "summary": "Ask to confirm the unsubscription",
                    "parameters": [token],
                    "responses": {
                        "200": {"description": "Confirmation page", "content": html},
                        "400": {"description": "Tampered link", "content": html},
                    },
                },
                "post": {
                    "operationId": "unsubscribe",
                    "summary": "Withdraw consent on the link's channel (RFC 8058 one-click)",
                    "parameters": [token],
                    "responses": {
                        "200": {"description": "Unsubscribed", "content": html},
                        "400": {"description": "Tampered link", "content": html},
                        "413": {"description": "Body too large"},
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "Submission": _schema(Submission),
                "SessionNotice": _schema(SessionNotice),
                "OrderNotice": _schema(OrderNotice),
                "PaymentFailureNotice": _schema(PaymentFailureNotice),
                "DeviceNotice": _schema(DeviceNotice),
                "SocialOptInNotice": _schema(SocialOptInNotice),
                "TrackNotice": _schema(TrackNotice),
                "InboundEmailNotice": _schema(InboundEmailNotice),
                "InboundSmsNotice": _schema(InboundSmsNotice),
                "EngagementNotice": _schema(EngagementNotice),
                "Error": _ERROR,
            }
        },
    }


def render() -> str:
    """The document as committed: sorted keys, two-space indent, final newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
