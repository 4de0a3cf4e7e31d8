"""The bot killed (SIGKILL) at the exact moments where a crash used to lose or repeat something,
then started again on the same database: each track is still delivered once or its failure
told once, with one submission, the credit as the rules say, and the member's slot free.

Every test runs `python -m bot` twice against the fakes; a fake's `on_request` hook kills the
first process at the chosen request, before the bot can see the answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.audio_support import same_audio
from tests.conftest import job_id_of
from tests.crash_support import CrashWorld, crash_world
from tests.fakes.aimlapi import FakeAimlApi, RecordedRequest, make_wav
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.fakes.discord.routes import WEBHOOK_MESSAGE
from tests.fakes.discord.wire import RecordedRequest as DiscordRequest
from tests.fakes.hooks import RequestHook

pytestmark = pytest.mark.slow

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
READY = "track is ready"
COULD_NOT_MAKE = "could not make this track"
EPHEMERAL = 1 << 6
ONE_PER_MEMBER = {"MEMBER_MAX_IN_FLIGHT": "1"}


def is_result_post(request: DiscordRequest) -> bool:
    """The result message (it carries the track's Re-roll button), by whichever route."""
    return request.method == "POST" and "jam:reroll:" in json.dumps(request.body)


def edits_status_to(text: str) -> Callable[[DiscordRequest], bool]:
    def matches(request: DiscordRequest) -> bool:
        body = request.body if isinstance(request.body, dict) else {}
        return request.method == "PATCH" and text in str(body.get("content") or "")

    return matches


def is_public_defer(request: DiscordRequest) -> bool:
    body = request.body if isinstance(request.body, dict) else {}
    flags = int((body.get("data") or {}).get("flags") or 0)
    return request.template == CALLBACK and body.get("type") == 5 and not flags & EPHEMERAL


def results(world: CrashWorld) -> list[FakeMessage]:
    return [m for m in world.channel.messages if not m.deleted and READY in m.content]


def job_ids(world: CrashWorld) -> list[str]:
    return [str(row[0]) for row in world.query("SELECT id FROM jobs ORDER BY created_at")]


async def accepted(interaction: FakeInteraction) -> None:
    """The bot took the request: a public "thinking…" (a refusal is an ephemeral reply)."""
    ack = await interaction.wait_for_ack(timeout=5)
    assert ack["type"] == 5, ack


async def test_killed_after_discord_stored_the_result_it_is_posted_once(tmp_path: Path) -> None:
    async with crash_world(tmp_path, ONE_PER_MEMBER) as world:
        first = await world.start_bot()
        hook = world.discord.on_request(is_result_post, first.kill)
        interaction = await world.compose("posted once")
        await first.exited()
        assert hook.fired == 1
        [result] = results(world)  # stored by Discord; the bot never saw the answer
        job_id = job_id_of(result)
        assert world.query("SELECT state FROM jobs") == [("completed",)]

        second = await world.start_bot()
        await interaction.wait_for_original(lambda m: m.deleted, timeout=20)  # replaced
        await second.stop()
        assert results(world) == [result]  # found, not posted again
        assert world.query("SELECT state, result_message_id FROM jobs WHERE id = ?", job_id) == [
            ("delivered", result.id)
        ]
        assert len(world.api.submissions) == 1
        assert world.reservation(job_id) == ("committed", 0)  # spent, and the slot is free
        assert "posted before the restart" in second.log
        world.check_clean()


@pytest.mark.parametrize(
    "moment",
    ["the poll that says it failed", "the status edit that would tell the member"],
)
async def test_killed_as_the_generation_fails_the_member_is_told_once(
    tmp_path: Path, moment: str
) -> None:
    async with crash_world(tmp_path, ONE_PER_MEMBER) as world:
        world.api.fail_generation(None, message="flagged by the safety filter")
        first = await world.start_bot()
        hook: RequestHook[Any]
        if moment == "the poll that says it failed":

            def says_failed(request: RecordedRequest) -> bool:
                job = world.api.jobs.get(request.query.get("generation_id", ""))
                return job is not None and job.status == "error"

            hook = world.api.on_request(says_failed, first.kill)
        else:  # the job is written "failed"; the edit never reaches Discord
            hook = world.discord.on_request(
                edits_status_to(COULD_NOT_MAKE),
                first.kill,
                when="before",
            )
        interaction = await world.compose("a prompt the provider refuses")
        await first.exited()
        assert hook.fired == 1
        [job_id] = job_ids(world)
        # Killed before the bot knew, or after it wrote "failed" but before anyone was told.
        crashed_in = "submitted" if moment == "the poll that says it failed" else "failed"
        assert world.query("SELECT state, failure_reported_at FROM jobs") == [(crashed_in, None)]
        status = await interaction.wait_for_original()
        assert COULD_NOT_MAKE not in status.content

        second = await world.start_bot()
        await status.wait_until(lambda m: COULD_NOT_MAKE in m.content, timeout=20)
        await second.stop()
        assert "flagged by the safety filter" in status.content
        told = [b for b in status.history if COULD_NOT_MAKE in str(b.get("content"))]
        assert len(told) == 1
        [(state, reported_at)] = world.query(
            "SELECT state, failure_reported_at FROM jobs WHERE id = ?", job_id
        )
        assert state == "failed" and reported_at is not None  # a third start stays quiet
        # The provider took (and charged) the job: the credit stays spent, as the member is told.
        assert "It used one track of your allowance" in status.content
        assert world.reservation(job_id) == ("committed", 0)
        assert len(world.api.submissions) == 1
        world.check_clean()


async def test_killed_between_delivered_and_ending_the_reservation_the_slot_is_free(
    tmp_path: Path,
) -> None:
    async with crash_world(tmp_path, ONE_PER_MEMBER) as world:
        first = await world.start_bot()
        # After the job is marked delivered the status message is removed, then the
        # reservation ended: the removal is the moment in between.
        hook = world.discord.on_request(
            lambda r: r.method == "DELETE" and r.template == WEBHOOK_MESSAGE, first.kill
        )
        interaction = await world.compose("the first of two")
        await first.exited()
        assert hook.fired == 1
        [result] = results(world)
        job_id = job_id_of(result)
        assert world.query("SELECT state FROM jobs") == [("delivered",)]
        assert world.reservation(job_id) == ("committed", 1)  # still "composing"

        second = await world.start_bot()
        again = await world.compose("the second, at once")
        await accepted(again)
        await again.wait_for_followup(lambda m: READY in m.content, timeout=20)
        await second.stop()
        assert world.reservation(job_id) == ("committed", 0)
        first_result, second_result = results(world)
        assert first_result is result and job_id_of(second_result) != job_id
        assert interaction.original is not None and interaction.original.deleted
        world.check_clean()


async def test_killed_between_reserving_and_writing_the_job_the_credit_comes_back_at_once(
    tmp_path: Path,
) -> None:
    limits = {**ONE_PER_MEMBER, "MEMBER_LIMIT_PER_WINDOW": "1"}
    async with crash_world(tmp_path, limits) as world:
        first = await world.start_bot()
        # /compose reserves, then answers with a public "thinking…", then writes the job row.
        # (A private one would come before the reservation, when that is slow.)
        hook = world.discord.on_request(is_public_defer, first.kill)
        await world.compose("reserved, never written")
        await first.exited()
        assert hook.fired == 1
        assert world.query("SELECT COUNT(*) FROM jobs") == [(0,)]
        [(orphan, state)] = world.query("SELECT job_id, state FROM quota_reservations")
        assert state == "reserved"

        second = await world.start_bot()
        # Released during start-up, not by a start 120 s later.
        assert world.reservation(orphan) == ("refunded", 0)
        again = await world.compose("the one allowed track")  # the allowance is whole again
        await accepted(again)
        await again.wait_for_followup(lambda m: READY in m.content, timeout=20)
        await second.stop()
        assert len(world.api.submissions) == 1
        world.check_clean()


async def test_killed_mid_download_no_partial_file_stays_and_the_track_comes_once(
    tmp_path: Path,
) -> None:
    # Big enough that the bot writes part of it to disk before the rest arrives.
    audio = make_wav(20.0, rate=48000, channels=2)  # 3.8 MB
    async with crash_world(tmp_path, ONE_PER_MEMBER, api=FakeAimlApi(audio=audio)) as world:
        world.api.cdn_mode = "stall"
        world.api.cdn_stall_bytes = 2 * 1024 * 1024
        first = await world.start_bot()
        interaction = await world.compose("interrupted download")
        await world.api.wait_for(lambda: world.api.cdn_downloads == 1, within=20)
        [partial] = await _partial_file_appears(world)
        await first.kill()
        await first.exited()
        assert partial.exists()  # what SIGKILL leaves behind

        world.api.cdn_mode = "ok"
        second = await world.start_bot()
        result = await interaction.wait_for_followup(lambda m: READY in m.content, timeout=30)
        await interaction.wait_for_original(lambda m: m.deleted, timeout=10)
        await second.stop()
        assert results(world) == [result]
        assert same_audio(result.attachments[0].data, audio)
        assert world.partial_downloads() == []
        assert world.api.cdn_downloads == 2 and len(world.api.submissions) == 1
        assert world.query("SELECT state FROM jobs") == [("delivered",)]
        world.check_clean()


async def _partial_file_appears(world: CrashWorld) -> list[Path]:
    """The download's partial file, once the bot has written some of it (a file system
    condition, checked until it holds)."""
    async with asyncio.timeout(20):
        while True:
            found = [p for p in world.partial_downloads() if p.stat().st_size > 0]
            if found:
                return found
            await asyncio.sleep(0.02)


async def test_killed_after_the_api_took_the_submission_it_is_never_sent_again(
    tmp_path: Path,
) -> None:
    async with crash_world(tmp_path, ONE_PER_MEMBER) as world:
        first = await world.start_bot()
        hook = world.api.on_request(lambda r: r.method == "POST", first.kill)
        interaction = await world.compose("did it arrive?")
        await first.exited()
        assert hook.fired == 1 and len(world.api.jobs) == 1  # the provider has the job
        [job_id] = job_ids(world)
        assert world.query("SELECT state FROM jobs") == [("submitting",)]

        second = await world.start_bot()
        status = await interaction.wait_for_original(
            lambda m: "can't tell whether" in m.content, timeout=20
        )
        again = await world.compose("the slot is free again")
        await accepted(again)
        await again.wait_for_followup(lambda m: READY in m.content, timeout=20)
        await second.stop()
        assert "did not send it again" in status.content
        assert "It may have used one track of your allowance" in status.content
        assert [body["prompt"] for body in world.api.submissions] == [
            "did it arrive?",
            "the slot is free again",
        ]
        [(state, reported_at)] = world.query(
            "SELECT state, failure_reported_at FROM jobs WHERE id = ?", job_id
        )
        assert state == "submit_unknown" and reported_at is not None
        # Maybe charged: the credit stays reserved (counted, never refunded); the slot is free.
        assert world.reservation(job_id) == ("reserved", 0)
        world.check_clean()
