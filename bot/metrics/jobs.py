"""What the job engine's events and the job rows tell the metrics.

`JobMetrics` is a `JobListener`: each job that ends (or completes, ready for delivery) records
its state, poll count, generation time, error kind and detection lag. `MeteredJobs` wraps the
job repository the engine writes through and notes each delivery's overhead (completion
noticed → result posted) from the row `deliver` returns.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.jobs.models import Delivery, Job, JobState, Progress
from bot.metrics.registry import BotMetrics
from bot.store.base import JobRepository
from bot.store.forwarding import ForwardingJobs

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


class MeteredJobs(ForwardingJobs):
    """A `JobRepository` that notes each delivery's overhead, then does what `inner` does."""

    def __init__(self, inner: JobRepository, metrics: BotMetrics) -> None:
        super().__init__(inner)
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
