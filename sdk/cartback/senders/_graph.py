"""Meta's Graph API: request signing and its error codes, shared by the Send API
(Messenger, Instagram) and the custom audience endpoint.

An error answers ``{"error": {"message": ..., "type": "OAuthException", "code": 551,
"error_subcode": 1545041, "is_transient": false, "fbtrace_id": ...}}``. The numeric
``code`` and ``error_subcode`` decide; the text is never repeated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Final

import httpx

from cartback.senders._http import by_status, json_object, retry_after
from cartback.senders._result import SendResult

__all__ = ["GRAPH_API", "GRAPH_API_VERSION", "appsecret_proof", "classify_graph_error"]

GRAPH_API: Final = "https://graph.facebook.com"
"""The Graph API host (Messenger, Instagram through a Facebook page, Marketing API)."""

GRAPH_API_VERSION: Final = "v25.0"
"""The Graph API version requests go to unless a sender is given another."""

_RATE_LIMITED: Final = frozenset({4, 17, 32, 613, 80002, 80006})
"""Application, user, page and Send API rate limits; Messenger's and Instagram's
business-use-case limits."""
_TEMPORARY: Final = frozenset({1, 2, 1200})
"""Unknown error, service unavailable, temporary send failure: "retry later"."""
_UNREACHABLE: Final = frozenset(
    {
        (200, 1545041),  # this person isn't available right now
        (10, 2018108),  # this person isn't receiving messages from you (blocked the page)
        (100, 2018001),  # no matching user found
    }
)
_OUTSIDE_WINDOW: Final = frozenset({(10, 2018278), (10, 2018065), (10, 2534022)})


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """The ``appsecret_proof`` an app with "Require App Secret" sends with every call:
    HMAC-SHA256 of the access token, keyed with the app secret, in hex."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _usage_wait(response: httpx.Response) -> float | None:
    """Seconds until access is regained, from ``X-Business-Use-Case-Usage`` (its
    ``estimated_time_to_regain_access`` is in minutes)."""
    header = response.headers.get("x-business-use-case-usage")
    if not header:
        return None
    try:
        usage = json.loads(header)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    waits = [m for m in minutes if isinstance(m, int | float) and m > 0]
    return float(max(waits) * 60) if waits else None


def classify_graph_error(response: httpx.Response, now: datetime) -> SendResult:
    """A Graph API error response as an outcome."""
    status = response.status_code
    error = json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    code, subcode = error.get("code"), error.get("error_subcode")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    subcode = subcode if isinstance(subcode, int) and not isinstance(subcode, bool) else None
    if code is None:
        return by_status(response, now, "graph")
    if code in _RATE_LIMITED:
        wait = retry_after(response, now) or _usage_wait(response)
        return SendResult.retry("rate_limited", retry_after=wait, status=status)
    if code == 551 or (code, subcode) in _UNREACHABLE:
        error_code = "no_matching_user" if code == 100 else "recipient_unavailable"
        return SendResult.failed(error_code, invalid_recipient=True, status=status)
    if (code, subcode) in _OUTSIDE_WINDOW:
        return SendResult.failed("outside_messaging_window", status=status)
    if code == 190:
        return SendResult.failed("invalid_access_token", status=status)
    if code == 368:
        return SendResult.failed("temporarily_blocked", status=status)
    if code == 10 or 200 <= code <= 299:
        return SendResult.failed("permission_denied", status=status)
    if code in _TEMPORARY or error.get("is_transient") is True or status >= 500:
        return SendResult.retry(
            "temporary_error", retry_after=retry_after(response, now), status=status
        )
    if code == 100:
        return SendResult.failed("invalid_parameter", status=status)
    if 0 <= code < 10**9:
        return SendResult.failed(f"graph_{code}", status=status)
    return by_status(response, now, "graph")
