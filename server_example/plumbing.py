"""HTTP plumbing shared by the endpoints: JSON errors, bounded bodies, client keys, gzip."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import Receive

from cartback import InvalidInputError

__all__ = [
    "ApiError",
    "accepts_gzip",
    "client_key",
    "error_response",
    "gzipped",
    "is_json_media_type",
    "media_type",
    "media_type_of",
    "parse_json_object",
    "pick_client_key",
    "read_body",
    "read_json_body",
    "read_json_object",
    "receive_body",
]

_JSON_TYPES = ("application/json", "text/plain")


class ApiError(Exception):
    """An error answered as ``{"field", "reason", "message"}`` with a 4xx status."""

    def __init__(
        self,
        status: int,
        *,
        field: str,
        reason: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.reason = reason
        self.message = message
        self.headers = headers or {}

    @classmethod
    def from_invalid(cls, exc: InvalidInputError) -> ApiError:
        return cls(422, field=exc.field, reason=exc.reason, message=str(exc))

    @classmethod
    def database_unavailable(cls) -> ApiError:
        """503 with ``Retry-After``: the database could not be reached, nothing was
        written (the client sends the same request again)."""
        return cls(
            503,
            field="$",
            reason="unavailable",
            message="the database is unavailable: try again shortly",
            headers={"Retry-After": "2"},
        )


def error_response(exc: ApiError) -> JSONResponse:
    body = {"field": exc.field, "reason": exc.reason, "message": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading past the limit."""
    return await receive_body(request.receive, request.headers.get("content-length"), limit)


async def receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """An ASGI request's body from ``receive``, refusing more than ``limit`` bytes (a
    larger ``declared`` Content-Length before reading anything) without reading past
    the limit."""
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(
                400, field="content-length", reason="invalid", message="bad Content-Length"
            )
        if int(declared) > limit:
            raise ApiError(413, field="$", reason="too_large", message=f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, field="$", reason="too_large", message=f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def accepts_gzip(request: Request) -> bool:
    """Whether the request's ``Accept-Encoding`` allows gzip (named, else ``*``, q > 0)."""
    weights: dict[str, float] = {}
    for item in request.headers.get("accept-encoding", "").lower().split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def gzipped(path: Path) -> bytes:
    """The file gzipped at level 9 (as ``snippet/size.mjs`` measures), kept per version."""
    return _gzip_file(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _gzip_file(path: Path, mtime_ns: int) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)


def media_type(request: Request) -> str:
    """The request's content type without parameters, lower-cased ("" when absent)."""
    return media_type_of(request.headers.get("content-type", ""))


def media_type_of(content_type: str) -> str:
    """A Content-Type's media type without parameters, lower-cased."""
    return content_type.split(";")[0].strip().lower()


def is_json_media_type(content_type: str) -> bool:
    """Whether a Content-Type is one a JSON body may come as (``text/plain`` is what
    ``navigator.sendBeacon`` sends without a CORS preflight)."""
    return media_type_of(content_type) in _JSON_TYPES


async def read_json_body(request: Request, limit: int) -> bytes:
    """The raw body of an ``application/json`` or ``text/plain`` request, bounded by
    ``limit`` (``parse_json_object`` reads it).

    ``text/plain`` is what ``navigator.sendBeacon`` sends without a CORS preflight.
    """
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise ApiError(
            415,
            field="content-type",
            reason="unsupported_media_type",
            message="send application/json or text/plain JSON",
        )
    return await read_body(request, limit)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object ``raw`` holds; ``ApiError`` (400) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, field="$", reason="invalid_utf8", message="body is not UTF-8") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also an integer of over 4300 digits
        raise ApiError(
            400, field="$", reason="malformed_json", message="body is not JSON"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, field="$", reason="not_an_object", message="body must be an object")
    return data


async def read_json_object(request: Request, limit: int) -> tuple[dict[str, Any], bytes]:
    """A JSON object from an ``application/json`` or ``text/plain`` body, and the raw bytes."""
    raw = await read_json_body(request, limit)
    return parse_json_object(raw), raw


def client_key(request: Request, trusted_ip_header: str | None) -> str:
    """The client's IP for rate limiting; a trusted proxy header wins when configured."""
    forwarded = request.headers.get(trusted_ip_header) if trusted_ip_header else None
    return pick_client_key(forwarded, request.client.host if request.client else None)


def pick_client_key(forwarded: str | None, peer: str | None) -> str:
    """The rate-limit key: the trusted header's first entry when it has one, else the
    peer's address."""
    first = (forwarded or "").split(",")[0].strip()
    if first:
        return first[:64]
    return peer or "unknown"
