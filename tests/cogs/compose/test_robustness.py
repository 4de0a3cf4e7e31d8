"""After the provider has charged, nothing Discord or a crash does loses or repeats a track."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.audio_support import same_audio
from tests.conftest import Harness, job_id_of
from tests.fakes.discord import FakeMessage
from tests.fakes.discord.routes import WEBHOOK_MESSAGE

CHANNEL_MESSAGES = "/channels/{channel_id}/messages"


def results_in(harness: Harness) -> list[FakeMessage]:
    return [m for m in harness.bot_messages() if m.embeds and "track is ready" in m.content]


async def test_status_edits_that_discord_keeps_failing_never_hold_up_the_result(
    harness: Harness,
) -> None:
    # Every status edit is answered 503: discord.py alone retries each for ~25 s, holding the
    # interaction's webhook. The result must come as soon as the track is ready all the same.
    harness.fake_discord.script_failure("PATCH", WEBHOOK_MESSAGE, status=503)
    harness.fake_api.generation_seconds = 2.0
    interaction = await harness.compose("through the storm")
    job_id = await harness.latest_job_id()
    await harness.wait_job_state(job_id, "completed", "delivered", timeout=10)
    completed = time.monotonic()
    await harness.result_of(interaction, timeout=20)
    assert time.monotonic() - completed < 10  # well under one edit's own retries (~25 s)
    failed = [r for r in harness.fake_discord.requests if r.method == "PATCH" and r.status == 503]
    assert failed  # the edits really were failing
    harness.fake_discord.clear_failures()


async def test_the_result_post_is_tried_again_when_discord_fails(harness: Harness) -> None:
    # An interaction with little token life left: the result goes with the bot token, and the
    # first two tries meet a 503 (which discord.py does not retry on its own for bot calls).
    harness.fake_discord.script_failure("POST", CHANNEL_MESSAGES, status=503, times=2)
    interaction = await harness.compose("second time lucky", snowflake_time=time.time() - 900 + 40)
    result = await harness.channel.wait_for(lambda m: "track is ready" in m.content, timeout=20)
    assert result.attachments and same_audio(result.attachments[0].data, harness.fake_api.audio)
    posts = [
        r
        for r in harness.fake_discord.requests
        if r.method == "POST" and r.template == CHANNEL_MESSAGES
    ]
    assert [r.status for r in posts] == [503, 503, 200]
    assert interaction.followups == []
    await harness.wait_job_state(job_id_of(result), "delivered")


async def test_a_result_posted_just_before_a_crash_is_not_posted_again(harness: Harness) -> None:
    engine = harness.engine
    real_mark = engine.mark_delivered

    async def crash_before_recording(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the process died here")

    engine.mark_delivered = crash_before_recording  # type: ignore[method-assign]
    interaction = await harness.compose("posted once")
    result = await harness.result_of(interaction)
    job_id = job_id_of(result)
    await harness.bot.tasks.wait_idle()
    assert (await harness.engine.get(job_id)).state.value == "completed"  # type: ignore[union-attr]
    engine.mark_delivered = real_mark  # type: ignore[method-assign]

    await harness.restart()
    job = await harness.wait_job_state(job_id, "delivered")
    assert job.delivery.message_id == result.id  # found in the channel, not posted again
    assert results_in(harness) == [result]
    assert len(harness.fake_api.submissions) == 1


async def test_a_failure_nobody_was_told_about_is_reported_after_a_restart(
    harness: Harness,
) -> None:
    async def gone(*args: Any, **kwargs: Any) -> None:
        return None  # the process dies before telling anyone

    harness.delivery.on_finished = gone  # type: ignore[method-assign]
    harness.fake_api.fail_generation(None, message="flagged")
    interaction = await harness.compose("told after all")
    job_id = await harness.latest_job_id()
    await harness.wait_job_state(job_id, "failed")
    await harness.restart()
    status = await harness.status_of(interaction, lambda m: "could not make" in m.content)
    assert "flagged" in status.content
    job = await harness.wait_job_state(job_id, "failed")
    while job.failure_reported_at is None:
        job = await harness.wait_job_state(job_id, "failed")
    await harness.restart()  # told once: not again
    await harness.bot.tasks.wait_idle()
    assert status.history[-1]["content"] == status.content
    assert sum("could not make" in (b.get("content") or "") for b in status.history) == 1


@pytest.mark.harness(env={"MEMBER_MAX_IN_FLIGHT": "1"})
async def test_slots_left_by_a_crash_are_given_back_at_start(harness: Harness) -> None:
    result = await harness.result_of(await harness.compose("a finished track"))
    job_id = job_id_of(result)
    # A crash between "delivered" and ending the reservation left the member "composing",
    # and one between reserving and writing the job row left a reservation with no job.
    await harness.db.execute(
        "UPDATE quota_reservations SET in_flight = 1 WHERE job_id = ?", (job_id,)
    )
    await harness.bot.services.quota.ledger.reserve(_bob(harness), "orphan0000ab", "never enqueued")
    await harness.restart()
    rows = dict(
        await harness.db.fetchall("SELECT job_id, state FROM quota_reservations ORDER BY job_id")
    )
    assert rows["orphan0000ab"] == "refunded"  # at once, not only 120 s later
    in_flight = await harness.db.fetchone(
        "SELECT in_flight FROM quota_reservations WHERE job_id = ?", (job_id,)
    )
    assert in_flight is not None and in_flight[0] == 0
    again = await harness.compose("alice can compose again")
    await harness.result_of(again)


def _bob(harness: Harness) -> Any:
    from bot.quota.models import Requester

    return Requester(
        user_id=harness.bob.id, guild_id=harness.guild.id, channel_id=harness.channel.id
    )


@pytest.mark.harness(env={"SHARD_COUNT": "2", "SHARD_IDS": "0"})
async def test_with_other_shards_elsewhere_only_old_orphans_are_released(harness: Harness) -> None:
    # Another process on the same database may be between reserving and writing its job row.
    await harness.bot.services.quota.ledger.reserve(_bob(harness), "another00001", "just now")
    await harness.restart()
    state = "SELECT state FROM quota_reservations WHERE job_id = 'another00001'"
    row = await harness.db.fetchone(state)
    assert row is not None and row[0] == "reserved"
    await harness.db.execute("UPDATE quota_reservations SET created_at = created_at - 61")
    await harness.restart()
    row = await harness.db.fetchone(state)
    assert row is not None and row[0] == "refunded"
