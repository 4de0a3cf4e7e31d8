"""Restarts against the real LyriaClient and the fake AI/ML API over loopback.

A job survives a stop/start on the same database file: it is polled to completion by the new
engine, never submitted twice, and finished exactly once; a job caught mid-submission becomes
submit_unknown without any new POST.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.aimlapi.client import LyriaClient
from bot.jobs.engine import JobEngine
from bot.jobs.models import (
    Delivery,
    DeliveryVia,
    ErrorKind,
    Job,
    JobRequest,
    JobState,
    Phase,
    Progress,
)
from bot.jobs.poll_schedule import PollSchedule
from bot.store.sqlite import SqliteStore
from tests.fakes.aimlapi import FakeAimlApi

DELIVERED = Delivery(DeliveryVia.CHANNEL, message_id=1, channel_id=2)


class Listener:
    def __init__(self) -> None:
        self.finished: list[Job] = []
        self.phases: list[tuple[str, Phase]] = []
        self.changed = asyncio.Event()

    async def on_progress(self, job: Job, progress: Progress) -> None:
        self.phases.append((job.id, progress.phase))
        self.changed.set()

    async def on_finished(self, job: Job) -> None:
        self.finished.append(job)
        self.changed.set()

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def fast_schedule(history: object) -> PollSchedule:
    """Generations in these tests take about a second; poll on that scale."""
    return PollSchedule((0.8, 1.0, 1.2), target_lag=0.1)


class Rig:
    def __init__(self, api: FakeAimlApi, session: aiohttp.ClientSession, tmp_path: Path) -> None:
        self.api = api
        self.session = session
        self.tmp_path = tmp_path
        self.db_path = tmp_path / "bot.sqlite3"
        self.listener = Listener()
        self.open: list[tuple[JobEngine, SqliteStore]] = []

    async def engine(self) -> JobEngine:
        db = await SqliteStore.open(self.db_path)
        client = LyriaClient(self.session, api_key="test-key", base_url=self.api.base_url)
        engine = JobEngine(
            store=db.jobs,
            client=client,
            audio_dir=self.tmp_path / "audio",
            model="google/lyria2",
            max_concurrent=2,
            generation_timeout=60.0,
            max_audio_bytes=10 * 1024 * 1024,
            schedule_factory=fast_schedule,
        )
        engine.add_listener(self.listener)
        self.open.append((engine, db))
        await engine.start()
        return engine

    async def shut(self, engine: JobEngine) -> None:
        for pair in list(self.open):
            if pair[0] is engine:
                await engine.stop()
                await pair[1].close()
                self.open.remove(pair)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with FakeAimlApi(generation_seconds=1.0) as api, aiohttp.ClientSession() as session:
        r = Rig(api, session, tmp_path)
        yield r
        for engine, db in list(r.open):
            await engine.stop()
            await db.close()
        assert api.schema_errors == []


async def test_a_submitted_job_completes_once_after_a_restart(rig: Rig) -> None:
    first = await rig.engine()
    job = await first.enqueue(JobRequest(prompt="lofi rain", requester_id="alice", seed=3))
    await rig.listener.wait_until(lambda: (job.id, Phase.GENERATING) in rig.listener.phases)
    await rig.shut(first)
    assert len(rig.api.submissions) == 1
    assert rig.listener.finished == []

    rig.listener.phases.clear()
    second = await rig.engine()
    assert rig.listener.phases[0] == (job.id, Phase.GENERATING)  # told at once on resume
    done = await asyncio.wait_for(second.wait_finished(job.id), 10)
    assert done.state is JobState.COMPLETED
    assert done.audio_path is not None
    data = await asyncio.to_thread(Path(done.audio_path).read_bytes)
    assert data == rig.api.audio
    assert done.audio_duration_seconds == pytest.approx(1.0, abs=0.01)
    assert len(rig.api.submissions) == 1
    assert rig.api.submissions[0]["seed"] == 3
    assert [j.id for j in rig.listener.finished] == [job.id]
    assert rig.api.cdn_downloads == 1
    assert done.provider_completed_at is not None
    assert done.provider_completed_at >= rig.api.ready_at(done.generation_id or "")

    await second.mark_delivered(job.id, DELIVERED)
    await rig.shut(second)
    third = await rig.engine()
    await asyncio.sleep(0.05)
    assert [j.id for j in rig.listener.finished] == [job.id]  # delivered: not told again
    assert third.active_count == 0


async def test_a_job_caught_mid_submission_becomes_submit_unknown_without_a_post(
    rig: Rig,
) -> None:
    db = await SqliteStore.open(rig.db_path)
    store = db.jobs
    job = await JobEngine(
        store=store,
        client=LyriaClient(rig.session, api_key="test-key", base_url=rig.api.base_url),
        audio_dir=rig.tmp_path / "audio",
        model="google/lyria2",
        max_concurrent=1,
        generation_timeout=60.0,
        max_audio_bytes=1024 * 1024,
    ).enqueue(JobRequest(prompt="crash here", requester_id="bob"))
    # What a crash between "submitting" and the provider's answer leaves behind:
    await store.transition(job.id, JobState.QUEUED, JobState.SUBMITTING, now=job.created_at)
    await db.close()

    engine = await rig.engine()
    done = await asyncio.wait_for(engine.wait_finished(job.id), 5)
    assert done.state is JobState.SUBMIT_UNKNOWN
    assert done.error_kind is ErrorKind.INTERRUPTED
    assert [j.id for j in rig.listener.finished] == [job.id]
    assert [r for r in rig.api.requests if r.method == "POST"] == []


async def test_a_completed_undelivered_job_is_offered_again_after_a_restart(rig: Rig) -> None:
    first = await rig.engine()
    job = await first.enqueue(JobRequest(prompt="ambient", requester_id="carol"))
    done = await asyncio.wait_for(first.wait_finished(job.id), 10)
    assert done.state is JobState.COMPLETED
    await rig.shut(first)  # crashed before delivering

    second = await rig.engine()
    await rig.listener.wait_until(lambda: len(rig.listener.finished) == 2)
    assert [j.id for j in rig.listener.finished] == [job.id, job.id]
    assert rig.listener.finished[1].audio_path == done.audio_path
    assert len(rig.api.submissions) == 1 and rig.api.cdn_downloads == 1
    assert (await second.mark_delivered(job.id, DELIVERED)).state is JobState.DELIVERED


async def test_a_provider_failure_reaches_the_listener_with_its_reason(rig: Rig) -> None:
    rig.api.fail_generation(shape="name", message="prompt flagged by the safety filter")
    engine = await rig.engine()
    job = await engine.enqueue(JobRequest(prompt="something", requester_id="dave"))
    done = await asyncio.wait_for(engine.wait_finished(job.id), 10)
    assert done.state is JobState.FAILED and done.error_kind is ErrorKind.PROVIDER_FAILED
    assert done.error_detail and "safety filter" in done.error_detail
