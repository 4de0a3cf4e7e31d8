"""The typed errors' flags agree with each other and with what the rest of the bot assumes."""

from __future__ import annotations

import inspect

from bot.aimlapi import errors
from bot.aimlapi.errors import AimlApiError, DownloadError


def error_classes() -> list[type[AimlApiError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, AimlApiError)
    ]


def test_account_problems_are_exactly_the_key_and_the_credit() -> None:
    flagged = {cls.__name__ for cls in error_classes() if cls.account_problem}
    assert flagged == {"AccountProblem", "Unauthorized", "OutOfCredits"}


def test_only_certain_refusals_are_safe_to_resubmit() -> None:
    safe = {cls.__name__ for cls in error_classes() if cls.safe_to_resubmit}
    assert safe == {"RateLimited", "ServiceUnavailable", "ConnectionFailed"}


def test_download_errors_are_transient_only_when_a_retry_may_help() -> None:
    transient = {
        reason
        for reason in ("gone", "too_large", "truncated", "not_audio", "http", "network")
        if DownloadError("x", reason=reason).transient
    }
    assert transient == {"truncated", "http", "network"}
