"""/compose end to end: the real JamBot between a fake Discord and a fake AI/ML API."""

from __future__ import annotations

import io
import itertools
import time

import discord
import pytest
from PIL import Image

from tests.audio_support import same_audio, tags
from tests.conftest import Harness, job_id_of
from tests.fakes.discord import FakeMessage


async def test_compose_delivers_the_cdn_bytes_with_embed_and_one_ping(harness: Harness) -> None:
    started = time.time()
    interaction = await harness.compose("calm lo-fi piano", negative_prompt="drums", seed=7)

    ack = await interaction.wait_for_ack()
    assert ack["type"] == 5  # deferred at once
    assert interaction.acked_at is not None and interaction.acked_at - interaction.sent_at < 3.0

    result = await harness.result_of(interaction)
    audio, waveform = result.attachments
    # The provider's samples, untouched, tagged with where they came from.
    assert same_audio(audio.data, harness.fake_api.audio)
    assert audio.filename == "calm-lo-fi-piano-seed7.wav"  # the prompt and the seed
    job_id = job_id_of(result)
    written = tags(audio.data)
    assert written["title"] == "calm lo-fi piano"
    assert f"Job: {job_id}" in written["comment"] and "Seed: 7" in written["comment"]
    # The waveform is a real PNG, shown as the embed's picture.
    assert waveform.filename == "waveform.png"
    with Image.open(io.BytesIO(waveform.data)) as picture:
        assert picture.format == "PNG" and picture.width > picture.height > 0

    embed = result.embeds[0]
    fields = {item["name"]: item["value"] for item in embed["fields"]}
    assert embed["description"] == "> calm lo-fi piano"
    assert embed["image"]["url"] == "attachment://waveform.png"
    assert fields["Format"] == "WAV, lossless, as generated."
    assert fields["Peak"].endswith("dBFS")
    del fields["Format"], fields["Peak"]
    assert fields == {"Leaving out": "drums", "Seed": "`7`", "Length": "1 s"}
    assert embed["footer"]["text"] == f"ref {job_id[:6]} · made with Lyria 2"
    assert "title" not in embed  # the ping line already says it is ready

    # Exactly one ping, for the requester only, on the result message.
    assert result.content == f"<@{harness.alice.id}> your track is ready."
    assert result.allowed_mentions is not None
    assert [str(u) for u in result.allowed_mentions.get("users", [])] == [str(harness.alice.id)]
    assert result.allowed_mentions.get("parse") == []
    assert not result.allowed_mentions.get("roles")

    # The provider got what was asked for, once.
    assert len(harness.fake_api.submissions) == 1
    body = harness.fake_api.submissions[0]
    assert body["prompt"] == "calm lo-fi piano"
    assert body["negative_prompt"] == "drums"
    assert body["seed"] == 7

    # The status message showed progress, never pinged, never showed the member's own
    # numbers, and is gone now that the result stands in its place: one message per track.
    status = await harness.status_of(interaction, lambda m: m.deleted)
    assert status.id != result.id
    assert all((body.get("allowed_mentions") or {}).get("parse") == [] for body in status.history)
    shown = [body.get("content") or "" for body in status.history]
    assert any("server pool: 49 tracks left today" in text for text in shown)
    assert any("seed 7" in text for text in shown)
    assert not any("You have" in text or "19" in text for text in shown)
    assert [m for m in harness.bot_messages() if not m.deleted] == [result]
    assert f"jam:reroll:{job_id}" in result.custom_ids()
    assert f"jam:vary:{job_id}" in result.custom_ids()

    job = await harness.engine.get(job_id)
    assert job is not None and job.state.value == "delivered"
    assert job.delivery is not None and job.delivery.via.value == "interaction"
    assert job.delivery.message_id == result.id
    assert time.time() - started < 15


async def test_mod_log_link_points_at_the_result_in_its_server(harness: Harness) -> None:
    notes = harness.record_notes()
    interaction = await harness.compose("calm piano")
    result = await harness.result_of(interaction)
    noted = await notes.wait()
    assert noted[0]["outcome"] == "delivered" and noted[0]["guild_id"] == harness.guild.id
    # Sent through the interaction webhook, the message object knows no guild; the link must.
    expected = f"https://discord.com/channels/{harness.guild.id}/{harness.channel.id}/{result.id}"
    assert noted[0]["link"] == expected
    # The note also ended the reservation's in-flight status: no separate finish call.
    assert notes.finishes == []


@pytest.mark.harness(env={"MAX_CONCURRENT_GENERATIONS": "1"})
async def test_status_edits_are_throttled_to_one_per_three_seconds(harness: Harness) -> None:
    # Three tracks ahead in a one-at-a-time queue: the last one's position changes about
    # every 1.5 s (3, 2, 1, sending, composing...), faster than the bot may edit its message.
    harness.fake_api.generation_seconds = 1.5
    for member in (harness.alice, harness.bob, harness.moderator):
        await harness.compose(f"piece for {member.user.username}", user=member)
    last = await harness.compose("the last piece in the queue", user=harness.alice)
    await harness.result_of(last, timeout=30)
    status = await harness.status_of(last, lambda m: m.deleted)  # replaced by the result

    # When the fake applied each edit (not when this test noticed it): the bot starts the next
    # progress edit 3 s after the previous one was answered, so these are >= 3 s apart.
    edit_times = status.edit_times
    assert len(edit_times) >= 3, edit_times  # it did report the queue moving
    gaps = [b - a for a, b in itertools.pairwise(edit_times)]
    assert all(gap >= 2.99 for gap in gaps), gaps
    contents = [body.get("content") or "" for body in status.history]
    assert any("position 3" in text for text in contents[:1])
    assert harness.fake_discord.ratelimited_count == 0


async def test_prompt_with_mentions_and_markdown_neither_pings_nor_breaks_layout(
    harness: Harness,
) -> None:
    prompt = "@everyone **LOUD** <@&123456789012345678> # heading\n> quote `code` @here"
    interaction = await harness.compose(prompt)
    result = await harness.result_of(interaction)
    status = await harness.status_of(interaction, lambda m: m.deleted)

    def visible(message: FakeMessage) -> str:
        parts = [message.content]
        for embed in message.embeds:
            parts.append(embed.get("description") or "")
            parts.extend(str(f["value"]) for f in embed.get("fields", []))
        return "\n".join(parts)

    shown = [body.get("content") or "" for body in status.history if body.get("content")]
    for text in [visible(result), *shown]:
        assert "@everyone" not in text and "@here" not in text
        assert "<@&123456789012345678>" not in text
        assert "\\*\\*LOUD\\*\\*" in text
        assert "\n> quote" not in text and "\n# heading" not in text
    assert result.allowed_mentions is not None
    assert result.allowed_mentions.get("parse") == []
    assert [str(u) for u in result.allowed_mentions.get("users", [])] == [str(harness.alice.id)]
    # The provider still got the prompt as typed.
    assert harness.fake_api.submissions[0]["prompt"] == prompt.strip()


async def test_the_harness_flags_any_ping_but_the_results(harness: Harness) -> None:
    """assert_clean checks every message of every test; make sure that check can fail."""
    result = await harness.result_of(await harness.compose("calm piano"))
    assert result.pings().users == {harness.alice.id}
    assert harness.unexpected_pings() == []
    channel = harness.bot.get_partial_messageable(harness.channel.id)
    pinging = await channel.send(
        f"<@{harness.bob.id}> hello", allowed_mentions=discord.AllowedMentions(users=True)
    )
    try:
        flagged = harness.unexpected_pings()
        assert len(flagged) == 1 and str(pinging.id) in flagged[0]
    finally:
        del harness.fake_discord.messages[pinging.id]  # keep the teardown check meaningful
