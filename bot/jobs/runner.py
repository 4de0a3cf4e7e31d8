"""One job's work once it has a slot: submit → poll until done → download.

Every step writes its transition (guarded by the state it expects) before acting on it. A
submission that may or may not have reached the provider is never retried (`submit_unknown`);
polls follow the learnt schedule and back off with jitter on transient errors; a download that
keeps failing completes the job with its link only.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from bot.aimlapi.errors import (
    AimlApiError,
    AmbiguousSubmission,
    DownloadError,
    GenerationFailed,
    RateLimited,
    RefusedUrl,
)
from bot.aimlapi.models import DownloadedAudio, GenerationRequest
from bot.jobs.events import JobBoard
from bot.jobs.failures import error_detail, error_kind
from bot.jobs.learning import RECHECK_SECONDS, GenerationTimes
from bot.jobs.models import ErrorKind, Job, JobChanges, JobState, Observation, Phase
from bot.jobs.ports import CreditLedger, ProviderClient
from bot.store.base import JobRepository
from bot.store.errors import StoreBusy

log = logging.getLogger(__name__)

T = TypeVar("T")
# A busy database is waited out with backoff up to this gap between tries.
STORE_RETRY_MAX_SECONDS = 30.0

_EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
}
# Download failures after which only the link is delivered at once (retrying cannot help).
_LINK_ONLY_REASONS = frozenset({"too_large", "not_audio", "gone"})


@dataclass(frozen=True)
class RunnerLimits:
    audio_dir: Path
    generation_timeout: float
    max_audio_bytes: int
    download_attempts: int = 3


class JobRunner:
    def __init__(
        self,
        *,
        store: JobRepository,
        client: ProviderClient,
        ledger: CreditLedger,
        board: JobBoard,
        times: GenerationTimes,
        limits: RunnerLimits,
        accepting: Callable[[], bool],
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
    ) -> None:
        """`accepting()` is False once the engine is stopping: no new submission starts."""
        self._store = store
        self._client = client
        self._ledger = ledger
        self._board = board
        self._times = times
        self._limits = limits
        self._accepting = accepting
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._audio_dir_ready = False
        # Jobs between "about to mark submitting" and "submission outcome stored": the engine's
        # stop() waits for these futures (up to its grace) before cancelling.
        self.submissions: dict[str, asyncio.Future[None]] = {}

    # -- entry points ----------------------------------------------------------------------------

    async def run_queued(self, job_id: str) -> None:
        settled = asyncio.get_running_loop().create_future()
        self.submissions[job_id] = settled
        try:
            submitted = await self._mark_and_submit(job_id)
        finally:
            self.submissions.pop(job_id, None)
            if not settled.done():
                settled.set_result(None)
        if submitted is not None and self._accepting():  # when stopping, the next start polls
            await self.run_submitted(submitted)

    async def run_submitted(self, job: Job) -> None:
        if job.audio_url is None:
            polled = await self._poll_until_done(job)
            if polled is None:
                return
            job = polled
        await self._download(job)

    # -- credit ----------------------------------------------------------------------------------

    async def commit(self, job_id: str) -> None:
        try:
            await self._ledger.commit(job_id)
        except Exception:
            log.exception("job %s: credit commit failed", job_id)

    async def refund(self, job_id: str) -> None:
        try:
            await self._ledger.refund(job_id)
        except Exception:
            log.exception("job %s: credit refund failed", job_id)

    async def finish_ended(self) -> None:
        try:
            await self._ledger.finish_ended()
        except Exception:
            log.exception("could not end the reservations of ended jobs")

    # -- submitting ------------------------------------------------------------------------------

    async def _mark_and_submit(self, job_id: str) -> Job | None:
        submitting = await self._store.transition(
            job_id, JobState.QUEUED, JobState.SUBMITTING, now=self._clock()
        )
        if submitting is None:  # cancelled meanwhile (or run by another process)
            self._board.forget(job_id)
            return None
        if not self._accepting():
            # stop() began while the row was written: do not send a request now; the job stays
            # queued for the next start.
            await self._store.transition(
                job_id, JobState.SUBMITTING, JobState.QUEUED, now=self._clock()
            )
            return None
        self._board.track(submitting, Phase.SUBMITTING)
        await self._board.progress(submitting, Phase.SUBMITTING)
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
            self._persist(
                job.id,
                lambda: self._store.transition(
                    job.id,
                    JobState.SUBMITTING,
                    JobState.SUBMITTED,
                    now=now,
                    generation_id=submission.generation_id,
                    provider_status=submission.status,
                    submitted_at=now,
                    deadline_at=now + self._limits.generation_timeout,
                    credits_used=submission.usage.credits_used,
                    usage_headers=dict(submission.usage.headers),
                ),
            )
        )
        if submitted is None:
            log.error("job %s: state changed during submission; generation id not stored", job.id)
            return None
        await self.commit(job.id)
        self._board.track(submitted, Phase.GENERATING)
        await self._board.progress(submitted, Phase.GENERATING)
        return submitted

    # -- polling ---------------------------------------------------------------------------------

    async def _poll_until_done(self, job: Job) -> Job | None:
        """Poll on the learnt schedule until completion; None when the job ended otherwise."""
        try:
            return await self._poll_on_schedule(job)
        finally:
            self._times.stopped(job.id)

    async def _poll_on_schedule(self, job: Job) -> Job | None:
        assert job.generation_id is not None and job.submitted_at is not None
        submitted_at = job.submitted_at
        errors = 0
        retry_delay = 0.0
        # What the polls saw, for the learner: when the provider last said "not yet" (the time
        # that poll was sent), last said `queued`, and first said `generating`.
        last_pending_at: float | None = None
        last_queued_at: float | None = None
        generating_at: float | None = None
        last_poll_at: float | None = None
        working = _working(job.provider_status)  # members were told the provider has started
        while True:
            now = self._clock()
            if now >= job.deadline_at:
                await self._time_out(job)
                return None
            if errors:
                delay = retry_delay
            else:
                last = None if last_poll_at is None else last_poll_at - submitted_at
                delay = self._times.current().next_delay(now - submitted_at, last_poll=last)
                if delay > RECHECK_SECONDS:
                    # Look at the schedule again before polling: it may be rebuilt meanwhile.
                    await self._sleep(min(RECHECK_SECONDS, job.deadline_at - now))
                    continue
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
                retry_delay = self.backoff(errors, exc)
                log.info("job %s: poll failed (%s); retrying in %.1f s", job.id, exc, retry_delay)
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                job = self._count_poll(job, None)
                errors += 1
                retry_delay = self.backoff(errors, None)
                log.exception("job %s: unexpected poll failure; retrying", job.id)
                continue
            errors = 0
            noticed = self._clock()
            if result.state != "completed":
                last_pending_at = last_poll_at
                self._times.still_running(job.id, submitted_at=submitted_at, seen_at=last_poll_at)
                if generating_at is None:
                    if result.status == "queued":
                        last_queued_at = last_poll_at
                    elif result.status == "generating":
                        generating_at = last_poll_at
                job = self._count_poll(job, result.status)
                if not working and _working(result.status):
                    working = True  # e.g. `generating` seen by an early poll: show it now
                    await self._board.progress(job, Phase.GENERATING)
                continue
            # The completion happened between the last "pending" answer and this one (the
            # learner keeps both ends; with no such answer, only the upper one is known).
            self._times.stopped(job.id)  # no longer running, whatever the write says
            seen = Observation.from_polls(
                submitted_at=submitted_at,
                seen_at=noticed,
                last_pending_at=last_pending_at,
                last_queued_at=last_queued_at,
                generating_at=generating_at,
            )
            # One transaction: the link (so a restart downloads instead of polling again), the
            # poll count kept in memory so far, and what polling saw of this generation.
            completed = await self._persist(
                job.id,
                partial(
                    self._store.update,
                    job.id,
                    expected=JobState.SUBMITTED,
                    now=noticed,
                    learn=seen,
                    poll_count=job.poll_count + 1,
                    provider_status=result.status,
                    provider_completed_at=noticed,
                    audio_url=result.audio_url,
                ),
            )
            if completed is None:
                return None
            self._board.track(completed, Phase.DOWNLOADING)
            self._times.learn(job.id, seen)
            if result.audio_url is None:
                missing = GenerationFailed("completed without an audio URL")
                await self._end(completed, JobState.SUBMITTED, JobState.FAILED, missing, False)
                return None
            await self._board.progress(completed, Phase.DOWNLOADING)
            return completed

    def _count_poll(self, job: Job, status: str | None) -> Job:
        """Count one poll request (answered or not) and note the provider's status if known.

        In memory only: the job's next write (or the engine's stop) persists them. The context
        comes from the tracked row, which the engine's `update_context` keeps current."""
        tracked = self._board.tracked(job.id)
        updated = replace(
            job,
            poll_count=job.poll_count + 1,
            provider_status=job.provider_status if status is None else status,
            context=job.context if tracked is None else tracked.context,
        )
        self._board.track(updated)
        return updated

    def backoff(self, errors: int, exc: AimlApiError | None) -> float:
        """Exponential backoff with full jitter, at least the provider's Retry-After."""
        ceiling = min(30.0, 1.0 * 2 ** min(errors, 6))
        delay = self._rng.uniform(ceiling / 2, ceiling)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    # -- downloading -----------------------------------------------------------------------------

    async def _download(self, job: Job) -> None:
        assert job.audio_url is not None
        audio_dir = self._limits.audio_dir
        dest = audio_dir / f"{job.id}{_guess_extension(job.audio_url)}"
        failure: AimlApiError | None = None
        attempts = max(1, self._limits.download_attempts)
        for attempt in range(1, attempts + 1):
            if not self._audio_dir_ready:  # not one thread hop per job; again after a failure
                await asyncio.to_thread(audio_dir.mkdir, parents=True, exist_ok=True)
                self._audio_dir_ready = True
            try:
                audio = await self._client.download(
                    job.audio_url, dest, max_bytes=self._limits.max_audio_bytes
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
            if attempt < attempts:
                log.info("job %s: download failed (%s); retrying", job.id, failure)
                await self._sleep(self.backoff(attempt, failure))
        assert failure is not None
        if isinstance(failure, RefusedUrl):
            # A redirect led where the bot never fetches from: neither the file nor the link.
            log.warning("job %s: %s", job.id, failure)
            await self._end(
                job, JobState.SUBMITTED, JobState.FAILED, failure, False, forget_url=True
            )
            return
        log.warning("job %s: download failed (%s); delivering the link only", job.id, failure)
        reason = failure.reason if isinstance(failure, DownloadError) else "error"
        await self._complete(job, {"error_kind": ErrorKind.DOWNLOAD_FAILED, "error_detail": reason})

    async def _complete_with_audio(self, job: Job, audio: DownloadedAudio) -> None:
        path = audio.path
        wanted = _EXTENSIONS.get(audio.content_type)
        if wanted and path.suffix != wanted:
            renamed = path.with_suffix(wanted)
            await asyncio.to_thread(path.replace, renamed)
            path = renamed
        await self._complete(
            job,
            {
                "audio_path": str(path),
                "audio_size_bytes": audio.size_bytes,
                "audio_duration_seconds": audio.duration_seconds,
                "audio_content_type": audio.content_type,
            },
        )

    async def _complete(self, job: Job, changes: JobChanges) -> None:
        now = self._clock()
        changes = changes.copy()
        changes["completed_at"] = now
        completed = await self._persist(
            job.id,
            lambda: self._store.transition(
                job.id, JobState.SUBMITTED, JobState.COMPLETED, now=now, **changes
            ),
        )
        if completed is not None:
            await self._board.finished(completed, Phase.COMPLETED)

    # -- endings ---------------------------------------------------------------------------------

    async def _time_out(self, job: Job) -> None:
        changes = _poll_changes(job)
        changes["error_kind"] = ErrorKind.TIMED_OUT
        ended = await self._persist(
            job.id,
            lambda: self._store.transition(
                job.id, JobState.SUBMITTED, JobState.TIMED_OUT, now=self._clock(), **changes
            ),
        )
        if ended is not None:
            await self._board.finished(ended, Phase.TIMED_OUT)

    async def _end(
        self,
        job: Job,
        expected: JobState,
        state: JobState,
        exc: AimlApiError,
        refund: bool,
        *,
        forget_url: bool = False,
    ) -> None:
        changes = _poll_changes(job)
        changes["error_kind"] = error_kind(exc)
        changes["error_detail"] = error_detail(exc)
        if forget_url:
            changes["audio_url"] = None
        ended = await self._persist(
            job.id,
            lambda: self._store.transition(job.id, expected, state, now=self._clock(), **changes),
        )
        if ended is None:
            return
        if refund:
            await self.refund(job.id)
        await self._board.finished(ended, Phase.FAILED)

    async def _persist(self, job_id: str, write: Callable[[], Awaitable[T]]) -> T:
        """A write of a job the provider may have charged for: a busy database is waited out
        with backoff in this process (giving up would leave the job stuck until a restart)."""
        delay = 0.5
        while True:
            try:
                return await write()
            except StoreBusy as exc:
                log.warning("job %s: %s; trying again in %.1f s", job_id, exc, delay)
                await self._sleep(delay)
                delay = min(STORE_RETRY_MAX_SECONDS, delay * 2)

    async def save_poll_counts(self) -> None:
        """On stop: write the in-memory poll counts of jobs still generating."""
        counts = [
            (job.id, job.poll_count, job.provider_status)
            for job in self._board.submitted()
            if job.poll_count
        ]
        if not counts:
            return
        try:
            await self._store.save_poll_counts(counts)
        except Exception:
            log.exception("could not save the poll counts of %d job(s)", len(counts))


def _poll_changes(job: Job) -> JobChanges:
    """The in-memory poll count and provider status, for the job's next write."""
    if job.state is not JobState.SUBMITTED:
        return {}
    return {"poll_count": job.poll_count, "provider_status": job.provider_status}


def _working(status: str | None) -> bool:
    """The provider says it is working on the job (not merely holding it in its queue)."""
    return status not in (None, "", "queued")


def _guess_extension(url: str) -> str:
    path = url.split("?", 1)[0].rsplit("/", 1)[-1]
    for extension in set(_EXTENSIONS.values()):
        if path.lower().endswith(extension):
            return extension
    return ".wav"
