"""The engine tests' scripted provider, recording listener, fake clock and harness; what a
polling schedule sees of a generation (`polled`, for the learner's tests)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission, Usage
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, JobRequest, Observation, Phase, Progress
from bot.store.sqlite import SqliteStore

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class ScriptedClient:
    """Answers like LyriaClient, from scripts; records every call."""

    def __init__(self, changed: asyncio.Event, *, polls_until_done: int = 3) -> None:
        self.changed = changed
        self.polls_until_done = polls_until_done
        self.submits: list[GenerationRequest] = []
        self.polls: list[str] = []
        self.downloads: list[str] = []
        self.submit_script: deque[Exception] = deque()
        self.poll_script: deque[Exception | str] = deque()  # str: a pending status
        self.download_script: deque[Exception] = deque()
        self.submit_gate: asyncio.Event | None = None
        self.poll_counts: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.done: set[str] = set()

    async def submit(self, request: GenerationRequest) -> Submission:
        self.submits.append(request)
        generation_id = f"gen-{len(self.submits)}"  # numbered on arrival: several may wait
        self.changed.set()
        if self.submit_gate is not None:
            await self.submit_gate.wait()
        if self.submit_script:
            raise self.submit_script.popleft()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return Submission(generation_id, "queued", Usage(credits_used=5.0, headers={"x-a": "1"}))

    async def poll(self, generation_id: str) -> PollResult:
        self.polls.append(generation_id)
        if self.poll_script:
            step = self.poll_script.popleft()
            if isinstance(step, Exception):
                raise step
            return PollResult(generation_id, step, "pending")
        count = self.poll_counts[generation_id] = self.poll_counts.get(generation_id, 0) + 1
        if count < self.polls_until_done:
            return PollResult(generation_id, "generating", "pending")
        if generation_id not in self.done:
            self.done.add(generation_id)
            self.in_flight -= 1
        url = f"https://cdn.example/{generation_id}.wav"
        return PollResult(generation_id, "completed", "completed", audio_url=url)

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> DownloadedAudio:
        self.downloads.append(url)
        if self.download_script:
            raise self.download_script.popleft()
        await asyncio.to_thread(dest.write_bytes, WAV)
        return DownloadedAudio(dest, len(WAV), 1.5, "audio/wav", url)


class Recorder:
    """A listener and a credit ledger in one, remembering everything."""

    def __init__(self, changed: asyncio.Event) -> None:
        self.changed = changed
        self.progress: list[tuple[str, Progress]] = []
        self.finished: list[Job] = []
        self.commits: list[str] = []
        self.refunds: list[str] = []

    async def on_progress(self, job: Job, progress: Progress) -> None:
        self.progress.append((job.id, progress))
        self.changed.set()

    async def on_finished(self, job: Job) -> None:
        self.finished.append(job)
        self.changed.set()

    async def commit(self, job_id: str) -> None:
        self.commits.append(job_id)
        self.changed.set()

    async def refund(self, job_id: str) -> None:
        self.refunds.append(job_id)

    async def finish_ended(self) -> int:
        return 0

    def phases(self, job_id: str) -> list[Phase]:
        phases: list[Phase] = []
        for seen_id, progress in self.progress:
            if seen_id == job_id and (not phases or phases[-1] is not progress.phase):
                phases.append(progress.phase)
        return phases


class Harness:
    def __init__(self, sqlite: SqliteStore, tmp_path: Path) -> None:
        self.sqlite = sqlite
        self.db = sqlite.database
        self.store = sqlite.jobs
        self.tmp_path = tmp_path
        self.time = FakeTime()
        self.changed = asyncio.Event()  # set whenever the client or the recorder sees something
        self.client = ScriptedClient(self.changed)
        self.recorder = Recorder(self.changed)
        self.engines: list[JobEngine] = []

    def engine(self, **overrides: Any) -> JobEngine:
        options: dict[str, Any] = {
            "store": self.store,
            "client": self.client,
            "audio_dir": self.tmp_path / "audio",
            "model": "google/lyria2",
            "max_concurrent": 4,
            "generation_timeout": 600.0,
            "max_audio_bytes": 10_000,
            "ledger": self.recorder,
            "clock": self.time.clock,
            "sleep": self.time.sleep,
            "tick_interval": 3600.0,
            "stop_grace": 0.0,  # tests that stop mid-submission want it interrupted
        }
        options.update(overrides)
        engine = JobEngine(**options)
        engine.add_listener(self.recorder)
        self.engines.append(engine)
        return engine

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def started(self, **overrides: Any) -> JobEngine:
        engine = self.engine(**overrides)
        await engine.start()
        return engine


@contextlib.asynccontextmanager
async def open_harness(
    tmp_path: Path, *, stop_grace: float | None = None
) -> AsyncIterator[Harness]:
    """A harness on a fresh database; its engines are stopped (with `stop_grace`) at the end."""
    sqlite = await SqliteStore.open(tmp_path / "jobs.sqlite3")
    h = Harness(sqlite, tmp_path)
    try:
        yield h
    finally:
        for engine in h.engines:
            await (engine.stop() if stop_grace is None else engine.stop(grace=stop_grace))
        await sqlite.close()


def request(prompt: str = "calm piano", requester: str = "alice", **extra: Any) -> JobRequest:
    return JobRequest(prompt=prompt, requester_id=requester, **extra)


async def finished(engine: JobEngine, job: Job) -> Job:
    return await asyncio.wait_for(engine.wait_finished(job.id), 5)


def polled(
    rng: random.Random, duration: float, submitted_at: float, gap: float = 3.0
) -> Observation:
    """What a schedule polling every `gap` s (from a random offset) sees of one generation."""
    poll = rng.uniform(0.2, gap)
    last_pending = None
    while poll < duration:
        last_pending = poll
        poll += gap
    return Observation(submitted_at, last_pending or 0.0, poll)
