"""The terminal's account-problem text: the setting, what the provider said, what to do."""

from __future__ import annotations

from bot.jobs.models import ErrorKind
from bot.text.terminal import KEYS_PAGE, account_problem_text


def test_a_refused_key_names_the_setting_the_answer_and_the_fix() -> None:
    text = account_problem_text(ErrorKind.UNAUTHORIZED, "HTTP 401: Invalid API key")
    assert "AIMLAPI_KEY" in text and "(HTTP 401: Invalid API key)" in text
    assert KEYS_PAGE in text and ".env" in text
    assert "owner" not in text


def test_without_the_providers_words_the_status_is_still_named() -> None:
    assert "(HTTP 401)" in account_problem_text(ErrorKind.UNAUTHORIZED, None)
    text = account_problem_text(ErrorKind.OUT_OF_CREDITS, None)
    assert "(HTTP 403)" in text and "credit" in text and "AIMLAPI_KEY" in text
