"""The typed errors' flags agree with each other and with what the rest of the bot assumes."""

from __future__ import annotations

import inspect

from bot.aimlapi import errors
from bot.aimlapi.errors import (
    ACCOUNT_PROBLEM_KINDS,
    ACCOUNT_PROBLEM_MESSAGE,
    AimlApiError,
    DownloadError,
    user_message_for,
)


def error_classes() -> list[type[AimlApiError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, AimlApiError)
    ]


def test_account_problem_kinds_name_exactly_the_account_problem_classes() -> None:
    flagged = {cls.__name__ for cls in error_classes() if cls.account_problem}
    # AccountProblem itself is abstract: jobs record the concrete class names.
    assert flagged - {"AccountProblem"} == ACCOUNT_PROBLEM_KINDS == {"Unauthorized", "OutOfCredits"}
    for cls in error_classes():
        if cls.account_problem:
            assert cls.user_message == ACCOUNT_PROBLEM_MESSAGE


def test_only_certain_refusals_are_safe_to_resubmit() -> None:
    safe = {cls.__name__ for cls in error_classes() if cls.safe_to_resubmit}
    assert safe == {"RateLimited", "ServiceUnavailable", "ConnectionFailed"}


def test_user_messages_are_sentences_without_details() -> None:
    error = errors.BadRequest("POST: HTTP 400: secret-ish detail", request_id="req-1", status=400)
    assert "req-1" not in error.user_message and "detail" not in error.user_message
    for cls in error_classes():
        assert cls.user_message.endswith(".") and cls.user_message[0].isupper()


def test_download_errors_are_transient_only_when_a_retry_may_help() -> None:
    transient = {
        reason
        for reason in ("gone", "too_large", "truncated", "not_audio", "http", "network")
        if DownloadError("x", reason=reason).transient
    }
    assert transient == {"truncated", "http", "network"}


def test_a_recorded_error_kind_maps_back_to_its_member_message() -> None:
    for cls in error_classes():
        assert user_message_for(cls.__name__) == cls.user_message
    assert user_message_for("OutOfCredits") == ACCOUNT_PROBLEM_MESSAGE
    assert user_message_for("Timeout") is None  # the engine's own kinds are not API errors
    assert user_message_for(None) is None
