"""Reading the provider's answers: JSON bodies, usage, its error shapes, typed HTTP errors.

Pure functions over a received `Answer`; the client (client.py) decides what to retry.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from multidict import CIMultiDictProxy

from bot.aimlapi.errors import (
    AimlApiError,
    BadRequest,
    GenerationFailed,
    MalformedResponse,
    NotFound,
    OutOfCredits,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UpstreamTimeout,
)
from bot.aimlapi.models import Usage
from bot.redaction import redact

USAGE_HEADER_PREFIX = "x-aimlapi-"
MAX_JSON_BYTES = 1024 * 1024  # an API answer larger than this is not the documented JSON


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def definitely_refused(status: int) -> bool:
    """A 4xx (but 408 Request Timeout) means the provider looked at the job and refused it."""
    return 400 <= status < 500 and status != 408


def json_object(answer: Answer) -> dict[str, Any]:
    if len(answer.body) > MAX_JSON_BYTES:
        raise MalformedResponse("answer is too large to be the documented JSON")
    try:
        payload = json.loads(answer.body)
    except ValueError as exc:
        raise MalformedResponse(
            f"answer (HTTP {answer.status}) is not JSON", status=answer.status
        ) from exc
    if not isinstance(payload, dict):
        raise MalformedResponse(
            f"answer (HTTP {answer.status}) is not a JSON object", status=answer.status
        )
    return payload


def usage_of(payload: Mapping[str, Any], headers: Mapping[str, str]) -> Usage:
    usage_headers = {
        k.lower(): redact(v)
        for k, v in headers.items()
        if k.lower().startswith(USAGE_HEADER_PREFIX)
    }
    credits: float | None = None
    meta = payload.get("meta")
    usage = meta.get("usage") if isinstance(meta, dict) else None
    value = usage.get("credits_used") if isinstance(usage, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        credits = float(value)
    elif "x-aimlapi-credits-used" in usage_headers:
        with contextlib.suppress(ValueError):
            credits = float(usage_headers["x-aimlapi-credits-used"])
    return Usage(credits_used=credits, headers=usage_headers)


def readable_error(error: Any) -> tuple[str | None, str | None]:
    """(name, message) from any of the provider's error shapes, or (None, None)."""
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, None
    name = error.get("name") if isinstance(error.get("name"), str) else None
    message = error.get("message")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    if isinstance(message, str) and message:
        return name, message
    detail = error.get("detail")
    if isinstance(detail, str):
        return name, detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                msg = str(item.get("msg") or item.get("message") or "").strip()
                loc = item.get("loc")
                field = (
                    ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
                )
                parts.append(f"{field}: {msg}" if field and msg else msg or field)
            else:
                parts.append(str(item))
        joined = "; ".join(p for p in parts if p)
        return name, joined or None
    return name, None


def raise_generation_failed(generation_id: str, payload: Mapping[str, Any], http: int) -> NoReturn:
    name, message = readable_error(payload.get("error"))
    name, message = redact(name), redact(message or "the provider gave no reason")
    raise GenerationFailed(
        f"generation {generation_id} failed: {name + ': ' if name else ''}{message}",
        name=name,
        status=http,
        provider_message=message,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def http_error(answer: Answer, what: str) -> AimlApiError:
    """The typed error for a non-2xx answer, carrying the provider's message and request id."""
    status = answer.status
    payload: Any = None
    with contextlib.suppress(ValueError):
        payload = json.loads(answer.body) if answer.body else None
    provider_message: str | None = None
    request_id: str | None = None
    if isinstance(payload, dict):
        _, provider_message = readable_error(payload)
        if provider_message is None:
            _, provider_message = readable_error(payload.get("error"))
        provider_message = redact(provider_message)
        rid = payload.get("requestId") or payload.get("request_id")
        request_id = str(rid) if rid else None
    request_id = request_id or answer.headers.get("x-request-id")
    text = f"{what}: HTTP {status}" + (f": {provider_message}" if provider_message else "")
    kwargs: dict[str, Any] = {
        "status": status,
        "request_id": request_id,
        "provider_message": provider_message,
    }
    if status == 429:
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        return RateLimited(text, retry_after=retry_after, **kwargs)
    if status in (400, 422):
        return BadRequest(text, **kwargs)
    if status == 401:
        return Unauthorized(text, **kwargs)
    if status in (402, 403):
        return OutOfCredits(text, **kwargs)
    if status == 404:
        return NotFound(text, **kwargs)
    if status == 408:
        return UpstreamTimeout(text, **kwargs)
    if status == 503:
        unavailable = ServiceUnavailable(text, **kwargs)
        unavailable.retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        return unavailable
    if status >= 500:
        return ServerError(text, **kwargs)
    if payload is None and answer.body:
        return MalformedResponse(text, **kwargs)
    return AimlApiError(text, **kwargs)
