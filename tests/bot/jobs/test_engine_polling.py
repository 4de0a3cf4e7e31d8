"""The engine's polling: early status checks, prompt progress, learning from what it saw, and
a plan rebuilt from new evidence reaching jobs already waiting."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.aimlapi.errors import GenerationFailed
from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission
from bot.jobs.engine import JobEngine
from bot.jobs.learning import RECHECK_SECONDS
from bot.jobs.models import Job, JobRequest, JobState, Phase, Progress
from bot.store.base import JobRepository
from bot.store.sqlite import SqliteStore
from tests.bot.jobs.support import FakeTime


@dataclass
class Generation:
    submitted_at: float
    starts_after: float  # seconds "queued" before "generating"
    takes: float  # seconds from submission to completion
    fails: bool = False
    polls: list[float] = field(default_factory=list)  # seconds after submission


class Provider:
    """Answers like LyriaClient: each submission takes the next (start, duration, fails)."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.next: deque[tuple[float, float, bool]] = deque()
        self.generations: dict[str, Generation] = {}

    async def submit(self, request: GenerationRequest) -> Submission:
        starts_after, takes, fails = self.next.popleft()
        generation_id = f"gen-{len(self.generations)}"
        self.generations[generation_id] = Generation(self.time.now, starts_after, takes, fails)
        return Submission(generation_id, "queued")

    async def poll(self, generation_id: str) -> PollResult:
        generation = self.generations[generation_id]
        elapsed = self.time.now - generation.submitted_at
        generation.polls.append(round(elapsed, 6))
        if elapsed >= generation.takes - 1e-9:
            if generation.fails:
                raise GenerationFailed("refused by the safety filter")
            url = f"https://cdn.invalid/{generation_id}.wav"
            return PollResult(generation_id, "completed", "completed", audio_url=url)
        status = "queued" if elapsed < generation.starts_after else "generating"
        return PollResult(generation_id, status, "pending")

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> DownloadedAudio:
        await asyncio.to_thread(dest.write_bytes, b"RIFF")
        return DownloadedAudio(dest, 4, None, "audio/wav", url)


class Listener:
    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.progress: list[tuple[float, Progress]] = []

    async def on_progress(self, job: Job, progress: Progress) -> None:
        self.progress.append((self.time.now, progress))

    async def on_finished(self, job: Job) -> None:
        return None


@dataclass
class Rig:
    time: FakeTime
    provider: Provider
    store: JobRepository
    tmp_path: Path

    async def engine(self, **options: Any) -> JobEngine:
        settings: dict[str, Any] = {
            "store": self.store,
            "client": self.provider,
            "audio_dir": self.tmp_path / "audio",
            "model": "google/lyria2",
            "max_concurrent": 1,
            "generation_timeout": 600.0,
            "max_audio_bytes": 1024,
            "clock": self.time.clock,
            "sleep": self.time.sleep,
            "tick_interval": 3600.0,
        }
        engine = JobEngine(**{**settings, **options})
        await engine.start()
        return engine

    async def run(
        self, engine: JobEngine, takes: float, *, starts_after: float = 0.0, fails: bool = False
    ) -> Job:
        self.provider.next.append((starts_after, takes, fails))
        job = await engine.enqueue(JobRequest(prompt="calm piano", requester_id="alice"))
        return await asyncio.wait_for(engine.wait_finished(job.id), 10)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sqlite = await SqliteStore.open(tmp_path / "jobs.sqlite3")
    time = FakeTime()
    yield Rig(time, Provider(time), sqlite.jobs, tmp_path)
    await sqlite.close()


def lag(job: Job, rig: Rig) -> float:
    assert job.generation_id is not None and job.provider_completed_at is not None
    generation = rig.provider.generations[job.generation_id]
    return job.provider_completed_at - (generation.submitted_at + generation.takes)


async def test_a_cold_engine_notices_short_generations_and_failures_within_seconds(
    rig: Rig,
) -> None:
    engine = await rig.engine()
    try:
        quick = await rig.run(engine, 2.0)
        assert quick.state is JobState.COMPLETED and lag(quick, rig) == pytest.approx(1.0)
        failed = await rig.run(engine, 0.0, fails=True)
        assert failed.state is JobState.FAILED
        assert failed.updated_at - (failed.submitted_at or 0) == pytest.approx(1.5)
        eight = await rig.run(engine, 8.0)
        assert lag(eight, rig) <= 2.0 + 0.3 + 1e-6  # the vendor loop's lag at 8 s is 2 s
    finally:
        await engine.stop()
    assert [g.polls for g in rig.provider.generations.values()][:2] == [[1.5, 3.0], [1.5]]


async def test_an_early_generating_status_reaches_listeners_at_once(rig: Rig) -> None:
    engine = await rig.engine()
    listener = Listener(rig.time)
    engine.add_listener(listener)
    try:
        job = await rig.run(engine, 40.0, starts_after=2.0)
    finally:
        await engine.stop()
    assert job.submitted_at is not None
    generating = [
        (moment - job.submitted_at, p)
        for moment, p in listener.progress
        if p.phase is Phase.GENERATING and p.provider_status == "generating"
    ]
    # Told once, by the second early poll, not again with every later poll.
    assert len(generating) == 1 and generating[0][0] == pytest.approx(3.0)
    assert generating[0][1].estimate_remaining is not None


async def test_what_the_polls_saw_is_stored_as_an_interval(rig: Rig) -> None:
    engine = await rig.engine()
    try:
        await rig.run(engine, 7.0, starts_after=2.0)
    finally:
        await engine.stop()
    (seen,) = await rig.store.generation_observations()
    polls = next(iter(rig.provider.generations.values())).polls
    assert polls[:2] == [1.5, 3.0]
    assert seen.lower == pytest.approx(polls[-2]) and seen.upper == pytest.approx(polls[-1])
    assert seen.started_after == pytest.approx(1.5) and seen.started_by == pytest.approx(3.0)


async def test_the_engine_learns_that_generations_got_faster(rig: Rig) -> None:
    for i in range(200):  # a history of 25-60 s generations
        await rig.store.record_generation_time(f"old{i}", 25.0 + (i * 7) % 35, now=rig.time.now)
    engine = await rig.engine()
    lags = []
    try:
        for i in range(30):
            lags.append(lag(await rig.run(engine, 5.0 + (i * 3) % 7), rig))
            rig.time.now += 30.0  # the next member comes along later
    finally:
        await engine.stop()
    assert max(lags[:3]) > 3.0  # first seen by the vendor-window poll at 10.3 s
    assert max(lags[-10:]) <= 2.0
    # A restart learns from the stored intervals, not from the times completion was seen.
    restarted = await rig.engine()
    try:
        assert sum(1 for t in restarted.schedule.plan if 4.0 <= t <= 12.0) >= 5
    finally:
        await restarted.stop()


async def test_a_job_waiting_for_its_next_poll_looks_at_the_schedule_again(rig: Rig) -> None:
    engine = await rig.engine()
    try:
        await rig.run(engine, 40.0)
    finally:
        await engine.stop()
    # Between polls the engine never sleeps longer than RECHECK_SECONDS at a time, yet it
    # polls no more often for it: a look that finds the plan unchanged just waits again.
    assert max(rig.time.sleeps) <= RECHECK_SECONDS + 1e-9
    polls = next(iter(rig.provider.generations.values())).polls
    assert len(polls) < len(rig.time.sleeps)
    assert any(b - a > RECHECK_SECONDS for a, b in itertools.pairwise(polls))
