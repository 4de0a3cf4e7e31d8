"""Keeps what the export needs of each jam entry when its job ends: the audio file (a hard
link into `<audio dir>/jams/<jam id>/`, a copy across file systems) and whether it worked.

A `JobListener` registered with the engine before the Discord delivery, which deletes a
delivered piece's download: the engine awaits each listener's `on_finished` in turn, so the
file is kept before the delivery is even told the job finished.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from bot.jams.models import EntryMark
from bot.jams.service import JamService
from bot.jobs.models import Job, JobState, Progress

log = logging.getLogger(__name__)


def keep_file(source: Path, dest: Path) -> Path:
    """`dest` holding `source`'s bytes (kept as is when already there); on a worker thread."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return dest
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)
    return dest


class EntryKeeper:
    def __init__(self, jams: JamService, audio_dir: Path) -> None:
        self._jams = jams
        self._dir = audio_dir / "jams"

    def folder(self, jam_id: str) -> Path:
        return self._dir / jam_id

    async def on_progress(self, job: Job, progress: Progress) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        mark = EntryMark.from_context(job.context)
        if mark is None:
            return
        if job.state is JobState.COMPLETED:
            kept: str | None = None
            if job.audio_path:
                source = Path(job.audio_path)
                dest = self.folder(mark.jam_id) / f"{job.id}{source.suffix or '.wav'}"
                try:
                    kept = str(await asyncio.to_thread(keep_file, source, dest))
                except OSError as error:
                    log.warning("jam entry %s: cannot keep its audio: %s", job.id, error)
            await self._jams.entry_finished(job.id, ok=True, audio_path=kept)
        elif job.state.is_final:
            await self._jams.entry_finished(job.id, ok=False, audio_path=None)
