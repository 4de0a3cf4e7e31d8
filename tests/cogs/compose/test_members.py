"""What members see around a track: the seed, the cancel window, private answers, slow days."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Harness, job_id_of


async def test_the_seed_is_chosen_submitted_and_shown_when_none_is_given(
    harness: Harness,
) -> None:
    interaction = await harness.compose("rainy lo-fi with vinyl crackle")
    result = await harness.result_of(interaction)
    submitted = harness.fake_api.submissions[0]["seed"]
    assert isinstance(submitted, int) and 0 <= submitted <= 2**32 - 1
    fields = {f["name"]: f["value"] for f in result.embeds[0]["fields"]}
    assert fields["Seed"] == f"`{submitted}`"
    assert result.attachments[0].filename.endswith(f"-seed{submitted}.wav")
    job = await harness.engine.get(job_id_of(result))
    assert job is not None and job.seed == submitted


async def test_variation_keeps_a_chosen_seed_and_reroll_changes_it(harness: Harness) -> None:
    result = await harness.result_of(await harness.compose("bossa nova guitar"))
    job_id = job_id_of(result)
    seed = harness.fake_api.submissions[0]["seed"]
    vary = await harness.fake_discord.click(result, f"jam:vary:{job_id}", user=harness.alice)
    await vary.wait_for_ack()
    submitted = await harness.fake_discord.submit_modal(
        f"jam:variation:{job_id}",
        {"prompt": "bossa nova guitar with flute"},
        user=harness.alice,
        channel=harness.channel,
    )
    variation = await harness.result_of(submitted)
    assert harness.fake_api.submissions[1]["seed"] == seed
    fields = {f["name"]: f["value"] for f in variation.embeds[0]["fields"]}
    assert fields["Seed"] == f"`{seed}`"
    reroll = await harness.fake_discord.click(result, f"jam:reroll:{job_id}", user=harness.alice)
    await harness.result_of(reroll)
    assert harness.fake_api.submissions[2]["seed"] != seed


@pytest.mark.harness(env={"CANCEL_WINDOW_SECONDS": "3"})
async def test_cancel_stops_a_track_for_free_during_its_cancel_window(harness: Harness) -> None:
    interaction = await harness.compose("a typo in the prompt")
    status = await harness.status_of(
        interaction, lambda m: any(c.startswith("jam:cancel:") for c in m.custom_ids())
    )
    assert "**Starting** <t:" in status.content and "Cancel" in status.content
    cancel_id = next(c for c in status.custom_ids() if c.startswith("jam:cancel:"))
    clicked = await harness.fake_discord.click(status, cancel_id, user=harness.alice)
    assert "Cancelled" in (await clicked.wait_for_ack())["data"]["content"]
    await harness.status_of(interaction, lambda m: "Cancelled" in m.content)
    await asyncio.sleep(3.5)  # past the window: it must not be sent anyway
    assert harness.fake_api.submissions == []
    remaining = await harness.bot.services.quota.queries.remaining(
        _requester(harness.alice.id, harness)
    )
    assert remaining.member_remaining == 20 and remaining.in_flight == 0


@pytest.mark.harness(env={"CANCEL_WINDOW_SECONDS": "1"})
async def test_a_track_not_cancelled_is_sent_once_its_window_is_over(harness: Harness) -> None:
    interaction = await harness.compose("no typo here")
    await harness.status_of(interaction, lambda m: "**Starting** <t:" in m.content)
    assert harness.fake_api.submissions == []  # still waiting out its window
    await harness.result_of(interaction)
    assert len(harness.fake_api.submissions) == 1


async def test_a_slow_reservation_is_answered_privately_then_the_status_is_public(
    harness: Harness,
) -> None:
    ledger = harness.bot.services.quota.ledger
    real_reserve = ledger.reserve

    async def slow_reserve(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(2.5)  # longer than the bot may wait before answering Discord
        return await real_reserve(*args, **kwargs)

    ledger.reserve = slow_reserve  # type: ignore[method-assign]
    interaction = await harness.compose("patience")
    ack = await interaction.wait_for_ack()
    assert ack["type"] == 5 and ack["data"]["flags"] & 64  # "thinking…", privately
    assert interaction.acked_at is not None and interaction.acked_at - interaction.sent_at < 3
    result = await harness.result_of(interaction, timeout=15)
    public_status = [f for f in interaction.followups if f is not result and not f.ephemeral]
    assert len(public_status) == 1
    status = public_status[0]
    await status.notifier.wait_until(lambda: status.deleted, 5)  # replaced by the result
    assert any("patience" in (body.get("content") or "") for body in status.history)
    assert interaction.original is not None and interaction.original.deleted


@pytest.mark.harness(env={"MEMBER_MAX_IN_FLIGHT": "1"})
async def test_the_in_flight_refusal_says_when_the_running_track_should_be_ready(
    harness: Harness,
) -> None:
    harness.fake_api.generation_seconds = 3.0
    first = await harness.compose("the first one")
    await harness.wait_job_state(await harness.latest_job_id(), "submitted")
    second = await harness.compose("the second one")
    ack = await second.wait_for_ack()
    text = ack["data"]["content"]
    assert ack["type"] == 4 and ack["data"]["flags"] & 64
    assert "1 track being made" in text and "should be ready <t:" in text
    await harness.result_of(first)


@pytest.mark.harness(env={"MEMBER_LIMIT_PER_WINDOW": "2"})
async def test_a_low_allowance_is_said_privately(harness: Harness) -> None:
    interaction = await harness.compose("one of two")
    note = await interaction.wait_for_followup(lambda m: "more track" in m.content)
    assert note.ephemeral and "1 more track" in note.content
    await harness.result_of(interaction)


def _requester(user_id: int, harness: Harness) -> Any:
    from bot.quota.models import Requester

    return Requester(user_id=user_id, guild_id=harness.guild.id, channel_id=harness.channel.id)
