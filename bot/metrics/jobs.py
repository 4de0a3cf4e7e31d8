"""What the job engine's events and the job rows tell the metrics.

`JobMetrics` is a `JobListener`: each job that ends (or completes, ready for delivery) records
its state, poll count, generation time, error kind and detection lag. `MeteredJobs` wraps the
job repository the engine writes through and notes each delivery's overhead (completion
noticed → result posted) from the row `deliver` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Unpack

from bot.jobs.models import Delivery, Job, JobChanges, JobState, Observation, Origin, Progress
from bot.metrics.registry import BotMetrics
from bot.store.base import JobRepository

PollTimes = Callable[[str], float | None]


class JobMetrics:
    def __init__(self, metrics: BotMetrics, previous_poll: PollTimes | None = None) -> None:
        """`previous_poll(generation_id)`: when the poll before the last one started (the
        provider trace knows), for the detection-lag bound."""
        self._metrics = metrics
        self._previous_poll = previous_poll

    async def on_progress(self, job: Job, progress: Progress) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        m = self._metrics
        m.finished.labels(state=job.state.value).inc()
        if job.error_kind is not None:
            m.job_errors.labels(kind=job.error_kind.name.lower()).inc()
        noticed = job.provider_completed_at
        if noticed is None or job.state is not JobState.COMPLETED:
            return
        m.polls_per_job.observe(job.poll_count)
        if job.submitted_at is not None:
            m.generation.observe(max(0.0, noticed - job.submitted_at))
        if self._previous_poll is not None and job.generation_id is not None:
            before = self._previous_poll(job.generation_id)
            if before is not None:
                m.detection_lag.observe(max(0.0, noticed - before))


class MeteredJobs:
    """A `JobRepository` that notes each delivery's overhead, then does what `inner` does."""

    def __init__(self, inner: JobRepository, metrics: BotMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def deliver(self, job_id: str, delivery: Delivery, *, now: float) -> Job | None:
        job = await self._inner.deliver(job_id, delivery, now=now)
        if (
            job is not None
            and job.state is JobState.DELIVERED
            and job.delivered_at == now
            and job.provider_completed_at is not None
        ):
            self._metrics.delivery_overhead.observe(max(0.0, now - job.provider_completed_at))
        return job

    async def insert(self, job: Job) -> None:
        await self._inner.insert(job)

    async def get(self, job_id: str) -> Job | None:
        return await self._inner.get(job_id)

    async def transition(
        self,
        job_id: str,
        expected: JobState | Collection[JobState],
        new_state: JobState,
        *,
        now: float,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        return await self._inner.transition(job_id, expected, new_state, now=now, **changes)

    async def update(
        self,
        job_id: str,
        *,
        expected: JobState | Collection[JobState] | None = None,
        now: float,
        learn: Observation | None = None,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        return await self._inner.update(job_id, expected=expected, now=now, learn=learn, **changes)

    async def save_poll_counts(self, counts: Collection[tuple[str, int, str | None]]) -> None:
        await self._inner.save_poll_counts(counts)

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]:
        return await self._inner.unfinished(origins)

    async def count_by_state(self) -> dict[JobState, int]:
        return await self._inner.count_by_state()

    async def history(
        self, requester_id: str, guild_id: str | None, *, limit: int, offset: int = 0
    ) -> list[Job]:
        return await self._inner.history(requester_id, guild_id, limit=limit, offset=offset)

    async def unreported_failures(
        self, origins: Collection[Origin] | None, *, since: float
    ) -> list[Job]:
        return await self._inner.unreported_failures(origins, since=since)

    async def record_generation_time(self, job_id: str, seconds: float, *, now: float) -> None:
        await self._inner.record_generation_time(job_id, seconds, now=now)

    async def record_observation(
        self, job_id: str, observation: Observation, *, now: float
    ) -> None:
        await self._inner.record_observation(job_id, observation, now=now)

    async def generation_times(self) -> list[float]:
        return await self._inner.generation_times()

    async def generation_observations(self) -> list[Observation]:
        return await self._inner.generation_observations()
