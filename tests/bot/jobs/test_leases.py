"""Leases in one process on SQLite (`sole`): a job is leased while it runs (written with its
row when it starts at once), renewed, released on stop; a restart after a crash resumes the
old process's jobs at once, whatever their leases say."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bot.jobs.models import JobState
from tests.bot.jobs.support import Harness, finished, request


async def lease_of(h: Harness, job_id: str) -> tuple[str | None, float | None]:
    row = await h.db.fetchone(
        "SELECT lease_owner, lease_expires_at FROM jobs WHERE id = ?", (job_id,)
    )
    assert row is not None
    return row[0], row[1]


async def test_a_running_job_is_leased_to_its_engine_and_released_on_stop(
    harness: Harness,
) -> None:
    harness.client.polls_until_done = 10_000  # keeps generating
    engine = await harness.started(
        owner="here-1-abc", lease_seconds=30.0, generation_timeout=10.0**9
    )
    job = await engine.enqueue(request())
    await harness.wait_until(lambda: harness.recorder.commits == [job.id])  # submitted
    owner, until = await lease_of(harness, job.id)
    assert owner == "here-1-abc" == engine.owner
    assert until == job.created_at + 30.0  # written with the row: it started at once
    await engine.stop()
    assert await lease_of(harness, job.id) == (None, None)
    current = await engine.get(job.id)
    assert current is not None and current.state is JobState.SUBMITTED


async def test_a_restart_after_a_crash_resumes_leased_jobs_at_once(harness: Harness) -> None:
    first = await harness.started()
    job = await first.enqueue(request())
    done = await finished(first, job)
    # What a killed process leaves: a job in flight, its lease held for a long time yet.
    stuck = replace(done, id="stuck0000001", state=JobState.SUBMITTED, audio_url=None)
    stuck = replace(stuck, generation_id="gen-stuck", audio_path=None, completed_at=None)
    await harness.store.insert(stuck, lease=("dead-1-xyz", time.time() + 3600))
    second = await harness.started()
    resumed = await asyncio.wait_for(second.wait_finished(stuck.id), 5)
    assert resumed.state is JobState.COMPLETED
    assert len(harness.client.submits) == 1  # polled, not submitted again
    assert (await lease_of(harness, stuck.id))[0] == second.owner
