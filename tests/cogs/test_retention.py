"""Audio retention in the running bot: a crash's partial downloads and expired audio go."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.conftest import Harness


async def test_a_restart_removes_partial_downloads_left_by_a_crash(harness: Harness) -> None:
    audio_dir = harness.settings.audio_dir
    stale = audio_dir / ".abcdef012345.wav.0f0f.part"
    stale.write_bytes(b"\0" * 4096)
    hours_ago = time.time() - 3 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    fresh = audio_dir / ".fedcba543210.wav.1e1e.part"  # a download of another process, maybe
    fresh.write_bytes(b"\0" * 10)
    await harness.restart()
    assert not stale.exists()  # gone before the bot downloads anything
    assert fresh.exists()


async def test_audio_delivered_longer_ago_than_the_retention_is_deleted(harness: Harness) -> None:
    interaction = await harness.compose("calm piano")
    result = await harness.result_of(interaction)
    job_id = await harness.job_of_result(result)
    assert await harness.delivery.drain(10) == 0  # the delivery is over (today it unlinks)
    job = await harness.engine.get(job_id)
    assert job is not None and job.audio_path is not None
    audio = Path(job.audio_path)
    # As a delivery that keeps the file for /history leaves it:
    await asyncio.to_thread(audio.write_bytes, harness.fake_api.audio)
    week_and_a_day = time.time() - 8 * 24 * 3600
    await harness.db.execute(
        "UPDATE jobs SET delivered_at = ? WHERE id = ?", (week_and_a_day, job_id)
    )
    bot = await harness.restart()
    async with asyncio.timeout(10):
        await bot.services.retention.wait_for_sweeps(1)  # the sweep at start
    assert not await asyncio.to_thread(audio.exists)
    row = await harness.engine.get(job_id)
    assert row is not None and row.audio_pruned_at is not None and row.audio_path == str(audio)
