"""How the engine starts jobs and shares them with other processes on the same database.

A job runs only under this process's lease: a queued job is claimed when it gets a slot (or
leased as it is written, when it starts at once). A queued job this process cannot start stays
claimable by the others, who hear of it (`work`) and claim it from the table, fairly; a claim
from the table tells the others (`taken`) so they drop it from their queues. A stopping process
releases its leases (`released`), and one that dies stops renewing them: either way another
process takes its jobs in flight over and resumes them where they were. The renewal task's
check for expired leases, once per lease time, is the only timer.

`SharedDispatch` is part of `JobEngine` (engine.py), split out to keep each module small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from bot.jobs.events import JobBoard, JobError
from bot.jobs.fair_queue import FairQueue
from bot.jobs.leases import LeaseKeeper
from bot.jobs.models import ErrorKind, Job, JobState, Origin, Phase, Signal
from bot.jobs.runner import JobRunner
from bot.store.base import JobRepository, JobSignals
from bot.tasks import TaskTracker

log = logging.getLogger(__name__)


class SharedDispatch:
    """The engine's dispatching and leases; the engine sets these attributes."""

    _store: JobRepository
    _runner: JobRunner
    _board: JobBoard
    _queue: FairQueue
    _tasks: TaskTracker
    _leases: LeaseKeeper
    _signals: JobSignals | None
    _running: dict[str, asyncio.Task[None]]
    _max_concurrent: int
    _global_limit: int | None
    _hold_seconds: float
    _resume_origins: Collection[Origin] | None
    _started: bool
    _capped: bool  # the global limit refused a claim: wait for capacity
    _pool_hint: bool  # other processes' queued jobs may wait for a slot
    _pool_claim: asyncio.Task[None] | None
    _taking_over: bool
    _adopted: set[str]  # queued jobs found at start (others may hold them too)
    _taken_over: set[str]  # completed jobs picked up, not completed here

    _clock: Callable[[], float]

    def _dispatch(self) -> None:
        """Start queued jobs while there are free slots (each claimed first); with slots still
        free, claim queued jobs other processes could not start."""
        while self._started and len(self._running) < self._max_concurrent and not self._capped:
            job_id = self._queue.pop()
            if job_id is None:
                break
            self._start_job(job_id, self._run_claimed(job_id))
        if (
            self._pool_hint
            and self._started
            and not self._capped
            and self._pool_claim is None
            and len(self._running) < self._max_concurrent
        ):
            self._pool_claim = self._tasks.spawn(self._claim_pool(), name="jobs-claim")

    async def _run_claimed(self, job_id: str) -> None:
        if job_id in self._leases.held:  # leased when it was written
            await self._runner.run_queued(job_id)
            return
        job = await self._leases.claim(job_id, active_limit=self._global_limit)
        if job is None:
            current = await self._store.get(job_id) if self._global_limit is not None else None
            if current is not None and current.state is JobState.QUEUED and job_id in self._board:
                # The global limit is reached: back in the queue until capacity frees up.
                self._capped = True
                self._queue.push(job_id, current.requester_id)
            else:  # another process has it, or it ended
                self._board.forget(job_id)
                self._adopted.discard(job_id)
            return
        if job_id in self._adopted:  # other processes may have found it at their start too
            self._adopted.discard(job_id)
            self._announce(Signal(self._leases.owner, "taken", (job_id,)))
        await self._runner.run_queued(job_id)

    async def _claim_pool(self) -> None:
        """Claim queued jobs past their cancel window that no process started, fairly."""
        try:
            free = self._max_concurrent - len(self._running)
            if free <= 0:
                return
            jobs = await self._leases.claim_queued(
                free,
                origins=self._resume_origins,
                created_before=self._clock() - self._hold_seconds,
                active_limit=self._global_limit,
            )
            if len(jobs) < free:
                self._pool_hint = False
            started: list[str] = []
            extra: list[str] = []
            for job in jobs:
                if not self._started or len(self._running) >= self._max_concurrent:
                    extra.append(job.id)
                    continue
                if job.id in self._running:
                    continue
                self._queue.remove(job.id)
                self._board.track(job, Phase.QUEUED)
                self._start_job(job.id, self._runner.run_queued(job.id))
                started.append(job.id)
            if started:
                self._announce(Signal(self._leases.owner, "taken", tuple(started)))
            if extra:
                await self._leases.release(extra)
                self._announce(Signal(self._leases.owner, "work"))
        finally:
            self._pool_claim = None
        self._dispatch()

    def _start_job(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            task = self._tasks.spawn(work, name=f"job-{job_id}")
        except RuntimeError:  # the tracker closed under us: the row waits for the next start
            log.info("job %s not started: the task tracker is closed", job_id)
            return
        self._running[job_id] = task
        task.add_done_callback(lambda t: self._job_task_done(job_id, t))

    def _job_task_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(job_id) is task:
            del self._running[job_id]
        if not (self._capped and job_id in self._queue):  # not a refusal of the global limit
            self._capped = False
            if self._global_limit is not None and not self._queue:
                self._announce(Signal(self._leases.owner, "work"))  # capacity for the others
        if not task.cancelled() and task.exception() is not None:
            # A bug, not a provider failure (the task tracker logged it): the row keeps its
            # state (a restart resumes it), but nobody may wait forever on this process.
            self._board.forget(job_id)
            self._board.fail_waiters(job_id, JobError(f"job {job_id} stopped on an internal error"))
        self._dispatch()

    async def _resume(self, job: Job) -> None:
        if job.id in self._board or job.id in self._running:  # ours already
            return
        if job.state is JobState.QUEUED:
            self._board.track(job, Phase.QUEUED)
            self._queue.push(job.id, job.requester_id)
            if not self._leases.sole:
                self._adopted.add(job.id)
        elif job.state is JobState.SUBMITTING:
            # We crashed mid-submission: the provider may or may not have the job. Never resubmit.
            unknown = await self._store.transition(
                job.id,
                JobState.SUBMITTING,
                JobState.SUBMIT_UNKNOWN,
                now=self._clock(),
                error_kind=ErrorKind.INTERRUPTED,
            )
            if unknown is not None:
                await self._board.finished(unknown, Phase.FAILED)
        elif job.state is JobState.SUBMITTED:
            await self._runner.commit(job.id)
            phase = Phase.DOWNLOADING if job.audio_url else Phase.GENERATING
            self._board.track(job, phase)
            await self._board.progress(job, phase)
            self._start_job(job.id, self._runner.run_submitted(job))
        elif job.state is JobState.COMPLETED:
            self._taken_over.add(job.id)
            self._board.track(job, Phase.COMPLETED)
            await self._board.finished(job, Phase.COMPLETED)

    # -- leases and the other processes ----------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew the leases every third of their time; every lease time, take over the jobs
        whose lease expired (the only timer: new work is announced by signals)."""
        rounds = 0
        while True:
            await asyncio.sleep(self._leases.seconds / 3)  # real time, like the ticker
            try:
                for job_id in await self._leases.renew():
                    await self._lost(job_id)
            except Exception:
                log.exception("could not renew the job leases")
            rounds += 1
            if self._leases.sole or rounds % 3:
                continue
            try:
                if self._signals is not None:
                    await self._signals.listen(self._on_signal)  # again if the connection died
                await self._take_over()
            except Exception:
                log.exception("could not look for jobs to take over")

    async def _lost(self, job_id: str) -> None:
        """A lease was not renewed: the job ended, or (ours having expired) another process
        took it, whose work then wins. A submission in flight is left to finish: the state
        guards decide."""
        task = self._running.get(job_id)
        if task is None or job_id in self._runner.submissions:
            return
        current = await self._store.get(job_id)
        if current is not None and not current.state.is_final and self._running.get(job_id):
            log.warning("job %s: lease lost to another process; leaving it to them", job_id)
            task.cancel()
            self._board.forget(job_id)

    async def _take_over(self) -> None:
        """Resume the jobs in flight whose lease is free or expired, and look for queued ones."""
        if not self._started:
            return
        self._taking_over = True
        try:
            jobs = await self._leases.claim_in_flight(self._resume_origins)
            for job in jobs:
                await self._resume(job)
        finally:
            self._taking_over = False
        if jobs:
            log.info("took over %d job(s) whose lease had expired or been released", len(jobs))
        # A dead process may have ended a job but not yet its reservation: free the slot.
        await self._runner.finish_ended()
        self._pool_hint = True
        self._capped = False
        self._dispatch()

    def _on_signal(self, signal: Signal) -> None:
        if signal.sender == self._leases.owner or not self._started:
            return
        if signal.kind == "taken":
            for job_id in signal.job_ids:
                if job_id not in self._running and self._queue.remove(job_id):
                    self._board.forget(job_id)
                    self._adopted.discard(job_id)
        elif signal.kind == "work":  # a queued job nobody started
            self._pool_hint = True
            self._capped = False
            self._dispatch()
        elif signal.kind == "released" and not self._taking_over:  # a process stopped
            self._spawn_quietly(self._take_over(), "jobs-take-over")

    def _announce(self, signal: Signal) -> None:
        if self._signals is not None and self._started:
            self._spawn_quietly(self._signals.notify(signal), "jobs-notify")

    def _spawn_quietly(self, work: Coroutine[Any, Any, None], name: str) -> None:
        with contextlib.suppress(RuntimeError):  # the tracker is closing: nobody needs it
            self._tasks.spawn(work, name=name)

    async def _release_leases(self) -> None:
        """On stop: give up the leases so other processes take the jobs over at once — except
        completed jobs', whose delivery may still be finishing here (they wait for expiry)."""
        keep = {job.id for job in self._board.in_phase(Phase.COMPLETED)}
        try:
            released = await self._leases.release(self._leases.held - keep)
        except Exception:
            log.exception("could not release the job leases; they expire by themselves")
            return
        if released and self._signals is not None:
            try:
                await self._signals.notify(Signal(self._leases.owner, "released"))
            except Exception:
                log.exception("could not tell the other processes about released jobs")
