"""The job engine's façade: queue, slots, resume after a restart, and the calls callers make.

Every job is a row (see `bot.store.base.JobRepository`); each transition is written, guarded by
the state it expects, *before* the engine acts on it, so after a crash the rows say exactly
where each job stood. In-process the engine keeps:

* a `FairQueue` of queued job ids (round-robin between requesters),
* at most `max_concurrent` job tasks, each a `JobRunner` run (submit, poll, download),
* a `JobBoard` with the latest row of every unfinished job, so progress needs no reads,
* one ticker task that sends periodic progress for waiting and running jobs,
* a `LeaseKeeper` (`leases.py`): the job leases this process holds, renewed by one task.

Several processes may share one database's jobs: a process claims a job's lease before it
runs it, takes over the jobs of a dead process once their leases expire, and leaves queued jobs
it cannot start at once claimable by the others (who hear of them through `JobSignals`, with
PostgreSQL's LISTEN/NOTIFY; the periodic check for expired leases is the only timer).

Poll counts and the provider's in-progress status live in memory and reach the row with the
job's next write (completion, failure, time-out, or `stop()`). Everything a restart acts on
(state, generation id, audio link) is written before it is acted on. `stop()` gives submissions
in flight a short grace to store their generation id, so a clean shutdown mid-submit does not
leave the job `submit_unknown`.

The engine never imports discord; listeners (the terminal, the Discord layer) turn progress
into output and call `mark_delivered` once the result reached the requester.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.jobs.dispatch import SharedDispatch
from bot.jobs.events import JobBoard, JobError, JobListener
from bot.jobs.fair_queue import FairQueue
from bot.jobs.learning import GenerationTimes, ScheduleFactory
from bot.jobs.leases import DEFAULT_LEASE_SECONDS, LeaseKeeper, new_owner_id
from bot.jobs.models import (
    Delivery,
    Job,
    JobRequest,
    JobState,
    Origin,
    Phase,
    Progress,
    Signal,
    new_job_id,
)
from bot.jobs.poll_schedule import PollSchedule
from bot.jobs.ports import CreditLedger, NoCreditLedger, ProviderClient
from bot.jobs.runner import JobRunner, RunnerLimits
from bot.store.base import JobRepository, JobSignals
from bot.tasks import TaskTracker

log = logging.getLogger(__name__)

# Failures older than this that were never reported are left alone at start (stale news).
UNREPORTED_FAILURES_SECONDS = 24 * 3600.0
_FINAL_PHASE = {JobState.CANCELLED: Phase.CANCELLED, JobState.TIMED_OUT: Phase.TIMED_OUT}

__all__ = ["EngineTuning", "JobEngine", "JobError"]


@dataclass(frozen=True)
class EngineTuning:
    """Timing knobs a deployment never needs, but tests and benchmarks do."""

    tick_interval: float = 2.0  # seconds between periodic progress events
    hold_seconds: float | None = None  # the cancel window; None: CANCEL_WINDOW_SECONDS
    schedule_factory: ScheduleFactory = PollSchedule.from_samples
    download_attempts: int = 3
    stop_grace: float = 5.0  # seconds stop() waits for submissions in flight


class JobEngine(SharedDispatch):
    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: JobRepository,
        client: ProviderClient,
        ledger: CreditLedger | None,
        resume_origins: Collection[Origin] | None = None,
        max_concurrent: int | None = None,
        tuning: EngineTuning = EngineTuning(),
        tasks: TaskTracker | None = None,
        signals: JobSignals | None = None,
    ) -> JobEngine:
        """The engine a deployment's settings describe (`max_concurrent` overrides theirs).
        On SQLite the process is the only one running its jobs (`sole`); on PostgreSQL it
        shares them with the others, hearing of new work through `signals`."""
        return cls(
            store=store,
            client=client,
            ledger=ledger,
            audio_dir=settings.audio_dir,
            model=settings.aimlapi_model,
            max_concurrent=max_concurrent or settings.max_concurrent_generations,
            generation_timeout=settings.generation_timeout_seconds,
            max_audio_bytes=settings.max_audio_bytes,
            resume_origins=resume_origins,
            hold_seconds=(
                settings.cancel_window_seconds
                if tuning.hold_seconds is None
                else tuning.hold_seconds
            ),
            tick_interval=tuning.tick_interval,
            schedule_factory=tuning.schedule_factory,
            download_attempts=tuning.download_attempts,
            stop_grace=tuning.stop_grace,
            tasks=tasks,
            lease_seconds=settings.job_lease_seconds,
            global_limit=settings.global_max_concurrent_generations,
            sole=settings.database_url.backend == "sqlite",
            signals=signals,
        )

    def __init__(
        self,
        *,
        store: JobRepository,
        client: ProviderClient,
        audio_dir: Path,
        model: str,
        max_concurrent: int,
        generation_timeout: float,
        max_audio_bytes: int,
        ledger: CreditLedger | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tick_interval: float = 2.0,
        resume_origins: Collection[Origin] | None = None,
        schedule_factory: ScheduleFactory = PollSchedule.from_samples,
        download_attempts: int = 3,
        rng: random.Random | None = None,
        stop_grace: float = 5.0,
        tasks: TaskTracker | None = None,
        hold_seconds: float = 0.0,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        global_limit: int | None = None,
        sole: bool = True,
        signals: JobSignals | None = None,
    ) -> None:
        """`resume_origins`: which jobs `start()` picks up (None: all; the bot passes Discord's
        so a terminal run sharing the database is left alone, and vice versa). `hold_seconds`:
        a new job waits this long before it may be sent (its cancel window). `sleep`, `clock`
        and `rng` are injectable so tests control time and jitter. `owner` names this process
        in the leases it holds (default: hostname-pid-random); `global_limit` caps active
        jobs across every process on the database; `sole`: no other process runs these jobs
        (SQLite), so every lease is ours to take; `signals`: how processes tell each other
        about claimable jobs (None: nobody to tell)."""
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._store = store
        self._model = model
        self._max_concurrent = max_concurrent
        self._timeout = generation_timeout
        self._clock = clock
        self._tick_interval = tick_interval
        self._resume_origins = resume_origins
        self._stop_grace = max(0.0, stop_grace)
        self._tasks = tasks if tasks is not None else TaskTracker()  # an empty one is falsy
        self._hold_seconds = max(0.0, hold_seconds)
        self._holds: dict[str, asyncio.TimerHandle] = {}  # jobs in their cancel window

        self._queue = FairQueue()
        self._board = JobBoard(self.progress_for)
        self._times = GenerationTimes(schedule_factory, clock)
        self._runner = JobRunner(
            store=store,
            client=client,
            ledger=ledger or NoCreditLedger(),
            board=self._board,
            times=self._times,
            limits=RunnerLimits(
                audio_dir=audio_dir,
                generation_timeout=generation_timeout,
                max_audio_bytes=max_audio_bytes,
                download_attempts=download_attempts,
            ),
            accepting=lambda: self._started,
            clock=clock,
            sleep=sleep,
            rng=rng or random.Random(),  # jitter only
        )
        self._running: dict[str, asyncio.Task[None]] = {}  # job tasks holding a slot
        self._started = False
        self._ticker: asyncio.Task[None] | None = None
        self._leases = LeaseKeeper(
            store,
            owner=owner or new_owner_id(),
            seconds=lease_seconds,
            clock=clock,
            sole=sole,
        )
        self._global_limit = None if sole else global_limit
        self._signals = signals
        self._keeper: asyncio.Task[None] | None = None
        self._adopted: set[str] = set()  # queued jobs found at start (others may hold them too)
        self._taken_over: set[str] = set()  # completed jobs picked up, not completed here
        self._pool_hint = False  # other processes' queued jobs may wait for a slot
        self._pool_claim: asyncio.Task[None] | None = None
        self._capped = False  # the global limit refused a claim: wait for capacity
        self._taking_over = False

    def add_listener(self, listener: JobListener) -> None:
        self._board.add_listener(listener)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the history, claim and resume unfinished jobs (those in flight whose lease is
        free or expired; queued ones join the queue, claimed when they get a slot) and start
        dispatching (add listeners first)."""
        if self._started:
            return
        self._times.load(await self._store.generation_observations())
        self._started = True
        since = self._clock() - UNREPORTED_FAILURES_SECONDS
        unreported = await self._store.unreported_failures(self._resume_origins, since=since)
        claimed = {job.id: job for job in await self._leases.claim_in_flight(self._resume_origins)}
        # Queued jobs join the queue, except (with other processes about) those still in the
        # cancel window of the process that took them: the table gives them out after it.
        held_since = math.inf if self._leases.sole else self._clock() - self._hold_seconds
        resumed = [
            claimed.pop(job.id, job)
            for job in await self._store.unfinished(self._resume_origins)
            if job.id in claimed or (job.state is JobState.QUEUED and job.created_at <= held_since)
        ]
        resumed.extend(claimed.values())  # moved on between the two reads
        for ended in unreported:
            # Ended while nobody was there to tell the requester (a crash right after).
            await self._board.finished(ended, _FINAL_PHASE.get(ended.state, Phase.FAILED))
        for job in resumed:
            await self._resume(job)
        self._ticker = self._tasks.spawn(self._tick_forever(), name="jobs-ticker", service=True)
        self._keeper = self._tasks.spawn(self._keep_leases(), name="job-leases", service=True)
        if self._signals is not None:
            await self._signals.listen(self._on_signal)
        self._pool_hint = not self._leases.sole
        self._dispatch()
        if resumed:
            log.info("resumed %d unfinished job(s)", len(resumed))

    async def stop(self, *, grace: float | None = None) -> None:
        """Cancel every in-process task. Rows stay as they are; the next start resumes them.

        Polls, sleeps and downloads are cancelled at once. Submissions in flight get up to
        `grace` seconds (default: the engine's `stop_grace`) to return and store their
        generation id; no new submission starts meanwhile. One still running after that is
        cancelled, and the next start marks it submit_unknown."""
        self._started = False
        grace = self._stop_grace if grace is None else max(0.0, grace)
        submitting = set(self._runner.submissions)
        for job_id, task in self._running.items():
            if job_id not in submitting:
                task.cancel()
        for service in (self._ticker, self._keeper, self._pool_claim):
            if service is not None:
                service.cancel()
        if submitting and grace > 0:
            log.info("waiting up to %.1f s for %d submission(s) in flight", grace, len(submitting))
            await asyncio.wait(list(self._runner.submissions.values()), timeout=grace)
        for handle in self._holds.values():
            handle.cancel()
        self._holds.clear()
        services = [task for task in (self._ticker, self._keeper, self._pool_claim) if task]
        tasks = [*self._running.values(), *services]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._runner.save_poll_counts()
        await self._release_leases()
        if self._signals is not None:
            await self._signals.close()
        self._running.clear()
        self._ticker = self._keeper = self._pool_claim = None
        self._adopted.clear()
        self._board.fail_waiters(None, JobError("the job engine stopped"))
        self._queue = FairQueue()
        self._board.clear()

    # -- requests --------------------------------------------------------------------------------

    async def enqueue(self, request: JobRequest) -> Job:
        now = self._clock()
        job = Job(
            id=request.job_id or new_job_id(),
            state=JobState.QUEUED,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            model=self._model,
            requester_id=request.requester_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            origin=request.origin,
            context=dict(request.context),
            created_at=now,
            updated_at=now,
            deadline_at=now + self._timeout,
        )
        # A job that will start at once is leased as it is written (one write, not two).
        runs_now = (
            self._hold_seconds <= 0
            and self._started
            and not self._queue
            and not self._capped
            and len(self._running) < self._max_concurrent
            and self._global_limit is None
        )
        await self._store.insert(job, lease=self._leases.lease_for(job.id) if runs_now else None)
        self._board.track(job, Phase.QUEUED)
        if self._hold_seconds > 0:
            loop = asyncio.get_running_loop()
            self._holds[job.id] = loop.call_later(self._hold_seconds, self._release, job)
        else:
            self._queue.push(job.id, job.requester_id)
        await self._board.progress(job, Phase.QUEUED)
        self._dispatch()
        if job.id in self._queue:  # not started at once: another process may
            self._announce(Signal(self._leases.owner, "work"))
        return job

    def _release(self, job: Job) -> None:
        """The cancel window is over: the job joins the queue (unless cancelled meanwhile)."""
        if self._holds.pop(job.id, None) is None or not self._started:
            return
        if self._board.phase(job.id) is Phase.QUEUED:
            self._queue.push(job.id, job.requester_id)
            self._dispatch()
            if job.id in self._queue:
                self._announce(Signal(self._leases.owner, "work"))

    async def cancel(self, job_id: str, *, by: str) -> bool:
        """Cancel a job that has not been submitted yet; False when it is too late (or unknown)."""
        job = await self._store.transition(
            job_id, JobState.QUEUED, JobState.CANCELLED, now=self._clock(), cancelled_by=by
        )
        if job is None:
            return False
        self._queue.remove(job_id)
        hold = self._holds.pop(job_id, None)
        if hold is not None:
            hold.cancel()
        await self._runner.refund(job_id)
        await self._board.finished(job, Phase.CANCELLED)
        self._announce(Signal(self._leases.owner, "taken", (job_id,)))
        self._dispatch()
        return True

    async def mark_delivered(self, job_id: str, delivery: Delivery) -> Job:
        """Record that the requester got the result (idempotent for a delivered job)."""
        current = await self._store.deliver(job_id, delivery, now=self._clock())
        if current is None:
            raise JobError(f"unknown job {job_id}")
        if current.state is not JobState.DELIVERED:
            raise JobError(f"job {job_id} is {current.state.value}, not completed")
        self._board.forget(job_id)
        self._taken_over.discard(job_id)
        return current

    def taken_over(self, job_id: str) -> bool:
        """The job was completed before this process picked it up (after a restart, or from a
        process that died): its result may already have been posted."""
        return job_id in self._taken_over

    @property
    def owner(self) -> str:
        """This process's name in the job leases it holds."""
        return self._leases.owner

    async def update_context(self, job_id: str, context: dict[str, Any]) -> Job:
        """Replace the origin adapter's context of a job (e.g. "the expiry notice was sent")."""
        job = await self._store.update(job_id, now=self._clock(), context=context)
        if job is None:
            raise JobError(f"unknown job {job_id}")
        tracked = self._board.tracked(job_id)
        if tracked is not None:
            # Only the context changed; the tracked row may hold poll counts not yet written.
            self._board.track(replace(tracked, context=job.context, updated_at=job.updated_at))
        return job

    async def note_failure_reported(self, job_id: str) -> None:
        """The requester has been told that the job failed."""
        await self._store.update(job_id, now=self._clock(), failure_reported_at=self._clock())

    async def get(self, job_id: str) -> Job | None:
        return await self._store.get(job_id)

    async def history(
        self, requester_id: str, guild_id: str | None, *, limit: int, offset: int = 0
    ) -> list[Job]:
        """The requester's delivered tracks in that server, newest first."""
        return await self._store.history(requester_id, guild_id, limit=limit, offset=offset)

    async def wait_finished(self, job_id: str) -> Job:
        """Return once the job is completed (ready to deliver) or final."""
        future = self._board.waiter(job_id)
        try:
            job = await self._store.get(job_id)
            if job is None:
                raise JobError(f"unknown job {job_id}")
            if job.state is JobState.COMPLETED or job.state.is_final:
                return job
            return await future
        finally:
            self._board.drop_waiter(job_id, future)

    def queue_position(self, job_id: str) -> int | None:
        return self._queue.position(job_id)

    def estimate_seconds(self) -> float:
        """The typical generation time (median of the learnt history, or of the prior)."""
        return self._times.typical()

    def expected_finish(self, requester_id: str) -> float | None:
        """When the requester's earliest unfinished job here should be ready (unix s)."""
        now = self._clock()
        ends = [
            now + (progress.estimate_remaining or 0.0)
            for job in self._board.in_phase(Phase.QUEUED, Phase.SUBMITTING, Phase.GENERATING)
            if job.requester_id == requester_id
            for progress in [self.progress_for(job, self._board.phase(job.id) or Phase.QUEUED)]
        ]
        return min(ends, default=None)

    @property
    def schedule(self) -> PollSchedule:
        return self._times.schedule

    @property
    def active_count(self) -> int:
        return len(self._running)

    @property
    def queued_count(self) -> int:
        return len(self._queue)

    # -- progress --------------------------------------------------------------------------------

    def progress_for(self, job: Job, phase: Phase) -> Progress:
        now = self._clock()
        position = self._queue.position(job.id) if phase is Phase.QUEUED else None
        estimate: float | None = None
        starts_at: float | None = None
        schedule = self._times.schedule
        if job.id in self._holds:
            starts_at = job.created_at + self._hold_seconds
            estimate = max(0.0, starts_at - now) + schedule.typical()
        elif phase is Phase.QUEUED:
            waves = math.ceil((position or 1) / self._max_concurrent)
            estimate = schedule.typical() * (waves + 0.5)
        elif phase in (Phase.SUBMITTING, Phase.GENERATING):
            since = now - job.submitted_at if job.submitted_at else 0.0
            estimate = schedule.expected_remaining(since)
        return Progress(
            job_id=job.id,
            phase=phase,
            elapsed=max(0.0, now - job.created_at),
            provider_status=job.provider_status,
            queue_position=position,
            estimate_remaining=estimate,
            starts_at=starts_at,
        )

    async def _tick_forever(self) -> None:
        while True:
            # Real time on purpose: an injected test `sleep` may move a fake clock.
            await asyncio.sleep(self._tick_interval)
            await self.tick()

    async def tick(self) -> None:
        """One round of periodic progress (and a fresh plan while generations run)."""
        self._times.current()
        await self._board.tick()
