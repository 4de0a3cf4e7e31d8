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


def test_a_malformed_log_call_neither_raises_nor_leaks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction.malformed")
    redactor = RedactingFilter(["super-secret-token"])
    caplog.handler.addFilter(redactor)
    try:
        logger.warning("two places %s %s but one value", "super-secret-token")
    finally:
        caplog.handler.removeFilter(redactor)
    assert "super-secret-token" not in caplog.text
    assert "two places" in caplog.text and MASK in caplog.text


def test_stack_info_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction.stack")
    redactor = RedactingFilter(["super-secret-token"])
    caplog.handler.addFilter(redactor)

    def inner(token: str) -> None:
        logger.warning("where am I", stack_info=True)

    try:
        # A secret in the source line of a frame shows in stack_info: the line below has one.
        inner("super-secret-token")
    finally:
        caplog.handler.removeFilter(redactor)
    record = caplog.records[-1]
    assert record.stack_info and "inner(" in record.stack_info
    assert "super-secret-token" not in record.stack_info and MASK in record.stack_info
