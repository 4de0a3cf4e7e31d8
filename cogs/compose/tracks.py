"""A finished track made ready to post: tagged, drawn, in a format that fits the upload limit.

Shared by the delivery and by /history's "post again". The work runs in the audio worker's
pool and is idempotent (its outputs are named after their content), so posting again, or
delivering after a restart, reuses what was made.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord

from bot.audio import AudioWorker, PreparedAudio, PrepareRequest
from bot.audio.provenance import job_provenance
from bot.jobs.models import Job
from bot.text.result import WAVEFORM_NAME, audio_filename

PREPARED_FOLDER = "prepared"  # under AUDIO_DIR: one folder per job


def prepared_dir(audio_dir: Path, job_id: str) -> Path:
    return audio_dir / PREPARED_FOLDER / job_id


async def prepare_track(
    worker: AudioWorker, audio_dir: Path, job: Job, limit_bytes: int
) -> PreparedAudio:
    assert job.audio_path is not None
    stem = audio_filename(job).rsplit(".", 1)[0]
    return await worker.prepare(
        PrepareRequest(
            source=Path(job.audio_path),
            out_dir=prepared_dir(audio_dir, job.id),
            stem=stem,
            provenance=job_provenance(job),
            limit_bytes=limit_bytes,
        )
    )


async def open_track(audio: PreparedAudio) -> list[discord.File]:
    """Fresh handles on the audio and its waveform (a sent File is closed), opened off the
    loop; the waveform is the embed's image."""
    assert audio.file is not None

    def open_all() -> list[discord.File]:
        assert audio.file is not None
        files = [discord.File(audio.file.path, filename=audio.file.download_name)]
        if audio.waveform is not None:
            files.append(discord.File(audio.waveform, filename=WAVEFORM_NAME))
        return files

    return await asyncio.to_thread(open_all)
