"""Secrets kept out of every text the bot stores or shows (logs have `logs.RedactingFilter`).

The provider may echo the API key back (in an error message, a status, a header). Whoever
turns outside text into something stored or shown passes it through `redact`; the secrets it
masks are registered once at start (`remember(settings)`) and by each `LyriaClient` for its key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import overload

from bot.config import Settings

MASK = "********"
MIN_SECRET_CHARS = 4  # shorter "secrets" would mask ordinary words

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


def register(secrets: Iterable[str | None]) -> None:
    """Mask these from now on (empty and very short values are ignored)."""
    global _secrets
    with _lock:
        known = set(_secrets)
        known.update(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)
        _secrets = tuple(sorted(known, key=len, reverse=True))


def remember(settings: Settings) -> None:
    """Register the settings' secrets (the Discord token, the API key, database passwords)."""
    register(s.reveal() for s in (settings.discord_token, settings.aimlapi_key) if s)
    register(settings.database_url.passwords())


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
@overload
def redact(text: str | None) -> str | None: ...
def redact(text: str | None) -> str | None:
    """`text` with every registered secret replaced by a mask."""
    if not text:
        return text
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def contains_secret(text: str) -> bool:
    return any(secret in text for secret in _secrets)
