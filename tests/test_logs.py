"""Secrets are masked in every log line, including exception text."""

from __future__ import annotations

import logging

import pytest

from bot.logs import MASK, RedactingFilter


def test_secret_in_message_args_and_traceback_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    redactor = RedactingFilter(["super-secret-token"])
    caplog.handler.addFilter(redactor)
    try:
        logger.warning("calling with %s", "Bearer super-secret-token")
        try:
            raise RuntimeError("url had super-secret-token in it")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        caplog.handler.removeFilter(redactor)
    text = caplog.text
    assert "super-secret-token" not in text
    assert text.count(MASK) >= 2
    assert "calling with Bearer" in text


def test_short_or_empty_secrets_are_ignored() -> None:
    redactor = RedactingFilter(["", "ab"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "ab and more", None, None)
    assert redactor.filter(record)
    assert record.getMessage() == "ab and more"
