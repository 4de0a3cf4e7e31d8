"""SQLite jobs: rows round-trip, guarded transitions, the delivery record, bounded history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs.models import Delivery, DeliveryVia, ErrorKind, Job, JobState, Origin
from bot.store.sqlite.database import SqliteDatabase as Database
from bot.store.sqlite.jobs import SqliteJobRepository as JobStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "jobs.sqlite3")
    yield database
    await database.close()


def make_job(
    job_id: str, *, created_at: float = 100.0, origin: Origin = Origin.TERMINAL, **extra: object
) -> Job:
    return Job(
        id=job_id,
        state=JobState.QUEUED,
        prompt="calm piano",
        negative_prompt=None,
        seed=7,
        model="google/lyria2",
        requester_id="alice",
        guild_id="42",
        channel_id=None,
        origin=origin,
        context={"token": "abc", "nested": {"n": 1}},
        created_at=created_at,
        updated_at=created_at,
        deadline_at=created_at + 600,
        **extra,  # type: ignore[arg-type]
    )


async def test_a_job_round_trips_with_json_fields(db: Database) -> None:
    store = JobStore(db)
    job = make_job(
        "j1",
        usage_headers={"x-aimlapi-used-credits": "3"},
        error_kind=ErrorKind.PROVIDER_FAILED,
        error_detail="flagged",
    )
    await store.insert(job)
    assert await store.get("j1") == job
    assert await store.get("missing") is None


async def test_a_transition_from_the_wrong_state_changes_nothing(db: Database) -> None:
    store = JobStore(db)
    await store.insert(make_job("j1"))
    moved = await store.transition("j1", JobState.QUEUED, JobState.SUBMITTING, now=101.0)
    assert moved is not None and moved.state is JobState.SUBMITTING and moved.updated_at == 101.0
    stale = await store.transition(
        "j1", JobState.QUEUED, JobState.CANCELLED, now=102.0, cancelled_by="bob"
    )
    assert stale is None
    row = await store.get("j1")
    assert row is not None and row.state is JobState.SUBMITTING and row.cancelled_by is None
    assert await store.transition("nope", JobState.QUEUED, JobState.FAILED, now=1.0) is None


async def test_updates_set_columns_and_refuse_unknown_ones(db: Database) -> None:
    store = JobStore(db)
    await store.insert(make_job("j1"))
    await store.update("j1", now=110.0, poll_count=3, provider_status="waiting")
    job = await store.get("j1")
    assert job is not None and job.poll_count == 3 and job.provider_status == "waiting"
    assert job.updated_at == 110.0
    guarded = await store.update("j1", expected=JobState.SUBMITTED, now=111.0, seed=1)
    assert guarded is None
    with pytest.raises(ValueError, match="not job columns"):
        await store.update("j1", now=1.0, **{"state = 'x'; --": 1})


async def test_the_context_is_replaced_whole_and_delivery_is_its_own_record(
    db: Database,
) -> None:
    store = JobStore(db)
    await store.insert(make_job("j1"))
    job = await store.update("j1", now=120.0, context={"discord": {"message": 9}})
    assert job is not None and job.context == {"discord": {"message": 9}}
    record = Delivery(DeliveryVia.CHANNEL, message_id=5, channel_id=6)
    not_yet = await store.deliver("j1", record, now=121.0)  # only a completed job is delivered
    assert not_yet is not None and not_yet.state is JobState.QUEUED and not_yet.delivery is None
    await store.transition("j1", JobState.QUEUED, JobState.COMPLETED, now=122.0)
    delivered = await store.deliver("j1", record, now=123.0)
    assert delivered is not None and delivered.state is JobState.DELIVERED
    assert delivered.delivery == record and delivered.delivered_at == 123.0
    assert await store.deliver("missing", record, now=1.0) is None


async def test_unfinished_jobs_come_oldest_first_and_can_be_filtered_by_origin(
    db: Database,
) -> None:
    store = JobStore(db)
    await store.insert(make_job("late", created_at=300.0))
    await store.insert(make_job("early", created_at=100.0, origin=Origin.DISCORD))
    await store.insert(make_job("done", created_at=50.0))
    await store.transition("done", JobState.QUEUED, JobState.CANCELLED, now=60.0)
    assert [job.id for job in await store.unfinished()] == ["early", "late"]
    assert [job.id for job in await store.unfinished({Origin.DISCORD})] == ["early"]
    assert await store.unfinished(set()) == []
    counts = await store.count_by_state()
    assert counts == {JobState.QUEUED: 2, JobState.CANCELLED: 1}


async def test_generation_time_history_is_bounded(db: Database) -> None:
    store = JobStore(db, history_limit=5)
    for i in range(8):
        await store.record_generation_time(f"j{i}", 30.0 + i, now=float(i))
    assert await store.generation_times() == [33.0, 34.0, 35.0, 36.0, 37.0]


async def test_a_generation_id_belongs_to_one_job_only(db: Database) -> None:
    store = JobStore(db)
    await store.insert(make_job("a"))
    await store.insert(make_job("b"))
    await store.update("a", now=1.0, generation_id="gen-1")
    with pytest.raises(Exception, match="UNIQUE"):
        await store.update("b", now=1.0, generation_id="gen-1")
