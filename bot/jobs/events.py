"""Who hears about jobs: listeners (the Discord layer, the terminal) and `wait_finished` callers.

`JobBoard` keeps the latest known row and phase of every unfinished job handled in this process,
so progress needs no database reads, and sends each listener every progress event and, once
per job and process, its end (`on_finished`). A failing listener is logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from bot.jobs.models import Job, JobState, Phase, Progress

log = logging.getLogger(__name__)

# Periodic progress calls started per event-loop pass.
TICK_CHUNK = 20
_TICKING = (Phase.QUEUED, Phase.GENERATING)


class JobListener(Protocol):
    """What the Discord layer (or the terminal) registers with the engine."""

    async def on_progress(self, job: Job, progress: Progress) -> None:
        """Called on every phase change and periodically while a job waits or runs."""

    async def on_finished(self, job: Job) -> None:
        """Called once the job reaches completed/failed/cancelled/timed_out/submit_unknown,
        and again after a restart for jobs that were completed but not yet delivered."""


class JobError(Exception):
    """A request the engine cannot honour (unknown job, wrong state); the message says why."""


class JobBoard:
    def __init__(self, describe: Callable[[Job, Phase], Progress]) -> None:
        """`describe` turns a job and its phase into a progress event (positions, estimates)."""
        self._describe = describe
        self._listeners: list[JobListener] = []
        self._jobs: dict[str, Job] = {}
        self._phases: dict[str, Phase] = {}
        self._waiters: dict[str, list[asyncio.Future[Job]]] = {}

    def add_listener(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    # -- the tracked rows ----------------------------------------------------------------------

    def track(self, job: Job, phase: Phase | None = None) -> None:
        """Remember `job` (in `phase`, or the phase it had)."""
        self._jobs[job.id] = job
        self._phases[job.id] = phase or self._phases.get(job.id, Phase.GENERATING)

    def forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._phases.pop(job_id, None)

    def tracked(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def phase(self, job_id: str) -> Phase | None:
        return self._phases.get(job_id)

    def in_phase(self, *phases: Phase) -> list[Job]:
        return [job for job_id, job in self._jobs.items() if self._phases.get(job_id) in phases]

    def submitted(self) -> list[Job]:
        """Jobs the provider is generating (their poll counts may not be written yet)."""
        return [job for job in self._jobs.values() if job.state is JobState.SUBMITTED]

    def clear(self) -> None:
        self._jobs.clear()
        self._phases.clear()

    # -- telling -------------------------------------------------------------------------------

    async def progress(self, job: Job, phase: Phase) -> None:
        if not self._listeners:
            return
        event = self._describe(job, phase)
        for listener in list(self._listeners):
            try:
                await listener.on_progress(job, event)
            except Exception:
                log.exception("listener %r failed on_progress for job %s", listener, job.id)

    async def finished(self, job: Job, phase: Phase) -> None:
        """Tell listeners and waiters that the job is completed or final.

        Called once per successful transition (and once per start for completed-undelivered
        jobs), so listeners hear about each job once per process."""
        self.forget(job.id)
        if job.state is JobState.COMPLETED:
            self.track(job, Phase.COMPLETED)  # kept until delivered
        await self.progress(job, phase)
        for listener in list(self._listeners):
            try:
                await listener.on_finished(job)
            except Exception:
                log.exception("listener %r failed on_finished for job %s", listener, job.id)
        self._settle(job.id, result=job)

    async def tick(self) -> None:
        """One round of periodic progress for every waiting or generating job."""
        ticking = [(job, self._phases[job.id]) for job in self.in_phase(*_TICKING)]
        # Started a few at a time with a loop pass in between: hundreds of listener calls
        # started at once would all run in one pass and stall everything else (loop lag).
        emitting: list[asyncio.Task[None]] = []
        for index, (job, phase) in enumerate(ticking, start=1):
            emitting.append(asyncio.create_task(self.progress(job, phase)))
            if index % TICK_CHUNK == 0:
                await asyncio.sleep(0)
        if emitting:
            await asyncio.gather(*emitting)

    # -- waiters -------------------------------------------------------------------------------

    def waiter(self, job_id: str) -> asyncio.Future[Job]:
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        return future

    def drop_waiter(self, job_id: str, future: asyncio.Future[Job]) -> None:
        waiting = self._waiters.get(job_id)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._waiters[job_id]

    def fail_waiters(self, job_id: str | None, error: JobError) -> None:
        """Fail the waiters of one job (None: of every job)."""
        for key in [job_id] if job_id is not None else list(self._waiters):
            self._settle(key, error=error)

    def _settle(
        self, job_id: str, *, result: Job | None = None, error: JobError | None = None
    ) -> None:
        for future in self._waiters.pop(job_id, []):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            elif result is not None:
                future.set_result(result)
