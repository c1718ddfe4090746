"""HTTP plumbing shared by the endpoints: JSON errors, bounded bodies, client keys, gzip."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from cartback import InvalidInputError

__all__ = [
    "ApiError",
    "accepts_gzip",
    "client_key",
    "error_response",
    "gzipped",
    "media_type",
    "parse_json_object",
    "read_body",
    "read_json_body",
    "read_json_object",
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


def error_response(exc: ApiError) -> JSONResponse:
    body = {"field": exc.field, "reason": exc.reason, "message": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading past the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(
                400, field="content-length", reason="invalid", message="bad Content-Length"
            )
        if int(declared) > limit:
            raise ApiError(413, field="$", reason="too_large", message=f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, field="$", reason="too_large", message=f"body over {limit} bytes")
        chunks.append(chunk)
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
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json_body(request: Request, limit: int) -> bytes:
    """The raw body of an ``application/json`` or ``text/plain`` request, bounded by
    ``limit`` (``parse_json_object`` reads it).

    ``text/plain`` is what ``navigator.sendBeacon`` sends without a CORS preflight.
    """
    if media_type(request) not in _JSON_TYPES:
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
    if trusted_ip_header:
        forwarded = request.headers.get(trusted_ip_header, "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first[:64]
    return request.client.host if request.client else "unknown"
