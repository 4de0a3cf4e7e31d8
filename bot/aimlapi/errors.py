"""Typed failures of the AI/ML API: what went wrong, and whether trying again is safe.

Exceptions carry no member-facing prose (the job records a kind, `bot.text` has the words);
`str(error)` is for logs and operators. `transient` says whether trying the same
*poll* again later may succeed; whether a *submission* may be retried is `safe_to_resubmit`,
which is true only when the provider certainly did not accept the job (never pay twice).
`account_problem` marks failures the bot's operator must fix (bad key, no credits), which
members see as "the bot's API account has a problem".
"""

from __future__ import annotations


class AimlApiError(Exception):
    transient = False
    safe_to_resubmit = False
    account_problem = False
    # Seconds the provider asked us to wait before trying again (Retry-After), when it said.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.provider_message = provider_message


class BadRequest(AimlApiError):
    """400: the provider rejected the prompt or parameters; `provider_message` says why."""


class AccountProblem(AimlApiError):
    """The operator must fix the account; members only see that there is a problem."""

    account_problem = True


class Unauthorized(AccountProblem):
    """401: the API key is wrong, disabled or missing."""


class OutOfCredits(AccountProblem):
    """403: the account is out of credits or not allowed to use the model."""


class NotFound(AimlApiError):
    """404: unknown generation id or endpoint."""


class RateLimited(AimlApiError):
    """429: slow down; `retry_after` is the provider's hint in seconds, when it gave one."""

    transient = True
    safe_to_resubmit = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object):
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(AimlApiError):
    """5xx. A 503 on submission is the provider refusing the job, so it may be resubmitted."""

    transient = True


class ServiceUnavailable(ServerError):
    """503: the provider refused the request before taking it, so it may be resubmitted."""

    safe_to_resubmit = True


class ConnectionFailed(ServerError):
    """The connection could not be opened, so nothing was sent; safe to try again."""

    safe_to_resubmit = True


class UpstreamTimeout(AimlApiError):
    """The request timed out or the connection broke after it was sent."""

    transient = True


class MalformedResponse(AimlApiError):
    """The provider answered with something that is not the documented JSON."""

    transient = True


class AmbiguousSubmission(AimlApiError):
    """A submission may or may not have been accepted (e.g. the connection broke after sending).

    It is never retried automatically: a retry could pay twice.
    """


class GenerationFailed(AimlApiError):
    """The provider reported `status: "error"` for the job; `provider_message` is its reason."""

    def __init__(self, message: str, *, name: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.name = name


class DownloadError(AimlApiError):
    """The audio could not be fetched from the CDN or is not valid audio.

    `reason` is one of: "gone" (404/410), "too_large", "truncated", "not_audio", "http",
    "network", "refused_url" (see `RefusedUrl`).
    """

    def __init__(self, message: str, *, reason: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.reason = reason
        self.transient = reason in {"network", "http", "truncated"}


class RefusedUrl(DownloadError):
    """The audio URL points where the bot does not fetch from (see `bot.aimlapi.url_policy`):
    not https, credentials in it, a private/loopback/link-local address. Never retried; the
    URL must not be shown to members either."""

    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, reason="refused_url", **kwargs)
