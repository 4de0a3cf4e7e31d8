"""Secrets are masked in every log line, including exception text and stack traces."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import MASK, RedactingFilter

SECRET = "super-secret-token"


@pytest.fixture
def redacted(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, with the redacting filter on its handler for the length of the test."""
    redactor = RedactingFilter([SECRET])
    caplog.handler.addFilter(redactor)
    yield caplog
    caplog.handler.removeFilter(redactor)


def test_secret_in_message_args_and_traceback_is_masked(
    redacted: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.redaction")
    logger.warning("calling with %s", f"Bearer {SECRET}")
    try:
        raise RuntimeError(f"url had {SECRET} in it")
    except RuntimeError:
        logger.exception("request failed")
    text = redacted.text
    assert SECRET not in text
    assert text.count(MASK) >= 2
    assert "calling with Bearer" in text


def test_short_or_empty_secrets_are_ignored() -> None:
    redactor = RedactingFilter(["", "ab"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "ab and more", None, None)
    assert redactor.filter(record)
    assert record.getMessage() == "ab and more"


def test_a_malformed_log_call_neither_raises_nor_leaks(redacted: pytest.LogCaptureFixture) -> None:
    logging.getLogger("test.redaction.malformed").warning("two %s %s but one value", SECRET)
    assert SECRET not in redacted.text
    assert "two" in redacted.text and MASK in redacted.text


def test_stack_info_is_masked(redacted: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction.stack")

    def inner(token: str) -> None:
        logger.warning("where am I", stack_info=True)

    # stack_info shows each frame's source line, and the next line names the secret.
    inner("super-secret-token")
    record = redacted.records[-1]
    assert record.stack_info and "inner(" in record.stack_info
    assert SECRET not in record.stack_info and MASK in record.stack_info


def test_discord_py_voice_warnings_are_not_shown(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot uses no voice: "PyNaCl is not installed" would only alarm its admins."""
    import discord
    from discord.voice_client import VoiceClient

    from bot.logs import VoiceWarningFilter, setup_logging

    # discord.py warns once per process, when the first Client is built.
    monkeypatch.setattr(VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(VoiceClient, "warn_dave", True)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    discord_client = logging.getLogger("discord.client")
    monkeypatch.setattr(discord_client, "filters", list(discord_client.filters))
    setup_logging("INFO")
    root.addHandler(caplog.handler)  # setup_logging replaced the root's handlers
    discord.Client(intents=discord.Intents.none())
    discord_client.warning("a warning of discord.client that is not about voice")
    messages = [r.getMessage() for r in caplog.records if r.name == "discord.client"]
    assert messages == ["a warning of discord.client that is not about voice"]
    assert sum(isinstance(f, VoiceWarningFilter) for f in discord_client.filters) == 1
