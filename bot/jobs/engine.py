"""The job engine: durable jobs, a fair queue, adaptive polling and resume after a restart.

Every job is a row (bot/store/jobs.py). Each transition is written, guarded by the state it
expects, *before* the engine acts on it; so after a crash the rows say exactly where each job
stood. In-process the engine keeps:

* a `FairQueue` of queued job ids (round-robin between requesters),
* at most `max_concurrent` job tasks (submitting, generating or downloading),
* one ticker task that sends periodic progress for waiting and running jobs,
* the latest known row of every unfinished job, so progress needs no database reads.

Poll counts and the provider's in-progress status live in memory and reach the row with the
job's next write (completion, failure, time-out, or `stop()`): a crash loses the counts since the
last write, which only makes `poll_count` a little low. Everything a restart acts on (state,
generation id, audio link) is still written before it is acted on.

`stop()` gives submissions in flight a short grace (`stop_grace`) to store their generation id,
so a clean shutdown mid-submit does not leave the job `submit_unknown`.

The engine never imports discord; listeners (the terminal, the Discord cog) turn progress into
output and call `mark_delivered` once the audio reached the requester.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from bot.aimlapi.errors import (
    AimlApiError,
    AmbiguousSubmission,
    BadRequest,
    DownloadError,
    GenerationFailed,
    RateLimited,
)
from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission
from bot.config import Settings
from bot.jobs.fair_queue import FairQueue
from bot.jobs.models import (
    CreditLedger,
    Job,
    JobListener,
    JobRequest,
    JobState,
    NoCreditLedger,
    Phase,
    Progress,
    new_job_id,
)
from bot.jobs.poll_schedule import PollSchedule, survival_samples
from bot.store.jobs import DEFAULT_HISTORY_LIMIT as HISTORY_LIMIT
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)

_ACTIVE = (JobState.SUBMITTING, JobState.SUBMITTED)
_EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
}
_LINK_ONLY_REASONS = frozenset({"too_large", "not_audio", "gone"})
_PROVIDER_MESSAGE_LIMIT = 300
# Below this many learnt generation times the schedule pools them with the vendor prior.
MIN_HISTORY = 20
# While generations run, the plan is rebuilt at least this often (running jobs inform it).
REPLAN_SECONDS = 10.0
# Periodic progress calls started per event-loop pass.
TICK_CHUNK = 20


class LyriaClientLike(Protocol):
    """What the engine needs from bot.aimlapi.client.LyriaClient."""

    async def submit(self, request: GenerationRequest) -> Submission: ...

    async def poll(self, generation_id: str) -> PollResult: ...

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> DownloadedAudio: ...


class JobError(Exception):
    """A request the engine cannot honour (unknown job, wrong state); the message says why."""


class JobEngine:
    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: JobStore,
        client: LyriaClientLike,
        ledger: CreditLedger | None,
        **options: Any,
    ) -> JobEngine:
        """The engine a deployment's settings describe; `options` override or add to them
        (e.g. the terminal's max_concurrent=1)."""
        values: dict[str, Any] = {
            "audio_dir": settings.audio_dir,
            "model": settings.aimlapi_model,
            "max_concurrent": settings.max_concurrent_generations,
            "generation_timeout": settings.generation_timeout_seconds,
            "max_audio_bytes": settings.max_audio_bytes,
        }
        values.update(options)
        return cls(store=store, client=client, ledger=ledger, **values)

    def __init__(
        self,
        *,
        store: JobStore,
        client: LyriaClientLike,
        audio_dir: Path,
        model: str,
        max_concurrent: int,
        generation_timeout: float,
        max_audio_bytes: int,
        ledger: CreditLedger | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tick_interval: float = 2.0,
        resume_origins: frozenset[str] | None = None,
        schedule_factory: Callable[[Sequence[float]], PollSchedule] = PollSchedule.from_history,
        download_attempts: int = 3,
        rng: random.Random | None = None,
        stop_grace: float = 5.0,
    ) -> None:
        """`resume_origins`: which jobs `start()` picks up (None: all; the bot passes
        {"discord"} so a terminal run sharing the database is left alone, and vice versa).
        `schedule_factory` builds the poll schedule from the learnt generation times.
        `sleep`, `clock` and `rng` are injectable so tests control time and jitter.
        `stop_grace`: seconds `stop()` waits for submissions in flight to return."""
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._store = store
        self._client = client
        self._audio_dir = audio_dir
        self._model = model
        self._max_concurrent = max_concurrent
        self._timeout = generation_timeout
        self._max_audio_bytes = max_audio_bytes
        self._ledger: CreditLedger = ledger or NoCreditLedger()
        self._clock = clock
        self._sleep = sleep
        self._tick_interval = tick_interval
        self._resume_origins = resume_origins
        self._schedule_factory = schedule_factory
        self._download_attempts = max(1, download_attempts)
        self._rng = rng or random.Random()  # jitter only
        self._stop_grace = max(0.0, stop_grace)
        self._audio_dir_ready = False

        self._listeners: list[JobListener] = []
        self._queue = FairQueue()
        self._jobs: dict[str, Job] = {}  # latest row of every unfinished job we handle
        self._phases: dict[str, Phase] = {}
        self._running: dict[str, asyncio.Task[None]] = {}  # job tasks holding a slot
        # Jobs between "about to mark submitting" and "submission outcome stored": stop() waits
        # for these futures (up to the grace) before cancelling.
        self._submits: dict[str, asyncio.Future[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._waiters: dict[str, list[asyncio.Future[Job]]] = {}
        self._history: list[float] = []
        self._learnt_since_refresh = 0
        self._refreshed_at = 0.0
        self._schedule = schedule_factory([])
        self._started = False
        self._ticker: asyncio.Task[None] | None = None

    # -- listeners -------------------------------------------------------------------------------

    def add_listener(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: JobListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the history, resume unfinished jobs and start dispatching (add listeners first)."""
        if self._started:
            return
        self._history = await self._store.generation_times()
        self._refresh_schedule()
        self._started = True
        resumed = await self._store.unfinished(self._resume_origins)
        for job in resumed:
            await self._resume(job)
        self._ticker = self._spawn(self._tick_forever(), name="jobs-ticker")
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
        submitting = set(self._submits)
        for job_id, task in self._running.items():
            if job_id not in submitting:
                task.cancel()
        for task in self._background:
            task.cancel()
        if submitting and grace > 0:
            log.info("waiting up to %.1f s for %d submission(s) in flight", grace, len(submitting))
            await asyncio.wait(list(self._submits.values()), timeout=grace)
        tasks = [*self._running.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._save_poll_counts()
        self._submits.clear()
        self._running.clear()
        self._background.clear()
        self._ticker = None
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(JobError("the job engine stopped"))
        self._waiters.clear()
        self._queue = FairQueue()
        self._jobs.clear()
        self._phases.clear()

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
        await self._store.insert(job)
        self._track(job, Phase.QUEUED)
        self._queue.push(job.id, job.requester_id)
        await self._emit_progress(job, Phase.QUEUED)
        self._dispatch()
        return job

    async def cancel(self, job_id: str, *, by: str) -> bool:
        """Cancel a job that has not been submitted yet; False when it is too late (or unknown)."""
        job = await self._store.transition(
            job_id, JobState.QUEUED, JobState.CANCELLED, now=self._clock(), cancelled_by=by
        )
        if job is None:
            return False
        self._queue.remove(job_id)
        await self._refund(job_id)
        await self._finish(job, Phase.CANCELLED, "The request was cancelled.")
        self._dispatch()
        return True

    async def mark_delivered(self, job_id: str, **context_updates: Any) -> Job:
        """Record that the requester got the result (idempotent for a delivered job).

        The context merge and the state change are one transaction."""
        current = await self._store.deliver(job_id, context_updates, now=self._clock())
        if current is None:
            raise JobError(f"unknown job {job_id}")
        if current.state is not JobState.DELIVERED:
            raise JobError(f"job {job_id} is {current.state.value}, not completed")
        self._forget(job_id)
        return current

    async def update_context(self, job_id: str, **updates: Any) -> Job:
        job = await self._store.merge_context(job_id, updates, now=self._clock())
        if job is None:
            raise JobError(f"unknown job {job_id}")
        tracked = self._jobs.get(job_id)
        if tracked is not None:
            # Only the context changed; the tracked row may hold poll counts not yet written.
            self._jobs[job_id] = replace(tracked, context=job.context, updated_at=job.updated_at)
        return job

    async def get(self, job_id: str) -> Job | None:
        return await self._store.get(job_id)

    async def wait_finished(self, job_id: str) -> Job:
        """Return once the job is completed (ready to deliver) or final."""
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        try:
            job = await self._store.get(job_id)
            if job is None:
                raise JobError(f"unknown job {job_id}")
            if job.state is JobState.COMPLETED or job.state.is_final:
                return job
            return await future
        finally:
            waiting = self._waiters.get(job_id)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[job_id]

    def queue_position(self, job_id: str) -> int | None:
        return self._queue.position(job_id)

    def estimate_seconds(self) -> float | None:
        """The typical generation time (median of the learnt history, or of the prior)."""
        return self._schedule.typical()

    @property
    def schedule(self) -> PollSchedule:
        return self._schedule

    @property
    def active_count(self) -> int:
        return len(self._running)

    @property
    def queued_count(self) -> int:
        return len(self._queue)

    # -- dispatching -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start queued jobs while there are free slots."""
        while self._started and len(self._running) < self._max_concurrent:
            job_id = self._queue.pop()
            if job_id is None:
                return
            self._start_job(job_id, self._run_queued(job_id))

    def _start_job(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"job-{job_id}")
        self._running[job_id] = task
        task.add_done_callback(lambda t: self._job_task_done(job_id, t))

    def _job_task_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(job_id) is task:
            del self._running[job_id]
        error = None if task.cancelled() else task.exception()
        if error is not None:
            # A bug, not a provider failure: the row keeps its state (a restart resumes it),
            # but nobody may wait forever on this process.
            log.error("job %s crashed", job_id, exc_info=error)
            self._forget(job_id)
            for future in self._waiters.pop(job_id, []):
                if not future.done():
                    future.set_exception(JobError(f"job {job_id} stopped on an internal error"))
        self._dispatch()

    def _spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def _resume(self, job: Job) -> None:
        if job.id in self._jobs:  # enqueued in this process before start(): already queued
            return
        if job.state is JobState.QUEUED:
            self._track(job, Phase.QUEUED)
            self._queue.push(job.id, job.requester_id)
        elif job.state is JobState.SUBMITTING:
            # We crashed mid-submission: the provider may or may not have the job. Never resubmit.
            unknown = await self._store.transition(
                job.id,
                JobState.SUBMITTING,
                JobState.SUBMIT_UNKNOWN,
                now=self._clock(),
                error_kind="Interrupted",
                error_message=AmbiguousSubmission.user_message,
            )
            if unknown is not None:
                await self._finish(unknown, Phase.FAILED, unknown.error_message)
        elif job.state is JobState.SUBMITTED:
            await self._commit(job.id)
            phase = Phase.DOWNLOADING if job.audio_url else Phase.GENERATING
            self._track(job, phase)
            await self._emit_progress(job, phase)
            self._start_job(job.id, self._run_submitted(job))
        elif job.state is JobState.COMPLETED:
            self._track(job, Phase.COMPLETED)
            await self._finish(job, Phase.COMPLETED, None)

    # -- one job ---------------------------------------------------------------------------------

    async def _run_queued(self, job_id: str) -> None:
        settled = asyncio.get_running_loop().create_future()
        self._submits[job_id] = settled
        try:
            submitted = await self._mark_and_submit(job_id)
        finally:
            self._submits.pop(job_id, None)
            if not settled.done():
                settled.set_result(None)
        if submitted is not None and self._started:  # when stopping, the next start polls
            await self._run_submitted(submitted)

    async def _mark_and_submit(self, job_id: str) -> Job | None:
        submitting = await self._store.transition(
            job_id, JobState.QUEUED, JobState.SUBMITTING, now=self._clock()
        )
        if submitting is None:  # cancelled meanwhile
            return None
        if not self._started:
            # stop() began while the row was written: do not send a request now; the job stays
            # queued for the next start.
            await self._store.transition(
                job_id, JobState.SUBMITTING, JobState.QUEUED, now=self._clock()
            )
            return None
        self._track(submitting, Phase.SUBMITTING)
        await self._emit_progress(submitting, Phase.SUBMITTING)
        return await self._submit(submitting)

    async def _submit(self, job: Job) -> Job | None:
        request = GenerationRequest(
            prompt=job.prompt, negative_prompt=job.negative_prompt, seed=job.seed
        )
        try:
            submission = await self._client.submit(request)
        except AmbiguousSubmission as exc:
            log.warning("job %s: submission ambiguous (%s); not retried", job.id, exc)
            await self._end(job, JobState.SUBMITTING, JobState.SUBMIT_UNKNOWN, exc, refund=False)
            return None
        except AimlApiError as exc:
            log.warning("job %s: submission refused: %s", job.id, exc)
            await self._end(job, JobState.SUBMITTING, JobState.FAILED, exc, refund=True)
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # An unexpected failure may have happened after the request was sent: be safe.
            log.exception("job %s: submission failed unexpectedly", job.id)
            wrapped = AmbiguousSubmission(f"unexpected submission failure: {exc!r}")
            await self._end(
                job, JobState.SUBMITTING, JobState.SUBMIT_UNKNOWN, wrapped, refund=False
            )
            return None
        now = self._clock()
        # Shielded: once the provider has the job, its id must reach the row even if the engine
        # is being stopped at this very moment (otherwise a restart would call it unknown).
        submitted = await asyncio.shield(
            self._store.transition(
                job.id,
                JobState.SUBMITTING,
                JobState.SUBMITTED,
                now=now,
                generation_id=submission.generation_id,
                provider_status=submission.status,
                submitted_at=now,
                deadline_at=now + self._timeout,
                credits_used=submission.usage.credits_used,
                usage_headers=dict(submission.usage.headers),
            )
        )
        if submitted is None:
            log.error("job %s: state changed during submission; generation id not stored", job.id)
            return None
        await self._commit(job.id)
        self._track(submitted, Phase.GENERATING)
        await self._emit_progress(submitted, Phase.GENERATING)
        return submitted

    async def _run_submitted(self, job: Job) -> None:
        if job.audio_url is None:
            polled = await self._poll_until_done(job)
            if polled is None:
                return
            job = polled
        await self._download(job)

    async def _poll_until_done(self, job: Job) -> Job | None:
        """Poll on the adaptive schedule until completion; None when the job ended otherwise."""
        assert job.generation_id is not None and job.submitted_at is not None
        submitted_at = job.submitted_at
        errors = 0
        retry_delay = 0.0
        last_pending_at: float | None = None  # when the provider last said "not yet"
        last_poll_at: float | None = None
        while True:
            now = self._clock()
            if now >= job.deadline_at:
                await self._time_out(job)
                return None
            if errors:
                delay = retry_delay
            else:
                last = None if last_poll_at is None else last_poll_at - submitted_at
                delay = self._schedule.next_delay(now - submitted_at, last_poll=last)
            await self._sleep(max(0.0, min(delay, job.deadline_at - now)))
            last_poll_at = self._clock()
            try:
                result = await self._client.poll(job.generation_id)
            except GenerationFailed as exc:
                job = self._count_poll(job, "error")
                await self._end(job, JobState.SUBMITTED, JobState.FAILED, exc, refund=False)
                return None
            except AimlApiError as exc:
                job = self._count_poll(job, None)
                if not exc.transient:
                    await self._end(job, JobState.SUBMITTED, JobState.FAILED, exc, refund=False)
                    return None
                errors += 1
                retry_delay = self._backoff(errors, exc)
                log.info("job %s: poll failed (%s); retrying in %.1f s", job.id, exc, retry_delay)
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                job = self._count_poll(job, None)
                errors += 1
                retry_delay = self._backoff(errors, None)
                log.exception("job %s: unexpected poll failure; retrying", job.id)
                continue
            errors = 0
            noticed = self._clock()
            if result.state != "completed":
                last_pending_at = noticed
                job = self._count_poll(job, result.status)
                continue
            # The completion happened between the last "pending" answer and this one. A random
            # point in between (not the midpoint) keeps the learnt distribution smooth instead of
            # clustered on the poll times it was measured with. With no such answer (first poll,
            # or resumed) only the upper bound is known.
            if last_pending_at is None:
                duration = noticed - submitted_at
            else:
                duration = self._rng.uniform(last_pending_at, noticed) - submitted_at
            duration = max(0.0, duration)
            # One transaction: the link (so a restart downloads instead of polling again), the
            # poll count kept in memory so far, and the learnt generation time.
            completed = await self._store.update(
                job.id,
                expected=JobState.SUBMITTED,
                now=noticed,
                learn_seconds=duration,
                poll_count=job.poll_count + 1,
                provider_status=result.status,
                provider_completed_at=noticed,
                audio_url=result.audio_url,
            )
            if completed is None:
                return None
            self._learn(duration)
            self._track(completed, Phase.DOWNLOADING)
            if result.audio_url is None:
                missing = GenerationFailed("completed without an audio URL")
                await self._end(completed, JobState.SUBMITTED, JobState.FAILED, missing, False)
                return None
            await self._emit_progress(completed, Phase.DOWNLOADING)
            return completed

    def _count_poll(self, job: Job, status: str | None) -> Job:
        """Count one poll request (answered or not) and note the provider's status if known.

        In memory only: the job's next write (or `stop()`) persists them. The context comes
        from the tracked row, which `update_context` keeps current."""
        tracked = self._jobs.get(job.id)
        updated = replace(
            job,
            poll_count=job.poll_count + 1,
            provider_status=job.provider_status if status is None else status,
            context=job.context if tracked is None else tracked.context,
        )
        self._track(updated, self._phases.get(job.id, Phase.GENERATING))
        return updated

    async def _save_poll_counts(self) -> None:
        """On stop: write the in-memory poll counts of jobs still generating."""
        counts = [
            (job.id, job.poll_count, job.provider_status)
            for job in self._jobs.values()
            if job.state is JobState.SUBMITTED and job.poll_count
        ]
        if not counts:
            return
        try:
            await self._store.save_poll_counts(counts)
        except Exception:
            log.exception("could not save the poll counts of %d job(s)", len(counts))

    def _backoff(self, errors: int, exc: AimlApiError | None) -> float:
        """Exponential backoff with full jitter, at least the provider's Retry-After."""
        ceiling = min(30.0, 1.0 * 2 ** min(errors, 6))
        delay = self._rng.uniform(ceiling / 2, ceiling)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    async def _download(self, job: Job) -> None:
        assert job.audio_url is not None
        dest = self._audio_dir / f"{job.id}{_guess_extension(job.audio_url)}"
        failure: AimlApiError | None = None
        for attempt in range(1, self._download_attempts + 1):
            if not self._audio_dir_ready:  # not one thread hop per job; again after a failure
                await asyncio.to_thread(self._audio_dir.mkdir, parents=True, exist_ok=True)
                self._audio_dir_ready = True
            try:
                audio = await self._client.download(
                    job.audio_url, dest, max_bytes=self._max_audio_bytes
                )
            except DownloadError as exc:
                failure = exc
                if exc.reason in _LINK_ONLY_REASONS or not exc.transient:
                    break
            except AimlApiError as exc:
                failure = exc
                if not exc.transient:
                    break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job %s: unexpected download failure", job.id)
                failure = DownloadError(f"unexpected: {exc!r}", reason="network")
            else:
                await self._complete_with_audio(job, audio)
                return
            self._audio_dir_ready = False  # in case the folder was removed meanwhile
            if attempt < self._download_attempts:
                log.info("job %s: download failed (%s); retrying", job.id, failure)
                await self._sleep(self._backoff(attempt, failure))
        assert failure is not None
        log.warning("job %s: download failed (%s); delivering the link only", job.id, failure)
        reason = getattr(failure, "reason", "error")
        note = {
            "too_large": "The audio is too large to download; here is its link instead.",
            "not_audio": "The result did not look like audio; here is its link instead.",
            "gone": "The audio link no longer works.",
        }.get(reason, "The audio could not be downloaded; here is its link instead.")
        completed = await self._store.transition(
            job.id,
            JobState.SUBMITTED,
            JobState.COMPLETED,
            now=self._clock(),
            completed_at=self._clock(),
            error_kind=type(failure).__name__,
            error_message=note,
        )
        if completed is not None:
            await self._finish(completed, Phase.COMPLETED, note)

    async def _complete_with_audio(self, job: Job, audio: DownloadedAudio) -> None:
        path = audio.path
        wanted = _EXTENSIONS.get(audio.content_type)
        if wanted and path.suffix != wanted:
            renamed = path.with_suffix(wanted)
            await asyncio.to_thread(path.replace, renamed)
            path = renamed
        completed = await self._store.transition(
            job.id,
            JobState.SUBMITTED,
            JobState.COMPLETED,
            now=self._clock(),
            completed_at=self._clock(),
            audio_path=str(path),
            audio_size_bytes=audio.size_bytes,
            audio_duration_seconds=audio.duration_seconds,
            audio_content_type=audio.content_type,
        )
        if completed is not None:
            await self._finish(completed, Phase.COMPLETED, None)

    async def _time_out(self, job: Job) -> None:
        minutes = self._timeout / 60
        message = (
            f"The music service did not finish within {minutes:g} minutes, so the bot "
            "stopped waiting."
        )
        ended = await self._store.transition(
            job.id,
            JobState.SUBMITTED,
            JobState.TIMED_OUT,
            now=self._clock(),
            error_kind="Timeout",
            error_message=message,
            **_poll_changes(job),
        )
        if ended is not None:
            await self._finish(ended, Phase.TIMED_OUT, message)

    async def _end(
        self, job: Job, expected: JobState, state: JobState, exc: AimlApiError, refund: bool
    ) -> None:
        message = _user_message(exc)
        ended = await self._store.transition(
            job.id,
            expected,
            state,
            now=self._clock(),
            error_kind=type(exc).__name__,
            error_message=message,
            **_poll_changes(job),
        )
        if ended is None:
            return
        if refund:
            await self._refund(job.id)
        await self._finish(ended, Phase.FAILED, message)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _track(self, job: Job, phase: Phase) -> None:
        self._jobs[job.id] = job
        self._phases[job.id] = phase

    def _forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._phases.pop(job_id, None)

    def _learn(self, duration: float) -> None:
        """Add a generation time (already stored with the completion) to the in-memory plan."""
        self._history.append(duration)
        del self._history[:-HISTORY_LIMIT]
        self._learnt_since_refresh += 1
        # Rebuilding the plan costs ~2 ms: do it for every early sample, then every tenth.
        if len(self._history) <= 50 or self._learnt_since_refresh >= 10:
            self._refresh_schedule()

    def _refresh_schedule(self) -> None:
        """Rebuild the poll plan from the history and the generations still running."""
        self._learnt_since_refresh = 0
        self._refreshed_at = self._clock()
        now = self._clock()
        running = [
            now - job.submitted_at
            for job_id, job in self._jobs.items()
            if job.submitted_at is not None and self._phases.get(job_id) is Phase.GENERATING
        ]
        if len(self._history) >= MIN_HISTORY and running:
            samples: Sequence[float] = survival_samples(self._history, running)
        else:
            samples = self._history
        self._schedule = self._schedule_factory(samples)

    async def _commit(self, job_id: str) -> None:
        try:
            await self._ledger.commit(job_id)
        except Exception:
            log.exception("job %s: credit commit failed", job_id)

    async def _refund(self, job_id: str) -> None:
        try:
            await self._ledger.refund(job_id)
        except Exception:
            log.exception("job %s: credit refund failed", job_id)

    async def _finish(self, job: Job, phase: Phase, message: str | None) -> None:
        """Tell listeners and waiters that the job is completed or final.

        Called once per successful transition (and once per start for completed-undelivered
        jobs), so listeners hear about each job once per process."""
        self._forget(job.id)
        if job.state is JobState.COMPLETED:
            self._track(job, Phase.COMPLETED)  # kept until delivered
        await self._emit_progress(job, phase, message=message)
        for listener in list(self._listeners):
            try:
                await listener.on_finished(job)
            except Exception:
                log.exception("listener %r failed on_finished for job %s", listener, job.id)
        for future in self._waiters.pop(job.id, []):
            if not future.done():
                future.set_result(job)

    # -- progress --------------------------------------------------------------------------------

    def progress_for(self, job: Job, phase: Phase, message: str | None = None) -> Progress:
        now = self._clock()
        position = self._queue.position(job.id) if phase is Phase.QUEUED else None
        estimate: float | None = None
        if phase is Phase.QUEUED:
            typical = self._schedule.typical()
            waves = math.ceil((position or 1) / self._max_concurrent)
            estimate = typical * (waves + 0.5)
        elif phase in (Phase.SUBMITTING, Phase.GENERATING):
            since = now - job.submitted_at if job.submitted_at else 0.0
            estimate = self._schedule.expected_remaining(since)
        return Progress(
            job_id=job.id,
            phase=phase,
            elapsed=max(0.0, now - job.created_at),
            provider_status=job.provider_status,
            queue_position=position,
            estimate_remaining=estimate,
            message=message,
        )

    async def _emit_progress(self, job: Job, phase: Phase, *, message: str | None = None) -> None:
        if not self._listeners:
            return
        progress = self.progress_for(job, phase, message)
        for listener in list(self._listeners):
            try:
                await listener.on_progress(job, progress)
            except Exception:
                log.exception("listener %r failed on_progress for job %s", listener, job.id)

    async def _tick_forever(self) -> None:
        while True:
            # Real time on purpose: an injected test `sleep` may move a fake clock.
            await asyncio.sleep(self._tick_interval)
            await self.tick()

    async def tick(self) -> None:
        """One round of periodic progress for every waiting or generating job."""
        if self._clock() - self._refreshed_at >= REPLAN_SECONDS and Phase.GENERATING in set(
            self._phases.values()
        ):
            self._refresh_schedule()
        ticking = [
            (job, self._phases[job_id])
            for job_id, job in list(self._jobs.items())
            if self._phases.get(job_id) in (Phase.QUEUED, Phase.GENERATING)
        ]
        # Started a few at a time with a loop pass in between: hundreds of listener calls
        # started at once would all run in one pass and stall everything else (loop lag).
        emitting: list[asyncio.Task[None]] = []
        for index, (job, phase) in enumerate(ticking, start=1):
            emitting.append(asyncio.create_task(self._emit_progress(job, phase)))
            if index % TICK_CHUNK == 0:
                await asyncio.sleep(0)
        if emitting:
            await asyncio.gather(*emitting)


def _poll_changes(job: Job) -> dict[str, Any]:
    """The in-memory poll count and provider status, for the job's next write."""
    if job.state is not JobState.SUBMITTED:
        return {}
    return {"poll_count": job.poll_count, "provider_status": job.provider_status}


def _user_message(exc: AimlApiError) -> str:
    message = exc.user_message
    if isinstance(exc, BadRequest | GenerationFailed) and exc.provider_message:
        reason = " ".join(exc.provider_message.split())[:_PROVIDER_MESSAGE_LIMIT]
        message = f"{message} Reason given: {reason}"
    return message


def _guess_extension(url: str) -> str:
    path = url.split("?", 1)[0].rsplit("/", 1)[-1]
    for extension in set(_EXTENSIONS.values()):
        if path.lower().endswith(extension):
            return extension
    return ".wav"
