"""`bot.redaction`: secrets masked from stored and shown text, whoever registered them."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.aimlapi.client import LyriaClient
from bot.aimlapi.errors import BadRequest, GenerationFailed
from bot.config import load_settings
from bot.jobs.failures import error_detail
from bot.redaction import MASK, redact, register, remember


def test_registered_secrets_are_masked_longest_first_and_short_ones_ignored() -> None:
    register(["abc", "", None, "pw-1234", "pw-1234-and-more"])
    assert redact("x pw-1234-and-more y pw-1234 z") == f"x {MASK} y {MASK} z"
    assert redact("abc") == "abc"  # 3 characters would mask ordinary words
    assert redact(None) is None and redact("") == ""


def test_the_settings_secrets_are_remembered() -> None:
    settings = load_settings(
        {"DISCORD_TOKEN": "discord-token-value", "AIMLAPI_KEY": "aiml-key-value"},
        dotenv_path=Path("/nonexistent/.env"),
    )
    remember(settings)
    assert redact("discord-token-value/aiml-key-value") == f"{MASK}/{MASK}"


async def test_a_client_masks_its_key_in_what_the_provider_says() -> None:
    async with aiohttp.ClientSession() as session:
        LyriaClient(session, api_key="client-key-42", base_url="https://api.example")
    failed = GenerationFailed("x", provider_message="denied for client-key-42")
    assert error_detail(failed) == f"denied for {MASK}"
    cut = BadRequest("x", provider_message="a" * 290 + " client-key-42 and more")
    detail = error_detail(cut)
    assert detail is not None and "client-key" not in detail and "client" not in detail
