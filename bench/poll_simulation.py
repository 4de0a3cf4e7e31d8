"""Polling in simulated time: the engine's schedule and learner against a model of the provider.

The engine's polling loop (bot/jobs/runner.py) reduced to its decisions: each job asks the
current schedule (the engine's `GenerationTimes`) for its next delay, polls, and on completion
hands it what it saw (its last in-progress poll and the poll that saw completion); jobs still
running inform the estimate too, and the schedule is rebuilt when `refresh_due` says so. Time is
simulated (a heap of events), so hours of polling take seconds. The provider is exact: a job of
T seconds is done T seconds after its submission, and answers take no time.

`engine_lags` runs the real JobEngine (SQLite store, scripted in-process client) on an injected
clock instead, to check that the engine polls exactly as simulated.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission
from bot.jobs.engine import JobEngine
from bot.jobs.learning import RECHECK_SECONDS, GenerationTimeLearner, GenerationTimes
from bot.jobs.models import JobRequest, JobState, Observation
from bot.jobs.poll_schedule import PollSchedule
from bot.store.sqlite import SqliteStore

VENDOR_PERIOD = 10.0


@dataclass(frozen=True)
class Outcome:
    duration: float
    lag: float  # noticed - finished (seconds)
    polls: int


def vendor_lag(duration: float, period: float = VENDOR_PERIOD) -> float:
    """The vendor example's loop polls at 0, 10, 20 … s: it notices T at 10·⌈T/10⌉."""
    return period * math.ceil(duration / period - 1e-12) - duration


def vendor_outcome(duration: float, period: float = VENDOR_PERIOD) -> Outcome:
    polls = math.ceil(duration / period - 1e-12) + 1  # the poll at 0 included
    return Outcome(duration, vendor_lag(duration, period), polls)


def cold_schedule() -> PollSchedule:
    """The schedule of an engine that has learnt nothing yet."""
    return PollSchedule.from_samples(GenerationTimeLearner().samples())


def lag_for(schedule: PollSchedule, duration: float) -> Outcome:
    """One job of `duration` seconds against a fixed schedule (nothing learnt while it runs:
    as in an engine running this one job alone, whose own running time is left out as an
    outlier)."""
    t, polls, last = 0.0, 0, None
    while t < duration - 1e-12:
        t += schedule.next_delay(t, last_poll=last)
        polls += 1
        last = t
    return Outcome(duration, t - duration, polls)


def worst_excess_over_vendor(
    schedule: PollSchedule, low: float, high: float
) -> tuple[float, float]:
    """The largest (lag - vendor lag) over every T in [low, high], and a T where it occurs.

    Both lags fall with slope -1 between their own polls, so their difference is constant on
    each piece between consecutive poll times of either; checking one T inside every piece
    (and the ends) covers every T exactly.
    """
    times = schedule.poll_times(high + 2 * VENDOR_PERIOD)
    vendor = [VENDOR_PERIOD * k for k in range(1, int(high // VENDOR_PERIOD) + 2)]
    breaks = sorted({low, high, *(t for t in (*times, *vendor) if low < t < high)})
    probes = [low, high, *((a + b) / 2 for a, b in itertools.pairwise(breaks))]
    worst, where = -math.inf, low
    for t in probes:
        excess = lag_for(schedule, t).lag - vendor_lag(t)
        if excess > worst:
            worst, where = excess, t
    return worst, where


@dataclass
class _Job:
    submitted: float
    duration: float
    polls: int = 0
    last_poll: float | None = None  # seconds after submission
    last_pending: float | None = None


class Simulation:
    """Jobs submitted at given times, polled on the learner's schedule, learning as they finish.

    The schedule comes from the engine's own `GenerationTimes` on the simulated clock, told
    what the runner tells it (in-progress answers, completions). The learner and the clock
    persist across `run` calls, so a second batch starts from what the first one taught (a
    shift). `schedule_factory` turns the learner's samples into a schedule, as the engine's does.
    """

    def __init__(
        self,
        learner: GenerationTimeLearner | None = None,
        *,
        schedule_factory: Callable[[Sequence[float]], PollSchedule] = PollSchedule.from_samples,
    ) -> None:
        self.now = 0.0
        self.times = GenerationTimes(schedule_factory, lambda: self.now, learner)
        self._batches = itertools.count()

    def run(self, jobs: Sequence[tuple[float, float]]) -> list[Outcome]:
        """`jobs`: (seconds from now to submission, generation seconds); outcomes in order."""
        start = self.now
        batch = next(self._batches)
        arrivals = sorted(
            ((start + at, index, duration) for index, (at, duration) in enumerate(jobs)),
            reverse=True,  # pop() takes the earliest
        )
        events: list[tuple[float, int, int, bool]] = []  # (time, tie-break, job, poll or look)
        order = itertools.count()
        states: dict[int, _Job] = {}
        outcomes: dict[int, Outcome] = {}

        def plan_next(index: int, job: _Job) -> None:
            """As the runner: poll when the schedule says, or look again after a while."""
            elapsed = self.now - job.submitted
            delay = self.times.current().next_delay(elapsed, last_poll=job.last_poll)
            if delay > RECHECK_SECONDS:
                heapq.heappush(events, (self.now + RECHECK_SECONDS, next(order), index, False))
            else:
                heapq.heappush(events, (self.now + delay, next(order), index, True))

        while arrivals or events:
            if arrivals and (not events or arrivals[-1][0] <= events[0][0]):
                at, index, duration = arrivals.pop()
                self.now = at
                states[index] = _Job(at, duration)
                plan_next(index, states[index])
                continue
            when, _, index, poll = heapq.heappop(events)
            self.now = when
            job = states[index]
            if not poll:
                plan_next(index, job)
                continue
            elapsed = when - job.submitted
            job.polls += 1
            job.last_poll = elapsed
            key = f"{batch}-{index}"
            if elapsed >= job.duration - 1e-9:
                outcomes[index] = Outcome(job.duration, elapsed - job.duration, job.polls)
                seen = Observation(job.submitted, job.last_pending or 0.0, elapsed)
                self.times.stopped(key)
                self.times.learn(key, seen)
                continue
            job.last_pending = elapsed
            self.times.still_running(key, submitted_at=job.submitted, seen_at=when)
            plan_next(index, job)
        return [outcomes[i] for i in range(len(jobs))]


class _ManualTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class _ExactProvider:
    """A LyriaClient stand-in: each job is done `duration` seconds after its submission."""

    def __init__(self, time: _ManualTime, duration: float) -> None:
        self.time = time
        self.duration = duration
        self.submitted: dict[str, float] = {}

    async def submit(self, request: GenerationRequest) -> Submission:
        generation_id = f"gen-{len(self.submitted)}"
        self.submitted[generation_id] = self.time.now
        return Submission(generation_id, "queued")

    async def poll(self, generation_id: str) -> PollResult:
        if self.time.now - self.submitted[generation_id] >= self.duration - 1e-9:
            url = f"https://cdn.invalid/{generation_id}.wav"
            return PollResult(generation_id, "completed", "completed", audio_url=url)
        return PollResult(generation_id, "generating", "pending")

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> DownloadedAudio:
        await asyncio.to_thread(dest.write_bytes, b"RIFF")
        return DownloadedAudio(dest, 4, None, "audio/wav", url)


async def engine_lags(durations: Sequence[float]) -> list[Outcome]:
    """Each duration as the only job of a fresh (cold) JobEngine on an injected clock."""
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="poll-sim-") as tmp:
        for index, duration in enumerate(durations):
            time = _ManualTime()
            sqlite = await SqliteStore.open(Path(tmp) / f"{index}.sqlite3")
            provider = _ExactProvider(time, duration)
            engine = JobEngine(
                store=sqlite.jobs,
                client=provider,
                audio_dir=Path(tmp) / "audio",
                model="google/lyria2",
                max_concurrent=1,
                generation_timeout=3600.0,
                max_audio_bytes=1024,
                clock=time.clock,
                sleep=time.sleep,
                tick_interval=3600.0,
            )
            await engine.start()
            try:
                job = await engine.enqueue(JobRequest(prompt="sweep", requester_id="bench"))
                done = await engine.wait_finished(job.id)
            finally:
                await engine.stop()
                await sqlite.close()
            if done.state is not JobState.COMPLETED or done.provider_completed_at is None:
                raise RuntimeError(f"the engine did not complete a {duration} s job")
            assert done.generation_id is not None
            ready = provider.submitted[done.generation_id] + duration
            outcomes.append(Outcome(duration, done.provider_completed_at - ready, done.poll_count))
    return outcomes
