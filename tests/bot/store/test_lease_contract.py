"""Job leases, held against every backend (SQLite, PostgreSQL): who may claim an unfinished job,
renewing and releasing, batch claims of dead processes' jobs and of queued ones (fairly, within
a global limit), and two stores on one database never claiming the same job."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.config import DatabaseUrl
from bot.jobs.models import JobState, Origin
from bot.store.base import Store
from bot.store.connect import open_url
from tests.bot.store.test_contract import make_job

NOW = 10_000.0
A, B = "host-a-1-aaaa", "host-b-2-bbbb"


async def add(
    store: Store, job_id: str, state: JobState = JobState.QUEUED, **extra: object
) -> None:
    await store.jobs.insert(replace(make_job(job_id, **extra), state=state))


async def test_a_job_is_claimed_by_one_owner_until_its_lease_expires(store: Store) -> None:
    await add(store, "j1")
    claimed = await store.jobs.claim("j1", owner=A, until=NOW + 30, now=NOW)
    assert claimed is not None and claimed.id == "j1" and claimed.state is JobState.QUEUED
    assert await store.jobs.claim("j1", owner=B, until=NOW + 40, now=NOW + 10) is None
    assert await store.jobs.claim("j1", owner=A, until=NOW + 40, now=NOW + 10) is not None  # ours
    assert await store.jobs.claim("j1", owner=B, until=NOW + 80, now=NOW + 41) is not None
    assert await store.jobs.claim("j1", owner=A, until=NOW + 90, now=NOW + 42) is None
    assert await store.jobs.claim("missing", owner=A, until=NOW + 30, now=NOW) is None


async def test_a_finished_job_is_never_claimed(store: Store) -> None:
    for state in (JobState.DELIVERED, JobState.FAILED, JobState.SUBMIT_UNKNOWN):
        await add(store, state.value, state)
        assert await store.jobs.claim(state.value, owner=A, until=NOW + 30, now=NOW) is None
    await add(store, "done", JobState.COMPLETED)
    assert await store.jobs.claim("done", owner=A, until=NOW + 30, now=NOW) is not None


async def test_renewing_extends_an_owners_unfinished_leases_only(store: Store) -> None:
    for job_id in ("a1", "a2", "b1"):
        await add(store, job_id, JobState.SUBMITTED, generation_id=f"g-{job_id}")
    await store.jobs.claim("a1", owner=A, until=NOW + 30, now=NOW)
    await store.jobs.claim("a2", owner=A, until=NOW + 30, now=NOW)
    await store.jobs.claim("b1", owner=B, until=NOW + 30, now=NOW)
    await store.jobs.transition("a2", JobState.SUBMITTED, JobState.FAILED, now=NOW)
    assert await store.jobs.renew_leases(A, until=NOW + 60, now=NOW + 20) == ["a1"]
    assert await store.jobs.claim("a1", owner=B, until=NOW + 90, now=NOW + 45) is None
    assert await store.jobs.claim("b1", owner=A, until=NOW + 90, now=NOW + 45) is not None
    assert await store.jobs.renew_leases(B, until=NOW + 90, now=NOW + 46) == []


async def test_a_released_lease_is_free_at_once(store: Store) -> None:
    for job_id in ("r1", "r2", "r3"):
        await add(store, job_id)
        await store.jobs.claim(job_id, owner=A, until=NOW + 30, now=NOW)
    assert await store.jobs.release_leases(B) == 0
    assert await store.jobs.release_leases(A, ["r1"]) == 1
    assert await store.jobs.release_leases(A, []) == 0
    assert await store.jobs.claim("r1", owner=B, until=NOW + 30, now=NOW + 1) is not None
    assert await store.jobs.claim("r2", owner=B, until=NOW + 30, now=NOW + 1) is None
    assert await store.jobs.release_leases(A) == 2
    assert await store.jobs.claim("r2", owner=B, until=NOW + 30, now=NOW + 1) is not None


async def test_in_flight_jobs_with_free_or_expired_leases_are_claimed_oldest_first(
    store: Store,
) -> None:
    await add(store, "queued", created_at=1.0)
    await add(store, "submitting", JobState.SUBMITTING, created_at=5.0)
    await add(store, "submitted", JobState.SUBMITTED, created_at=2.0, generation_id="g1")
    await add(store, "completed", JobState.COMPLETED, created_at=3.0)
    await add(store, "live", JobState.SUBMITTED, created_at=0.5, generation_id="g2")
    await add(store, "discord", JobState.SUBMITTED, created_at=4.0, origin=Origin.DISCORD)
    await add(store, "failed", JobState.FAILED, created_at=0.1)
    await store.jobs.claim("live", owner=B, until=NOW + 30, now=NOW)
    await store.jobs.claim("completed", owner=B, until=NOW - 1, now=NOW - 31)  # expired
    got = await store.jobs.claim_in_flight(
        owner=A, until=NOW + 30, now=NOW, limit=2, origins=[Origin.TERMINAL]
    )
    assert [job.id for job in got] == ["submitted", "completed"]
    rest = await store.jobs.claim_in_flight(owner=A, until=NOW + 30, now=NOW, limit=10)
    assert [job.id for job in rest] == ["discord", "submitting"]
    assert await store.jobs.claim_in_flight(owner=B, until=NOW + 30, now=NOW, limit=10) == []
    none = await store.jobs.claim_in_flight(owner=B, until=NOW, now=NOW, limit=5, origins=[])
    assert none == []


async def test_queued_jobs_go_first_to_the_requester_with_fewest_running(store: Store) -> None:
    # alice has two generations running; bob one; carol none. Each has queued jobs.
    await add(store, "a-run1", JobState.SUBMITTED, requester_id="alice", generation_id="g1")
    await add(store, "a-run2", JobState.SUBMITTING, requester_id="alice")
    await add(store, "b-run", JobState.SUBMITTED, requester_id="bob", generation_id="g3")
    await add(store, "a-q", created_at=1.0, requester_id="alice")
    await add(store, "b-q1", created_at=2.0, requester_id="bob")
    await add(store, "b-q2", created_at=3.0, requester_id="bob")
    await add(store, "c-q1", created_at=4.0, requester_id="carol")
    await add(store, "c-q2", created_at=5.0, requester_id="carol")
    await add(store, "c-new", created_at=NOW - 1, requester_id="carol")  # in its cancel window
    got = await store.jobs.claim_queued(
        owner=A, until=NOW + 30, now=NOW, limit=4, created_before=NOW - 4
    )
    # carol (0 running) first; then bob's first and carol's second (1 each, older first) ...
    assert [job.id for job in got] == ["c-q1", "b-q1", "c-q2", "a-q"]
    rest = await store.jobs.claim_queued(
        owner=B, until=NOW + 30, now=NOW, limit=4, created_before=NOW - 4
    )
    assert [job.id for job in rest] == ["b-q2"]


async def test_a_global_limit_counts_active_jobs_at_claim_time(store: Store) -> None:
    await add(store, "run", JobState.SUBMITTED, generation_id="g1")
    for index in range(4):
        await add(store, f"q{index}", created_at=float(index))
    got = await store.jobs.claim_queued(
        owner=A, until=NOW + 30, now=NOW, limit=5, created_before=NOW, active_limit=3
    )
    assert [job.id for job in got] == ["q0", "q1"]  # 1 running + 2 leased to run = 3
    assert await store.jobs.claim("q2", owner=B, until=NOW + 30, now=NOW, active_limit=3) is None
    assert await store.jobs.claim("q2", owner=B, until=NOW + 30, now=NOW, active_limit=4)
    # an in-flight job is not held back by the limit (it is counted already)
    assert await store.jobs.claim("run", owner=B, until=NOW + 30, now=NOW, active_limit=1)
    # a queued job whose lease expired no longer counts
    assert await store.jobs.claim("q3", owner=B, until=NOW + 99, now=NOW + 31, active_limit=3)


async def test_two_stores_on_one_database_never_claim_the_same_job(
    database_url: DatabaseUrl,
) -> None:
    first, second = await open_url(database_url), await open_url(database_url)
    try:
        for index in range(40):
            await add(first, f"q{index:02}", created_at=float(index), requester_id=f"m{index % 7}")

        async def claimer(store: Store, owner: str) -> list[str]:
            taken: list[str] = []
            while True:
                got = await store.jobs.claim_queued(
                    owner=owner,
                    until=NOW + 30,
                    now=NOW,
                    limit=3,
                    created_before=NOW,
                    active_limit=25,
                )
                if not got:
                    return taken
                taken.extend(job.id for job in got)

        ones, twos = await asyncio.gather(claimer(first, A), claimer(second, B))
        assert not set(ones) & set(twos)
        assert len(ones) + len(twos) == 25  # the global limit, across both
    finally:
        await first.close()
        await second.close()
