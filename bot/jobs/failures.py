"""How a provider failure is recorded on a job: its kind and the provider's own words."""

from __future__ import annotations

from bot.aimlapi.errors import (
    AimlApiError,
    AmbiguousSubmission,
    BadRequest,
    ConnectionFailed,
    DownloadError,
    GenerationFailed,
    MalformedResponse,
    NotFound,
    OutOfCredits,
    RateLimited,
    RefusedUrl,
    ServerError,
    Unauthorized,
    UpstreamTimeout,
)
from bot.jobs.models import ErrorKind
from bot.redaction import redact

DETAIL_CHARS = 300

# Most specific first: ConnectionFailed is a ServerError, RefusedUrl a DownloadError.
_KINDS: tuple[tuple[type[AimlApiError], ErrorKind], ...] = (
    (GenerationFailed, ErrorKind.PROVIDER_FAILED),
    (BadRequest, ErrorKind.BAD_REQUEST),
    (Unauthorized, ErrorKind.UNAUTHORIZED),
    (OutOfCredits, ErrorKind.OUT_OF_CREDITS),
    (NotFound, ErrorKind.NOT_FOUND),
    (RateLimited, ErrorKind.RATE_LIMITED),
    (ConnectionFailed, ErrorKind.UNREACHABLE),
    (ServerError, ErrorKind.SERVER_ERROR),
    (UpstreamTimeout, ErrorKind.UPSTREAM_TIMEOUT),
    (MalformedResponse, ErrorKind.MALFORMED),
    (AmbiguousSubmission, ErrorKind.AMBIGUOUS),
    (RefusedUrl, ErrorKind.REFUSED_URL),
    (DownloadError, ErrorKind.DOWNLOAD_FAILED),
)


def error_kind(exc: AimlApiError) -> ErrorKind:
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return ErrorKind.OTHER


def error_detail(exc: AimlApiError) -> str | None:
    """What the provider said (one line, bounded), or a download failure's reason code.

    An account problem keeps its HTTP status too ("HTTP 401: Invalid API key"): the operator
    (the terminal's reader, the owner's log) needs it; members are never shown it."""
    if isinstance(exc, DownloadError):
        return exc.reason
    if exc.account_problem and exc.status is not None:
        said = f": {' '.join(exc.provider_message.split())}" if exc.provider_message else ""
        return redact(f"HTTP {exc.status}{said}")[:DETAIL_CHARS]
    if isinstance(exc, BadRequest | GenerationFailed) and exc.provider_message:
        # Secrets are masked before the text is cut, so a cut never leaves half a key.
        return redact(" ".join(exc.provider_message.split()))[:DETAIL_CHARS]
    return None
