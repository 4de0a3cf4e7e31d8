"""Interaction tokens die 15 minutes after creation; results must still arrive."""

from __future__ import annotations

import time

import pytest

from bot.text.status import EXPIRY_NOTE
from tests.audio_support import same_audio
from tests.conftest import Harness
from tests.fakes.discord import FakeMessage, Perm

TOKEN_LIFETIME = 900.0


def is_result(message: FakeMessage) -> bool:
    return bool(message.embeds) and "your track is ready" in message.content


async def test_job_outliving_the_token_is_delivered_in_the_channel(harness: Harness) -> None:
    # Created 14 min 15 s ago: 45 s of token life left, less than an upload needs.
    created = time.time() - TOKEN_LIFETIME + 45
    interaction = await harness.compose("a long symphony", snowflake_time=created)

    # Before the token dies the status message says where the result will go.
    await harness.status_of(interaction, lambda m: EXPIRY_NOTE in m.content)

    result = await harness.channel.wait_for(is_result, timeout=10)
    assert result.via == "bot"  # posted with the bot token, not the interaction webhook
    assert result.attachments and same_audio(result.attachments[0].data, harness.fake_api.audio)
    assert result.content.startswith(f"<@{harness.alice.id}>")
    assert [str(u) for u in (result.allowed_mentions or {}).get("users", [])] == [
        str(harness.alice.id)
    ]
    assert interaction.followups == []
    assert f"jam:reroll:{(await harness.job_of_result(result))}" in result.custom_ids()
    assert harness.fake_discord.expired_token_calls == []


@pytest.mark.harness(discord={"token_lifetime": 1.0})
async def test_token_refused_mid_job_falls_back_to_the_channel(harness: Harness) -> None:
    # discord.py believes the token lives 15 minutes; the fake kills it after 1 s (50027).
    notes = harness.record_notes()
    harness.fake_api.generation_seconds = 2.0
    interaction = await harness.compose("calm piano")
    result = await harness.channel.wait_for(is_result, timeout=10)
    assert result.via == "bot"
    assert result.attachments
    assert harness.fake_discord.expired_token_calls  # it tried the token, was refused
    assert interaction.followups == []
    results = [m for m in harness.bot_messages() if is_result(m)]
    assert results == [result]
    noted = await notes.wait()
    guild, channel = harness.guild.id, harness.channel.id
    assert noted[0]["link"] == f"https://discord.com/channels/{guild}/{channel}/{result.id}"


@pytest.mark.harness(discord={"token_lifetime": 1.0})
async def test_channel_closed_to_the_bot_sends_a_dm(harness: Harness) -> None:
    closed = harness.guild.add_text_channel(
        "no-bot-posts", bot_permissions=Perm.VIEW_CHANNEL | Perm.USE_APPLICATION_COMMANDS
    )
    notes = harness.record_notes()
    harness.fake_api.generation_seconds = 2.0
    await harness.compose("calm piano", channel=closed)
    dm = harness.fake_discord.dm_channel(harness.alice)
    result = await dm.wait_for(is_result, timeout=10)
    assert result.embeds
    assert [m for m in closed.messages if is_result(m)] == []
    assert harness.fake_discord.permission_denials
    noted = await notes.wait()
    assert noted[0]["link"] == f"https://discord.com/channels/@me/{dm.id}/{result.id}"
