"""/compose in a direct message with the bot (DM_POLICY=personal, or refused when "off")."""

from __future__ import annotations

import pytest

from tests.audio_support import same_audio
from tests.conftest import Harness


async def test_compose_in_a_dm_delivers_there(harness: Harness) -> None:
    await harness.bot.tree.sync()  # global commands, so that they exist in DMs
    notes = harness.record_notes()
    interaction = await harness.fake_discord.invoke(
        "compose", {"prompt": "a lullaby for one"}, user=harness.alice.user
    )
    result = await harness.result_of(interaction)
    dm = harness.fake_discord.dm_channel(harness.alice)
    assert result.channel_id == dm.id
    assert same_audio(result.attachments[0].data, harness.fake_api.audio)
    assert "server pool" not in (await harness.status_of(interaction)).history[0]["content"]
    noted = await notes.wait()
    assert noted[0]["link"] == f"https://discord.com/channels/@me/{dm.id}/{result.id}"


@pytest.mark.harness(env={"DM_POLICY": "off"})
async def test_compose_in_a_dm_is_refused_politely_when_dms_are_off(harness: Harness) -> None:
    await harness.bot.tree.sync()
    interaction = await harness.fake_discord.invoke(
        "compose", {"prompt": "a lullaby for one"}, user=harness.alice.user
    )
    status = await harness.status_of(interaction, lambda m: m.content.startswith("🙏"))
    assert "direct message" in status.content.lower() or "dm" in status.content.lower()
    assert harness.fake_api.submissions == []
