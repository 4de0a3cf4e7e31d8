"""A restart never loses, repeats or double-charges a piece, and old buttons keep working."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.audio_support import same_audio
from tests.conftest import Harness, job_id_of
from tests.fakes.discord import FakeMessage


def results_in(harness: Harness) -> list[FakeMessage]:
    return [m for m in harness.bot_messages() if m.embeds and "track is ready" in m.content]


async def test_restart_mid_job_delivers_exactly_once_with_one_submission(
    harness: Harness,
) -> None:
    harness.fake_api.generation_seconds = 2.0
    interaction = await harness.compose("a piece that survives a restart", seed=11)
    job_id = await harness.latest_job_id()
    await harness.wait_job_state(job_id, "submitted")  # the generation id is stored
    status = await harness.status_of(interaction)
    first_bot = harness.bot
    await harness.restart()
    assert harness.bot is not first_bot

    result = await harness.result_of(interaction, timeout=15)
    assert job_id_of(result) == job_id
    await harness.wait_job_state(job_id, "delivered")
    await harness.status_of(interaction, lambda m: m.deleted)  # the result took its place
    assert status.edit_count >= 1
    assert len(harness.fake_api.submissions) == 1
    assert results_in(harness) == [result]
    assert same_audio(result.attachments[0].data, harness.fake_api.audio)

    # A second restart does not deliver it again.
    await harness.restart()
    await harness.bot.tasks.wait_idle()
    assert results_in(harness) == [result]


async def test_reroll_and_variation_work_after_a_restart(harness: Harness) -> None:
    interaction = await harness.compose("jazzy trumpet solo", negative_prompt="drums", seed=5)
    result = await harness.result_of(interaction)
    job_id = job_id_of(result)
    await harness.wait_job_state(job_id, "delivered")
    await harness.restart()

    random.seed(1)
    reroll = await harness.fake_discord.click(result, f"jam:reroll:{job_id}", user=harness.bob)
    reroll_result = await harness.result_of(reroll)
    assert len(harness.fake_api.submissions) == 2
    body = harness.fake_api.submissions[1]
    assert body["prompt"] == "jazzy trumpet solo"
    assert body["negative_prompt"] == "drums"
    assert body["seed"] != 5
    assert reroll_result.content.startswith(f"<@{harness.bob.id}>")  # bob asked for this one

    vary = await harness.fake_discord.click(result, f"jam:vary:{job_id}", user=harness.alice)
    await vary.wait_for_ack()
    assert vary.modal is not None
    assert vary.modal["custom_id"] == f"jam:variation:{job_id}"
    await harness.restart()  # the member takes a while to type; the bot restarts meanwhile
    submitted = await harness.fake_discord.submit_modal(
        f"jam:variation:{job_id}",
        {"prompt": "jazzy trumpet solo with strings"},
        user=harness.alice,
        channel=harness.channel,
    )
    variation = await harness.result_of(submitted)
    body = harness.fake_api.submissions[2]
    assert body["prompt"] == "jazzy trumpet solo with strings"
    assert body["seed"] == 5  # a variation keeps the seed
    assert job_id_of(variation) != job_id


async def test_button_for_an_unknown_job_is_answered_politely(harness: Harness) -> None:
    interaction = await harness.compose("short loop")
    result = await harness.result_of(interaction)
    job_id = job_id_of(result)
    await harness.wait_job_state(job_id, "delivered")
    await harness.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    click = await harness.fake_discord.click(result, f"jam:reroll:{job_id}", user=harness.alice)
    ack = await click.wait_for_ack()
    assert ack["type"] == 4 and "no longer know" in ack["data"]["content"]
    assert len(harness.fake_api.submissions) == 1


async def test_completed_but_undelivered_job_is_delivered_after_a_restart(
    harness: Harness,
) -> None:
    async def crash_before_delivery(job: object) -> None:
        return None  # as if the process died between download and upload

    harness.delivery.on_finished = crash_before_delivery  # type: ignore[method-assign]
    interaction = await harness.compose("a piece finished while the bot was down")
    job_id = await harness.latest_job_id()
    await harness.wait_job_state(job_id, "completed")
    assert interaction.followups == []
    await harness.restart()
    result = await harness.result_of(interaction)
    assert job_id_of(result) == job_id
    assert same_audio(result.attachments[0].data, harness.fake_api.audio)
    await harness.wait_job_state(job_id, "delivered")
    assert len(harness.fake_api.submissions) == 1


@pytest.mark.harness(env={"MEMBER_LIMIT_PER_WINDOW": "1"})
async def test_reroll_goes_through_the_quota_like_compose(harness: Harness) -> None:
    interaction = await harness.compose("one and only")
    result = await harness.result_of(interaction)
    job_id = job_id_of(result)
    await harness.wait_job_state(job_id, "delivered")
    reroll = await harness.fake_discord.click(result, f"jam:reroll:{job_id}", user=harness.alice)
    refusal = await harness.status_of(reroll, lambda m: "<t:" in m.content)
    assert refusal.content.startswith("🙏")
    assert len(harness.fake_api.submissions) == 1


async def test_variation_without_a_restart_starts_exactly_one_job(harness: Harness) -> None:
    interaction = await harness.compose("warm synth pads", seed=9)
    result = await harness.result_of(interaction)
    job_id = job_id_of(result)
    vary = await harness.fake_discord.click(result, f"jam:vary:{job_id}", user=harness.alice)
    await vary.wait_for_ack()
    submitted = await harness.fake_discord.submit_modal(
        f"jam:variation:{job_id}", {"prompt": "warm synth pads, slower"}, user=harness.alice
    )
    await harness.result_of(submitted)
    await harness.bot.tasks.wait_idle()
    assert len(submitted.callbacks) == 1
    assert [b["prompt"] for b in harness.fake_api.submissions] == [
        "warm synth pads",
        "warm synth pads, slower",
    ]
    assert harness.fake_api.submissions[1]["seed"] == 9


async def test_audio_file_lost_across_a_restart_is_delivered_as_a_link(harness: Harness) -> None:
    async def crash_before_delivery(job: object) -> None:
        return None

    harness.delivery.on_finished = crash_before_delivery  # type: ignore[method-assign]
    interaction = await harness.compose("a piece whose file is cleaned away")
    job_id = await harness.latest_job_id()
    job = await harness.wait_job_state(job_id, "completed")
    await harness.stop()
    await asyncio.to_thread(Path(job.audio_path).unlink)
    await harness.start()
    result = await harness.result_of(interaction)
    assert result.attachments == []
    assert "no longer on the bot's disk" in result.content
    assert job.audio_url and f"<{job.audio_url}>" in result.content
