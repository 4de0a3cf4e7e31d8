"""What every Discord-facing command does first: check the settings, set up logging (secrets
masked) and point discord.py at the configured endpoints."""

from __future__ import annotations

import logging
import sys

from bot import redaction
from bot.config import DEPRECATED, ConfigError, Settings
from bot.endpoints import apply_discord_endpoints
from bot.logs import setup_logging


def one_line(error: BaseException) -> str:
    """An exception as one line: its text with every run of whitespace made one space."""
    return " ".join(str(error).split()) or type(error).__name__


def secrets_of(settings: Settings) -> list[str]:
    tokens = [s.reveal() for s in (settings.discord_token, settings.aimlapi_key) if s is not None]
    return tokens + settings.database_url.passwords()


def prepare(settings: Settings, *required: str, quiet: bool = False) -> int | None:
    """None when ready; else the exit code, after one line naming what is missing.

    `quiet`: log warnings and worse only (unless LOG_LEVEL asks for DEBUG), for a command that
    prints its own outcome."""
    try:
        settings.require(*required)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    level = settings.log_level
    if quiet and level == "INFO":
        level = "WARNING"
    setup_logging(level, secrets_of(settings))
    redaction.remember(settings)
    for old in settings.deprecated:
        logging.getLogger(__name__).warning("%s is deprecated: use %s", old, DEPRECATED[old])
    apply_discord_endpoints(settings.discord_api_base_url, settings.discord_gateway_url)
    return None
