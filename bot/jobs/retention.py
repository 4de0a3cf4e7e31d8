"""How long finished audio (and, if an admin wants, old job rows) are kept, and the sweep.

Each generation leaves a WAV of ~5.8 MB in AUDIO_DIR; kept forever, 1,000 pieces fill 5.8 GB.
`AudioRetention.sweep()` deletes the files of jobs delivered (or ended) more than
AUDIO_RETENTION_HOURS ago, unless something still needs them (`AudioPins`: a jam, history),
and records it on the row (`audio_pruned_at`; `audio_path` stays, to say which file it was).
It also removes the partial downloads a crash left behind. A terminal job's file is never
touched: it is what `python -m bot compose` saved for its user.

Job rows stay (they are small and feed history and the mod log) unless JOB_ROW_RETENTION_DAYS
is set; then finished rows older than that go too, once their audio is gone.

The bot runs `run_forever()` as a background task: a sweep at start, then one every
`interval`. Nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.aimlapi.part_files import remove_stale_part_files
from bot.config import Settings
from bot.jobs.models import Job
from bot.store.base import JobRepository

log = logging.getLogger(__name__)

HOUR = 3600.0
DAY = 24 * HOUR


class AudioPins(Protocol):
    """Something that still needs some jobs' audio files (a jam's playlist, a history view)."""

    async def still_needed(self, job_ids: Collection[str]) -> Collection[str]:
        """Which of `job_ids` must keep their files for now."""
        ...


@dataclass(frozen=True)
class RetentionPolicy:
    audio_seconds: float  # keep a file this long after delivery
    rows_seconds: float | None = None  # delete finished rows this old (None: keep them)
    part_file_seconds: float = HOUR  # a partial download this old is a crash's leftover
    interval: float = HOUR  # between two sweeps
    batch: int = 200  # rows handled per store call

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        rows = settings.job_row_retention_days
        return cls(
            audio_seconds=settings.audio_retention_hours * HOUR,
            rows_seconds=None if rows is None else rows * DAY,
        )


@dataclass
class SweepReport:
    """What one sweep did, for the log and for tests."""

    files_deleted: int = 0
    bytes_freed: int = 0
    rows_marked: int = 0
    kept_for_pins: int = 0
    part_files_deleted: int = 0
    rows_deleted: int = 0
    outside_audio_dir: list[str] = field(default_factory=list)

    @property
    def did_something(self) -> bool:
        return bool(self.rows_marked or self.part_files_deleted or self.rows_deleted)


class AudioRetention:
    def __init__(
        self,
        store: JobRepository,
        audio_dir: Path,
        policy: RetentionPolicy,
        *,
        pins: Iterable[AudioPins] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._audio_dir = audio_dir
        self.policy = policy
        self._pins = list(pins)
        self._clock = clock
        self.sweeps = 0
        self._swept = asyncio.Condition()

    @classmethod
    def from_settings(cls, settings: Settings, store: JobRepository) -> AudioRetention:
        return cls(store, settings.audio_dir, RetentionPolicy.from_settings(settings))

    def add_pins(self, pins: AudioPins) -> None:
        """From now on, ask `pins` before deleting a file (a jam registers itself here)."""
        self._pins.append(pins)

    # -- the sweep -------------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """One pass: stale partial downloads, expired audio files, then (if set) old rows."""
        report = SweepReport()
        now = self._clock()
        report.part_files_deleted, freed = await self.remove_part_files(now)
        report.bytes_freed += freed
        await self._prune_audio(now, report)
        if self.policy.rows_seconds is not None:
            while True:
                deleted = await self._store.delete_finished(
                    updated_before=now - self.policy.rows_seconds, limit=self.policy.batch
                )
                report.rows_deleted += deleted
                if deleted < self.policy.batch:
                    break
        if report.did_something:
            log.info(
                "retention: %d audio file(s) deleted (%.1f MB), %d kept for jams/history, "
                "%d partial download(s) removed, %d old job row(s) deleted",
                report.files_deleted,
                report.bytes_freed / 1e6,
                report.kept_for_pins,
                report.part_files_deleted,
                report.rows_deleted,
            )
        for path in report.outside_audio_dir:
            log.warning("retention: %s is outside AUDIO_DIR; not deleted, no longer kept", path)
        async with self._swept:
            self.sweeps += 1
            self._swept.notify_all()
        return report

    async def remove_part_files(self, now: float | None = None) -> tuple[int, int]:
        """Delete partial downloads a crash left in AUDIO_DIR; (count, bytes)."""
        at = self._clock() if now is None else now
        return await asyncio.to_thread(
            remove_stale_part_files,
            self._audio_dir,
            older_than=self.policy.part_file_seconds,
            now=at,
        )

    async def _prune_audio(self, now: float, report: SweepReport) -> None:
        cutoff = now - self.policy.audio_seconds
        skip: set[str] = set()  # pinned, or not deletable: left for a later sweep
        while True:
            limit = self.policy.batch + len(skip)
            jobs = await self._store.audio_to_prune(finished_before=cutoff, limit=limit)
            due = [job for job in jobs if job.id not in skip]
            if not due:
                return
            pinned = await self._pinned([job.id for job in due])
            skip |= pinned
            report.kept_for_pins += len(pinned)
            prune = [job for job in due if job.id not in pinned]
            if prune:
                deletion = await asyncio.to_thread(_delete_files, self._audio_dir, prune)
                report.files_deleted += deletion.deleted
                report.bytes_freed += deletion.freed
                report.outside_audio_dir += deletion.outside
                skip |= {job.id for job in prune} - deletion.gone
                report.rows_marked += await self._store.mark_audio_pruned(deletion.gone, now=now)
            if len(jobs) < limit:
                return

    async def _pinned(self, job_ids: list[str]) -> set[str]:
        pinned: set[str] = set()
        for pins in self._pins:
            try:
                pinned |= set(await pins.still_needed(job_ids))
            except Exception:
                # Unsure what is needed: keep everything this round rather than lose a file.
                log.exception("retention: a pin holder failed; nothing deleted this sweep")
                return set(job_ids)
        return pinned & set(job_ids)

    # -- running ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Sweep now, then every `policy.interval` seconds; a failed sweep is logged and the
        next one tries again."""
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "retention: the sweep failed; trying again in %.0f s", self.policy.interval
                )
            await asyncio.sleep(self.policy.interval)

    async def wait_for_sweeps(self, count: int) -> None:
        """Return once `count` sweeps have finished in this process (for tests)."""
        async with self._swept:
            await self._swept.wait_for(lambda: self.sweeps >= count)


@dataclass
class _Deletion:
    deleted: int = 0
    freed: int = 0
    gone: set[str] = field(default_factory=set)  # job ids whose file the bot no longer keeps
    outside: list[str] = field(default_factory=list)  # paths outside AUDIO_DIR, left alone


def _delete_files(audio_dir: Path, jobs: list[Job]) -> _Deletion:
    """Delete the jobs' files that lie inside `audio_dir` (in a worker thread): the downloaded
    audio and the files made for its delivery (`delivery.files`: tagged or re-encoded audio,
    the waveform), then their folder when that is left empty. A file already missing counts as
    gone; one outside AUDIO_DIR is never deleted but no longer kept either; a job with a file
    that cannot be deleted stays for the next sweep."""
    root = audio_dir.resolve()
    result = _Deletion()
    for job in jobs:
        paths = [p for p in (job.audio_path, *(job.delivery.files if job.delivery else ())) if p]
        done = True
        for name in paths:
            try:
                path = Path(name).resolve()
            except OSError:
                done = False
                continue
            if not path.is_relative_to(root) or path == root:
                result.outside.append(name)
                continue
            try:
                size = path.stat().st_size
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("retention: cannot delete %s: %s", path, exc.strerror or exc)
                done = False
                continue
            result.deleted += 1
            result.freed += size
            if path.parent != root:
                with contextlib.suppress(OSError):  # not empty, or already gone: keep it
                    path.parent.rmdir()
        if done:
            result.gone.add(job.id)
    return result


def audio_dir_usage(audio_dir: Path) -> tuple[int, int]:
    """(files, bytes) under AUDIO_DIR, recursively; blocking (call it in a worker thread)."""
    files = total = 0
    for folder, _dirs, names in os.walk(audio_dir):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
            files += 1
    return files, total
