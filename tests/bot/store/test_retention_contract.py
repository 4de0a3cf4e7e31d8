"""The retention calls of the job repository, held against every backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

from bot.jobs.models import Delivery, DeliveryVia, JobState, Origin
from bot.quota.rules import ReservationRules
from bot.store.base import Store
from tests.bot.store.test_contract import NOW, ROOMY, make_job, member

DAY = 86400.0


async def finished(store: Store, job_id: str, state: JobState, at: float, **extra: object) -> None:
    """A job that ended in `state` at `at` (delivered ones through `deliver`, as the bot does)."""
    final = JobState.COMPLETED if state is JobState.DELIVERED else state
    job = replace(make_job(job_id, origin=Origin.DISCORD, **extra), state=final, updated_at=at)
    await store.jobs.insert(job)
    if state is JobState.DELIVERED:
        await store.jobs.deliver(job_id, Delivery(DeliveryVia.CHANNEL, 1, 2), now=at)


async def test_audio_to_prune_lists_kept_files_of_jobs_that_ended_long_enough_ago(
    store: Store,
) -> None:
    await finished(store, "old", JobState.DELIVERED, NOW - 9 * DAY, audio_path="/a/old.wav")
    await finished(store, "older", JobState.DELIVERED, NOW - 10 * DAY, audio_path="/a/o.wav")
    await finished(store, "failed", JobState.FAILED, NOW - 9 * DAY, audio_path="/a/f.wav")
    await finished(store, "new", JobState.DELIVERED, NOW - DAY, audio_path="/a/new.wav")
    await finished(store, "nofile", JobState.DELIVERED, NOW - 9 * DAY)
    await store.jobs.insert(
        replace(make_job("cli", audio_path="/a/c.wav"), state=JobState.FAILED, updated_at=0.0)
    )
    await store.jobs.insert(
        replace(
            make_job("waiting", origin=Origin.DISCORD, audio_path="/a/w.wav"),
            state=JobState.COMPLETED,
            updated_at=0.0,
        )
    )
    due = await store.jobs.audio_to_prune(finished_before=NOW - 7 * DAY, limit=10)
    assert [job.id for job in due] == ["older", "failed", "old"]  # by end time, then id
    assert [
        job.id for job in await store.jobs.audio_to_prune(finished_before=NOW - 7 * DAY, limit=1)
    ] == ["older"]

    assert await store.jobs.mark_audio_pruned(["older", "old"], now=NOW) == 2
    assert await store.jobs.mark_audio_pruned(["old"], now=NOW + 1) == 0  # marked once
    assert await store.jobs.mark_audio_pruned([], now=NOW) == 0
    row = await store.jobs.get("old")
    assert row is not None and row.audio_pruned_at == NOW and row.audio_path == "/a/old.wav"
    left = await store.jobs.audio_to_prune(finished_before=NOW - 7 * DAY, limit=10)
    assert [job.id for job in left] == ["failed"]


async def test_delete_finished_keeps_kept_audio_reserved_credit_and_live_jobs(
    store: Store,
) -> None:
    long_ago = NOW - 100 * DAY
    await finished(store, "done", JobState.DELIVERED, long_ago)
    await finished(store, "kept", JobState.DELIVERED, long_ago, audio_path="/a/k.wav")
    await finished(store, "pruned", JobState.DELIVERED, long_ago, audio_path="/a/p.wav")
    await store.jobs.mark_audio_pruned(["pruned"], now=long_ago)
    await finished(store, "recent", JobState.FAILED, NOW - DAY)
    await finished(store, "unknown", JobState.SUBMIT_UNKNOWN, long_ago)
    await store.quota.reserve(
        member(7), "unknown", now=long_ago, blocked_term=None, rules=ReservationRules(ROOMY)
    )
    await store.jobs.insert(
        replace(
            make_job("running", origin=Origin.DISCORD),
            state=JobState.SUBMITTED,
            updated_at=long_ago,
        )
    )
    assert await store.jobs.delete_finished(updated_before=NOW - 30 * DAY, limit=1) == 1
    assert await store.jobs.delete_finished(updated_before=NOW - 30 * DAY, limit=10) == 1
    assert await store.jobs.delete_finished(updated_before=NOW - 30 * DAY, limit=10) == 0
    left = {
        j
        for j in ("done", "kept", "pruned", "recent", "unknown", "running")
        if await store.jobs.get(j) is not None
    }
    assert left == {"kept", "recent", "unknown", "running"}
