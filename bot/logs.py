"""Logging set-up: one format for the whole process, and a filter that masks secrets.

Secrets are masked in the final message text, so a secret that reaches a log call by
accident (inside an exception message, a URL, a repr) is still never written.

discord.py warns at start that voice libraries are missing; the bot uses no voice, so those
two warnings (and only those) are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "********"


class RedactingFilter(logging.Filter):
    """Replace every known secret in a record's rendered message with a mask."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call ("%s %s" with one argument): show it, masked
            message = f"{record.msg!r} % {record.args!r}"
            record.msg, record.args = message, None
        text = self._mask(message)
        if text != message:
            record.msg, record.args = text, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class VoiceWarningFilter(logging.Filter):
    """Drop discord.py's "PyNaCl/davey is not installed, voice will NOT be supported" warnings
    (logged once by `discord.client` when the first Client is built): the bot has no voice."""

    MESSAGES = frozenset(
        {
            "PyNaCl is not installed, voice will NOT be supported",
            "davey is not installed, voice will NOT be supported",
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "discord.client" and record.msg in self.MESSAGES)


def silence_voice_warnings() -> None:
    """Install `VoiceWarningFilter` on discord.py's client logger (once)."""
    logger = logging.getLogger("discord.client")
    if not any(isinstance(f, VoiceWarningFilter) for f in logger.filters):
        logger.addFilter(VoiceWarningFilter())


def setup_logging(level: str, secrets: Iterable[str] = ()) -> RedactingFilter:
    """Configure the root logger once; return the redacting filter so more secrets can join."""
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
    silence_voice_warnings()
    return redactor
