"""Stopping the engine: submissions in flight get a grace, everything else stops at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.aimlapi.models import PollResult
from bot.jobs.models import Job, JobRequest, JobState
from tests.bot.jobs.support import Harness, finished, open_harness, request


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path, stop_grace=0) as h:
        yield h


async def test_stop_lets_a_submission_in_flight_store_its_generation_id(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(stop_grace=5.0)
    job = await engine.enqueue(request())
    await harness.wait_until(lambda: len(harness.client.submits) == 1)

    stopping = asyncio.create_task(engine.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the submission, not cancelling it
    harness.client.submit_gate.set()
    await asyncio.wait_for(stopping, 2)

    row = await harness.store.get(job.id)
    assert row is not None and row.state is JobState.SUBMITTED and row.generation_id == "gen-1"
    assert harness.client.polls == []  # polling does not start during the grace

    second = await harness.started()
    done = await finished(second, job)
    assert done.state is JobState.COMPLETED and len(harness.client.submits) == 1


async def test_stop_cancels_a_submission_that_outlasts_the_grace(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(stop_grace=0.2)
    job = await engine.enqueue(request())
    await harness.wait_until(lambda: len(harness.client.submits) == 1)

    started = time.monotonic()
    await engine.stop()
    assert 0.15 <= time.monotonic() - started < 2
    row = await harness.store.get(job.id)
    assert row is not None and row.state is JobState.SUBMITTING  # honest: outcome unknown

    second = await harness.started()
    assert (await finished(second, job)).state is JobState.SUBMIT_UNKNOWN


async def test_stop_does_not_wait_for_polls_or_queued_jobs(harness: Harness) -> None:
    gate = asyncio.Event()

    async def stuck_poll(generation_id: str) -> PollResult:
        harness.client.polls.append(generation_id)
        harness.changed.set()
        await gate.wait()
        raise AssertionError("never answered")

    harness.client.poll = stuck_poll  # type: ignore[method-assign]
    engine = await harness.started(max_concurrent=1, stop_grace=30.0)
    polling = await engine.enqueue(request("first", "alice"))
    queued = await engine.enqueue(request("second", "bob"))
    await harness.wait_until(lambda: len(harness.client.polls) == 1)

    started = time.monotonic()
    await engine.stop()
    assert time.monotonic() - started < 1
    assert (await harness.store.get(polling.id)).state is JobState.SUBMITTED  # type: ignore[union-attr]
    assert (await harness.store.get(queued.id)).state is JobState.QUEUED  # type: ignore[union-attr]


async def test_stop_writes_the_poll_counts_kept_in_memory(harness: Harness) -> None:
    harness.client.poll_script.extend(["queued", "generating", "waiting"])
    gate = asyncio.Event()
    original_poll = harness.client.poll

    async def gated_poll(generation_id: str) -> PollResult:
        if len(harness.client.polls) >= 3:
            harness.client.polls.append(generation_id)
            harness.changed.set()
            await gate.wait()
        return await original_poll(generation_id)

    harness.client.poll = gated_poll  # type: ignore[method-assign]
    engine = await harness.started()
    job = await engine.enqueue(request())
    await harness.wait_until(lambda: len(harness.client.polls) == 4)
    row = await harness.store.get(job.id)
    assert row is not None and row.poll_count == 0  # polls are not written one by one

    await engine.stop()
    row = await harness.store.get(job.id)
    assert row is not None and row.state is JobState.SUBMITTED
    assert row.poll_count == 3 and row.provider_status == "waiting"


def test_reprs_never_show_the_context() -> None:
    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQtdG9rZW4"
    context = {"interaction_token": token, "application_id": "1"}
    job = Job(
        id="abc",
        state=JobState.QUEUED,
        prompt="calm piano",
        negative_prompt=None,
        seed=None,
        model="google/lyria2",
        requester_id="42",
        guild_id=None,
        channel_id=None,
        origin="discord",
        context=context,
        created_at=1.0,
        updated_at=1.0,
        deadline_at=2.0,
    )
    assert job.context["interaction_token"] == token  # still there, just not shown
    assert token not in repr(job) and token not in str(job)
    assert "calm piano" in repr(job)  # the rest of the repr is still useful
    assert token not in repr(JobRequest("calm piano", "42", context=context))


async def test_a_tick_over_many_jobs_lets_the_event_loop_run(harness: Harness) -> None:
    """Periodic progress for hundreds of jobs is spread over several loop passes."""
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(max_concurrent=1)
    for i in range(200):
        await engine.enqueue(request(f"piece {i}", f"user{i}"))
    passes = 0
    seen_at_pass: list[int] = []

    async def count_passes() -> None:
        nonlocal passes
        while True:
            await asyncio.sleep(0)
            passes += 1

    original = harness.recorder.on_progress

    async def recording(job: Job, progress: object) -> None:
        seen_at_pass.append(passes)
        await original(job, progress)  # type: ignore[arg-type]

    harness.recorder.on_progress = recording  # type: ignore[method-assign]
    counter = asyncio.create_task(count_passes())
    try:
        await engine.tick()
    finally:
        counter.cancel()
    assert len(seen_at_pass) == 199  # every queued job (the first one is submitting)
    assert seen_at_pass[-1] - seen_at_pass[0] >= 5  # not all in one pass
    harness.client.submit_gate.set()
