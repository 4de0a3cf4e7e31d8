"""The error policy: every error a member can meet becomes a polite message, sent correctly."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import pytest
from discord import app_commands

from bot.interactions import InteractionHandle, Outgoing, Route, send
from bot.quota.models import Limit, Refusal
from bot.tree import UserError, error_text
from tests.conftest import Harness


def test_expected_errors_map_to_polite_texts() -> None:
    cooldown = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 30.0), 12.0)
    assert error_text(cooldown) == ("Slow down a little: try again in 12 s.", True)
    missing = app_commands.MissingPermissions(["manage_guild"])
    assert error_text(missing)[0] == "You need the manage server permission for that."
    assert "only works in a server" in error_text(app_commands.NoPrivateMessage())[0]
    assert "cannot use that command here" in error_text(app_commands.CheckFailure())[0]
    assert error_text(UserError("Nope, politely.")) == ("Nope, politely.", True)


def test_unexpected_errors_get_a_reference_that_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.tree"):
        text, expected = error_text(RuntimeError("database exploded"))
    assert not expected
    assert "database exploded" not in text
    reference = text.split("`")[1]
    assert len(reference) == 8
    assert any(reference in record.getMessage() for record in caplog.records)


async def test_an_unexpected_failure_is_answered_privately_with_a_reference(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_reserve(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("quota store unavailable")

    harness.bot.services.quota.ledger.reserve = broken_reserve  # type: ignore[method-assign]
    interaction = await harness.compose("calm piano")
    status = await harness.status_of(interaction, lambda m: "reference" in m.content)
    assert "quota store unavailable" not in status.content
    assert status.ephemeral  # nothing was reserved: the apology is the member's alone
    assert harness.fake_api.submissions == []
    assert "quota store unavailable" in caplog.text


async def test_reply_to_an_expired_interaction_goes_to_the_channel_without_a_ping(
    harness: Harness,
) -> None:
    # An interaction whose token is already dead: the bot must not use it at all.
    interaction = await harness.compose("   ", snowflake_time=time.time() - 1000)
    notice = await harness.channel.wait_for(lambda m: "cannot be empty" in m.content)
    assert notice.content.startswith(f"<@{harness.alice.id}>")
    assert (notice.allowed_mentions or {}).get("parse") == []
    assert interaction.callbacks == []
    assert harness.fake_discord.expired_token_calls == []


async def test_help_is_ephemeral_and_names_the_commands(harness: Harness) -> None:
    interaction = await harness.fake_discord.invoke(
        "help", {}, user=harness.bob, channel=harness.channel
    )
    ack = await interaction.wait_for_ack()
    assert ack["type"] == 4 and ack["data"]["flags"] & 64
    assert "/compose" in ack["data"]["content"] and "Re-roll" in ack["data"]["content"]
    assert ack["data"]["allowed_mentions"]["parse"] == []


async def test_commands_are_synced_to_the_dev_server_only(harness: Harness) -> None:
    names = {c["name"] for c in harness.fake_discord.guild_commands[harness.guild.id]}
    assert {"compose", "help"} <= names
    assert harness.fake_discord.global_commands == []


async def test_overlong_texts_are_cut_to_discords_2000_characters(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*args: Any, **kwargs: Any) -> Refusal:
        return Refusal(Limit.PAUSED)

    harness.bot.services.quota.ledger.reserve = refused  # type: ignore[method-assign]
    flow = sys.modules["cogs.compose.flow"]  # the module the running bot loaded
    monkeypatch.setattr(flow, "refusal_text", lambda refusal: "Please wait. " * 200)
    interaction = await harness.compose("calm piano")
    status = await harness.status_of(interaction, lambda m: "Please wait" in m.content)
    assert len(status.content) == 2000 and status.content.endswith("…")

    handle = InteractionHandle(1, "token", 0.0, harness.channel.id)  # a dead token
    posted_by = await send(harness.bot, handle, Outgoing("z" * 2500), routes=(Route.CHANNEL,))
    assert posted_by is not None and posted_by.route is Route.CHANNEL
    sent = posted_by.message
    posted = await harness.channel.wait_for(lambda m: m.id == sent.id)
    assert len(posted.content) == 2000
    # The fake enforces Discord's limit (400/50035), so nothing was refused on the way.
    assert harness.fake_discord.problems() == []
