"""The quota (ledger, moderation, queries) on a real SQLite file: atomic limits, idempotence,
resets, policies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.quota.components import Quota
from bot.quota.events import (
    ExtraGranted,
    GenerationFinished,
    ModEvent,
    PoolChanged,
    PromptBlocked,
)
from bot.quota.models import (
    DM_GUILD_ID,
    GenerationNote,
    Grant,
    QuotaDefaults,
    QuotaInputError,
    Refusal,
    Requester,
)
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.database import SqliteDatabase as Database
from bot.tasks import TaskTracker
from bot.text.format import duration_text
from bot.text.modlog import modlog_line
from bot.text.refusals import refusal_text
from tests.bot.quota.support import refused_with

GUILD = 1111
OTHER_GUILD = 2222
CHANNEL = 50
MOD = 9
MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC).timestamp()

# Generous defaults so each test tightens only the limit it is about.
ROOMY = QuotaDefaults(
    member_limit_per_window=1000,
    member_window_seconds=3600,
    member_max_in_flight=1000,
    guild_daily_pool=100_000,
    guild_reset_minute=0,
    bot_daily_cap=100_000,
    dm_policy="personal",
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(MIDNIGHT + 10 * 3600)  # 10:00 UTC


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "quota.sqlite3")
    yield database
    await database.close()


def service(
    db: Database, clock: Clock, *, tasks: TaskTracker | None = None, **changes: object
) -> Quota:
    defaults = replace(ROOMY, **changes)  # type: ignore[arg-type]
    return Quota.build(SqliteStore(db).quota, defaults, tasks=tasks or TaskTracker(), clock=clock)


async def add_job_row(db: Database, job_id: str) -> None:
    """A jobs row, as the engine writes one after a reservation."""
    await db.execute(
        "INSERT INTO jobs (id, state, prompt, model, requester_id, origin, created_at, "
        "updated_at, deadline_at) VALUES (?, 'queued', 'p', 'm', '1', 'discord', 0, 0, 0)",
        (job_id,),
    )


async def bot_used(db: Database) -> int:
    row = await db.fetchone("SELECT COALESCE(SUM(used), 0) FROM quota_counters WHERE scope = 'bot'")
    assert row is not None
    return int(row[0])


def member(user_id: int, guild_id: int | None = GUILD, **extra: object) -> Requester:
    return Requester(user_id=user_id, guild_id=guild_id, channel_id=CHANNEL, **extra)  # type: ignore[arg-type]


async def count_rows(db: Database, where: str = "1", params: tuple[object, ...] = ()) -> int:
    row = await db.fetchone(f"SELECT COUNT(*) FROM quota_reservations WHERE {where}", params)  # noqa: S608
    assert row is not None
    return int(row[0])


def collect_events(quota: Quota) -> list[ModEvent]:
    """A list that fills with every ModEvent the quota publishes from now on."""
    events: list[ModEvent] = []

    async def collect(event: ModEvent) -> None:
        events.append(event)

    quota.events.subscribe(collect)
    return events


async def reserve_all(
    quota: Quota, requests: list[tuple[Requester, str]]
) -> tuple[list[Grant], list[Refusal]]:
    """Reserve concurrently; the grants and refusals in request order."""
    results = await asyncio.gather(
        *(quota.ledger.reserve(who, job, "piano") for who, job in requests)
    )
    return (
        [r for r in results if isinstance(r, Grant)],
        [r for r in results if isinstance(r, Refusal)],
    )


# -- atomicity under concurrency ---------------------------------------------------------------


async def test_200_concurrent_reservations_against_a_pool_of_50_grant_exactly_50(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, guild_daily_pool=50)
    grants, refusals = await reserve_all(
        quota, [(member(1000 + i), f"job-{i}") for i in range(200)]
    )
    assert len(grants) == 50
    assert {r.limit for r in refusals} == {"guild_pool"}
    assert sorted(g.pool_remaining for g in grants) == list(range(50))  # type: ignore[type-var]
    assert await count_rows(db) == 50
    assert (await quota.queries.pool_usage(GUILD)).used == 50


async def test_200_concurrent_reservations_by_one_member_with_limit_5_grant_exactly_5(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_limit_per_window=5)
    grants, refusals = await reserve_all(quota, [(member(7), f"job-{i}") for i in range(200)])
    assert len(grants) == 5
    assert sorted(g.member_remaining for g in grants) == [0, 1, 2, 3, 4]  # type: ignore[type-var]
    refusal = refusals[0]
    assert refusal.limit == "member_window"
    assert refusal.retry_at == clock.now + 3600
    assert await count_rows(db, "user_id = 7") == 5


async def test_in_flight_limit_refuses_the_second_until_the_first_finishes(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    assert isinstance(await quota.ledger.reserve(member(7), "a", "piano"), Grant)
    await quota.ledger.commit("a")
    second = await quota.ledger.reserve(member(7), "b", "piano")
    assert isinstance(second, Refusal) and second.limit == "member_in_flight"
    assert "1 track being made" in refusal_text(second)
    assert isinstance(
        await quota.ledger.reserve(member(8), "c", "piano"), Grant
    )  # others unaffected
    await quota.ledger.finish("a")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)


async def test_a_refund_ends_in_flight_status(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.refund("a")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)


async def test_in_flight_rows_expire_so_a_lost_finish_cannot_block_for_ever(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_max_in_flight=1, in_flight_expiry_seconds=600)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.commit("a")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Refusal)
    clock.now += 601
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)


# -- crash safety and idempotence --------------------------------------------------------------


async def test_a_crash_between_reserve_and_commit_leaves_the_credit_refundable(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "crash.sqlite3"
    db = await Database.open(path)
    quota = service(db, clock, guild_daily_pool=2, member_limit_per_window=2)
    assert isinstance(await quota.ledger.reserve(member(7), "lost", "piano"), Grant)
    assert isinstance(await quota.ledger.reserve(member(7), "kept", "piano"), Grant)
    await db.close()  # the process dies here

    db = await Database.open(path)
    try:
        quota = service(db, clock, guild_daily_pool=2, member_limit_per_window=2)
        full = await quota.ledger.reserve(member(8), "x", "piano")
        assert isinstance(full, Refusal) and full.limit == "guild_pool"
        await quota.ledger.refund("lost")
        remaining = await quota.queries.remaining(member(7))
        assert remaining.pool_remaining == 1
        assert remaining.member_remaining == 1
        await quota.ledger.commit("kept")
        row = await db.fetchone("SELECT state FROM quota_reservations WHERE job_id = 'kept'")
        assert row is not None and row["state"] == "committed"
        assert isinstance(await quota.ledger.reserve(member(8), "x", "piano"), Grant)
    finally:
        await db.close()


async def test_release_orphans_refunds_only_old_reservations_without_a_job(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, guild_daily_pool=10, member_max_in_flight=1)
    await quota.ledger.reserve(member(1), "orphan", "piano")
    await quota.ledger.reserve(member(2), "live", "piano")
    await quota.ledger.reserve(member(3), "spent", "piano")
    await quota.ledger.commit("spent")
    await add_job_row(db, "live")
    clock.now += 120
    await quota.ledger.reserve(member(4), "young", "piano")
    released = await quota.ledger.release_orphans(older_than=60)
    assert released == 1
    states = {
        r["job_id"]: (r["state"], r["in_flight"])
        for r in await db.fetchall("SELECT job_id, state, in_flight FROM quota_reservations")
    }
    assert states == {
        "orphan": ("refunded", 0),
        "live": ("reserved", 1),
        "spent": ("committed", 0),  # charged: stays spent, but no longer in flight
        "young": ("reserved", 1),
    }
    assert (await quota.queries.pool_usage(GUILD)).used == 3
    assert await quota.ledger.release_orphans(older_than=60) == 0


async def test_a_cancelled_reservation_never_keeps_its_credit(db: Database, clock: Clock) -> None:
    background = TaskTracker()
    quota = service(db, clock, tasks=background, guild_daily_pool=100)
    started, release = asyncio.Event(), asyncio.Event()
    original = db.run_in_transaction

    async def gated(work):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return await original(work)

    db.run_in_transaction = gated  # type: ignore[method-assign]
    tasks = [
        asyncio.ensure_future(quota.ledger.reserve(member(i), f"c{i}", "piano")) for i in range(20)
    ]
    await started.wait()  # the first reservation's batch is on its way to the database
    for task in tasks[::2]:  # cancel c0 (in that batch) and others still waiting
        task.cancel()
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await background.wait_idle()  # the background refunds of cancelled callers
    db.run_in_transaction = original  # type: ignore[method-assign]

    granted = {f"c{i}" for i, r in enumerate(results) if isinstance(r, Grant)}
    assert len(granted) == 10
    rows = await db.fetchall("SELECT job_id, state FROM quota_reservations")
    states = {r["job_id"]: r["state"] for r in rows}
    assert states.pop("c0") == "refunded"  # written, but its caller never heard: given back
    # The other cancelled ones either never ran or ran in a batch already on its way (how many
    # share c0's batch depends on how the database groups work): never written, or given back.
    assert {job: state for job, state in states.items() if job in granted} == dict.fromkeys(
        granted, "reserved"
    )
    assert {state for job, state in states.items() if job not in granted} <= {"refunded"}
    assert (await quota.queries.pool_usage(GUILD)).used == 10


async def test_commit_and_refund_are_idempotent(db: Database, clock: Clock) -> None:
    quota = service(db, clock, guild_daily_pool=3)
    for job in ("a", "b"):
        await quota.ledger.reserve(member(7), job, "piano")
    await quota.ledger.commit("a")
    await quota.ledger.commit("a")
    await quota.ledger.refund("a")  # after commit: nothing
    await quota.ledger.refund("b")
    await quota.ledger.refund("b")  # twice: given back once
    await quota.ledger.commit("b")  # after refund: nothing
    await quota.ledger.refund("never-reserved")
    await quota.ledger.commit("never-reserved")
    assert (await quota.queries.pool_usage(GUILD)).used == 1
    assert await bot_used(db) == 1
    rows = await db.fetchall("SELECT job_id, state FROM quota_reservations")
    states = {str(r[0]): str(r[1]) for r in rows}
    assert states == {"a": "committed", "b": "refunded"}


async def test_retrying_a_reservation_with_the_same_job_id_returns_the_same_grant(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, guild_daily_pool=3)
    first = await quota.ledger.reserve(member(7), "a", "piano")
    again = await asyncio.gather(*(quota.ledger.reserve(member(7), "a", "piano") for _ in range(5)))
    assert all(g == first for g in again)
    assert (await quota.queries.pool_usage(GUILD)).used == 1
    await quota.ledger.refund("a")
    reused = await quota.ledger.reserve(member(7), "a", "piano")
    assert isinstance(reused, Refusal) and reused.limit == "duplicate_job"
    with pytest.raises(ValueError, match="someone else"):
        await quota.ledger.reserve(member(8), "a", "piano")


# -- windows and resets ------------------------------------------------------------------------


async def test_the_member_window_rolls(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_limit_per_window=2, member_window_seconds=3600)
    start = clock.now
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.finish("a")
    clock.now += 600
    await quota.ledger.reserve(member(7), "b", "piano")
    await quota.ledger.finish("b")
    clock.now += 600
    refused = await quota.ledger.reserve(member(7), "c", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "member_window"
    assert refused.retry_at == start + 3600
    assert "2 tracks per hour" in refusal_text(refused)
    clock.now = start + 3600 - 1
    assert isinstance(await quota.ledger.reserve(member(7), "c", "piano"), Refusal)
    clock.now = start + 3600
    grant = await quota.ledger.reserve(member(7), "c", "piano")
    assert isinstance(grant, Grant) and grant.member_remaining == 0


async def test_a_window_limit_lowered_to_zero_refuses_without_a_retry_time(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.moderation.set_member_limits(GUILD, per_window=0, by=MOD)
    for user in (7, 8):
        refused = await quota.ledger.reserve(member(user), f"b{user}", "piano")
        assert isinstance(refused, Refusal) and refused.limit == "member_window"
        assert refused.retry_at is None


async def test_refunded_credit_does_not_count_against_the_window(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_limit_per_window=1)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.refund("a")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)


async def test_the_pool_resets_at_the_servers_time_of_day(db: Database, clock: Clock) -> None:
    quota = service(db, clock, guild_daily_pool=2)
    await quota.moderation.set_pool(GUILD, size=2, reset_minute=6 * 60, by=MOD)
    clock.now = MIDNIGHT + 5 * 3600  # 05:00, in the period that began yesterday 06:00
    for i in range(2):
        assert isinstance(await quota.ledger.reserve(member(i), f"j{i}", "piano"), Grant)
        await quota.ledger.finish(f"j{i}")
    refused = await quota.ledger.reserve(member(5), "late", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "guild_pool"
    assert refused.retry_at == MIDNIGHT + 6 * 3600
    assert "refills at 06:00 UTC" in refusal_text(refused)
    clock.now = MIDNIGHT + 6 * 3600 - 1
    assert isinstance(await quota.ledger.reserve(member(5), "late", "piano"), Refusal)
    # Another server's pool is its own.
    assert isinstance(await quota.ledger.reserve(member(5, OTHER_GUILD), "other", "piano"), Grant)
    clock.now = MIDNIGHT + 6 * 3600
    grant = await quota.ledger.reserve(member(5), "late", "piano")
    assert isinstance(grant, Grant) and grant.pool_remaining == 1
    remaining = await quota.queries.remaining(member(5))
    assert remaining.next_reset_at == MIDNIGHT + 30 * 3600


async def test_moving_the_reset_time_carries_todays_usage_and_never_yesterdays(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, guild_daily_pool=2)
    clock.now = MIDNIGHT - 3600  # yesterday 23:00: one of yesterday's pool
    assert isinstance(await quota.ledger.reserve(member(1), "old", "piano"), Grant)
    clock.now = MIDNIGHT + 10 * 3600  # today 10:00: one of today's
    assert isinstance(await quota.ledger.reserve(member(2), "today", "piano"), Grant)
    carried = await quota.moderation.set_pool(GUILD, reset_minute=12 * 60, by=MOD)
    # Now inside the period that began yesterday 12:00: today's track carries over (moving the
    # reset hands out no fresh pool), yesterday's does not land in it.
    assert carried == 1
    usage = await quota.queries.pool_usage(GUILD)
    assert usage.period_start == MIDNIGHT - 12 * 3600
    assert usage.used == 1 and usage.next_reset_at == MIDNIGHT + 12 * 3600
    assert isinstance(await quota.ledger.reserve(member(3), "moved", "piano"), Grant)
    refused = await quota.ledger.reserve(member(4), "full", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "guild_pool"
    # A refund of the carried track gives back to the period it now counts in.
    await quota.ledger.refund("today")
    assert (await quota.queries.pool_usage(GUILD)).used == 1


async def test_refund_after_the_pool_reset_gives_back_to_the_period_it_came_from(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, guild_daily_pool=1)
    clock.now = MIDNIGHT + 23 * 3600
    await quota.ledger.reserve(member(1), "a", "piano")
    clock.now = MIDNIGHT + 25 * 3600
    await quota.ledger.reserve(member(2), "b", "piano")
    await quota.ledger.refund("a")
    assert (await quota.queries.pool_usage(GUILD)).used == 1  # today's use is untouched


# -- roles, exemptions, extra credit, resets -------------------------------------------------


async def test_role_overrides_give_the_most_generous_and_exempt_roles_skip_member_limits(
    db: Database, clock: Clock
) -> None:
    quota = service(
        db, clock, member_limit_per_window=1, member_max_in_flight=1, guild_daily_pool=6
    )
    await quota.moderation.set_role_override(GUILD, 100, per_window=2, by=MOD)
    await quota.moderation.set_role_override(GUILD, 101, per_window=3, max_in_flight=5, by=MOD)
    await quota.moderation.set_role_override(GUILD, 102, exempt=True, by=MOD)

    both = member(7, role_ids=frozenset({100, 101}))
    grants = [await quota.ledger.reserve(both, f"b{i}", "piano") for i in range(4)]
    assert [isinstance(g, Grant) for g in grants] == [True, True, True, False]
    assert isinstance(grants[3], Refusal) and grants[3].limit == "member_window"

    only_small = member(8, role_ids=frozenset({100}))
    grants = [await quota.ledger.reserve(only_small, f"s{i}", "piano") for i in range(2)]
    assert isinstance(grants[0], Grant)
    assert isinstance(grants[1], Refusal) and grants[1].limit == "member_in_flight"

    exempt = member(9, role_ids=frozenset({102, 100}))
    first = await quota.ledger.reserve(exempt, "e0", "piano")
    assert isinstance(first, Grant) and first.member_remaining is None
    second = await quota.ledger.reserve(exempt, "e1", "piano")  # in flight and over window: fine
    assert isinstance(second, Grant)
    third = await quota.ledger.reserve(exempt, "e2", "piano")  # but the pool (6) is used up
    assert isinstance(third, Refusal) and third.limit == "guild_pool"
    assert (await quota.queries.remaining(exempt)).member_remaining is None

    assert await quota.moderation.clear_role_override(GUILD, 102, by=MOD)
    after = await quota.ledger.reserve(exempt, "e3", "piano")
    assert isinstance(after, Refusal) and after.limit == "member_in_flight"


async def test_extra_credit_adds_to_the_window_and_comes_back_on_refund(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_limit_per_window=1)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.finish("a")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Refusal)
    assert await quota.moderation.grant_extra(GUILD, 7, 2, by=MOD) == 2
    assert (await quota.queries.remaining(member(7))).member_remaining == 2
    grant = await quota.ledger.reserve(member(7), "b", "piano")
    assert isinstance(grant, Grant) and grant.member_remaining == 1
    await quota.ledger.refund("b")
    assert (await quota.queries.remaining(member(7))).extra_credit == 2
    for job in ("c", "d"):
        assert isinstance(await quota.ledger.reserve(member(7), job, "piano"), Grant)
        await quota.ledger.finish(job)
    assert isinstance(await quota.ledger.reserve(member(7), "e", "piano"), Refusal)
    with pytest.raises(QuotaInputError):
        await quota.moderation.grant_extra(GUILD, 7, 0, by=MOD)


async def test_resetting_a_member_clears_their_window(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_limit_per_window=1, guild_daily_pool=5)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.finish("a")
    clock.now += 1
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Refusal)
    await quota.moderation.reset_member(GUILD, 7, by=MOD)
    clock.now += 1
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)
    assert (await quota.queries.pool_usage(GUILD)).used == 2  # the shared pool still remembers


# -- bot cap and direct messages ---------------------------------------------------------------


async def test_the_bot_wide_daily_cap_spans_servers_and_resets_at_utc_midnight(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, bot_daily_cap=3)
    for i, guild in enumerate([GUILD, OTHER_GUILD, None]):
        assert isinstance(await quota.ledger.reserve(member(i, guild), f"j{i}", "piano"), Grant)
    refused = await quota.ledger.reserve(member(5, OTHER_GUILD), "x", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "bot_cap"
    assert refused.retry_at == MIDNIGHT + 86400
    clock.now = MIDNIGHT + 86400
    assert isinstance(await quota.ledger.reserve(member(5, OTHER_GUILD), "x", "piano"), Grant)


async def test_direct_messages_get_personal_limits_only(db: Database, clock: Clock) -> None:
    quota = service(
        db, clock, member_limit_per_window=2, member_max_in_flight=1, guild_daily_pool=0
    )
    dm = Requester(user_id=7, guild_id=None, channel_id=None)
    grants = [await quota.ledger.reserve(dm, f"d{i}", "piano") for i in range(3)]
    assert isinstance(grants[0], Grant) and grants[0].pool_remaining is None
    assert isinstance(grants[1], Refusal) and grants[1].limit == "member_in_flight"
    await quota.ledger.finish("d0")
    assert isinstance(await quota.ledger.reserve(dm, "d1", "piano"), Grant)
    await quota.ledger.finish("d1")
    refused = await quota.ledger.reserve(dm, "d2", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "member_window"
    row = await db.fetchone("SELECT guild_id FROM quota_reservations WHERE job_id = 'd0'")
    assert row is not None and row[0] == DM_GUILD_ID
    remaining = await quota.queries.remaining(dm)
    assert remaining.member_remaining == 0 and remaining.pool_remaining is None
    assert remaining.next_reset_at == clock.now + 3600


async def test_direct_messages_can_be_turned_off(db: Database, clock: Clock) -> None:
    quota = service(db, clock, dm_policy="off")
    refused = await quota.ledger.reserve(Requester(7, None, None), "d", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "dm_off"
    assert await count_rows(db) == 0


# -- moderation: pause, bar, channels, block list ----------------------------------------------


async def test_a_paused_server_refuses_and_resumes(db: Database, clock: Clock) -> None:
    quota = service(db, clock)
    await quota.moderation.set_paused(GUILD, True, by=MOD)
    refused = await quota.ledger.reserve(member(7), "a", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "paused"
    assert isinstance(await quota.ledger.reserve(member(7, OTHER_GUILD), "b", "piano"), Grant)
    await quota.moderation.set_paused(GUILD, False, by=MOD)
    assert isinstance(await quota.ledger.reserve(member(7), "a", "piano"), Grant)


async def test_a_barred_member_is_refused_politely_until_unbarred(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    assert await quota.moderation.set_barred(GUILD, 7, True, by=MOD)
    assert not await quota.moderation.set_barred(GUILD, 7, True, by=MOD)
    refused = await quota.ledger.reserve(member(7), "a", "piano")
    assert isinstance(refused, Refusal) and refused.limit == "barred"
    assert "moderator" in refusal_text(refused) and refused.retry_at is None
    assert await quota.queries.barred_members(GUILD) == [7]
    assert (await quota.queries.remaining(member(7))).barred
    assert not (await quota.queries.remaining(member(8))).barred
    assert await quota.moderation.set_barred(GUILD, 7, False, by=MOD)
    assert not (await quota.queries.remaining(member(7))).barred
    assert isinstance(await quota.ledger.reserve(member(7), "a", "piano"), Grant)


async def test_channel_restriction_applies_to_members_but_not_moderators(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    await quota.moderation.set_allowed_channels(GUILD, [60, 61], by=MOD)
    refused = await quota.ledger.reserve(member(7), "a", "piano")  # channel 50
    assert isinstance(refused, Refusal) and refused.limit == "channel"
    ok = Requester(user_id=7, guild_id=GUILD, channel_id=61)
    assert isinstance(await quota.ledger.reserve(ok, "a", "piano"), Grant)
    assert isinstance(await quota.ledger.reserve(member(8, is_moderator=True), "m", "piano"), Grant)
    assert (await quota.queries.settings(GUILD)).allowed_channel_ids == {60, 61}
    await quota.moderation.set_allowed_channels(GUILD, [], by=MOD)
    assert isinstance(await quota.ledger.reserve(member(9), "b", "piano"), Grant)


async def test_a_blocked_prompt_is_refused_free_and_reported_to_the_mod_log(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    events = collect_events(quota)
    await quota.moderation.add_blocked_term(GUILD, "Crème Brûlée", by=MOD)
    await quota.moderation.add_blocked_term(GUILD, r"sp[a4]m+y", regex=True, by=MOD)
    with refused_with("not valid"):
        await quota.moderation.add_blocked_term(GUILD, "(oops", regex=True, by=MOD)
    events.clear()

    for i, prompt in enumerate(["c r e m e  b-r-u-l-e-e jazz", "SP4MMY synths", "CRÈME BRÛLÉE"]):
        refused = await quota.ledger.reserve(member(7), f"x{i}", prompt)
        assert isinstance(refused, Refusal) and refused.limit == "blocked_prompt"
        said = refusal_text(refused).lower()
        assert "creme" not in said and "spam" not in said
    assert await count_rows(db) == 0
    assert [type(e) for e in events] == [PromptBlocked] * 3
    blocked = [e for e in events if isinstance(e, PromptBlocked)]
    assert blocked[0].guild_id == GUILD and blocked[0].user_id == 7
    assert blocked[1].prompt == "SP4MMY synths"

    # Only this server's list applies, and removing the entry lifts the block.
    assert isinstance(
        await quota.ledger.reserve(member(7, OTHER_GUILD), "o", "CRÈME BRÛLÉE"), Grant
    )
    assert await quota.moderation.remove_blocked_term(GUILD, "Crème   Brûlée", by=MOD)
    assert isinstance(await quota.ledger.reserve(member(7), "y", "crème brûlée"), Grant)


async def test_a_barred_member_hears_about_the_bar_not_the_block_list(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    await quota.moderation.add_blocked_term(GUILD, "nope", by=MOD)
    await quota.moderation.set_barred(GUILD, 7, True, by=MOD)
    refused = await quota.ledger.reserve(member(7), "a", "nope")
    assert isinstance(refused, Refusal) and refused.limit == "barred"


# -- the mod log and reports ---------------------------------------------------------------------


async def test_moderator_actions_and_generations_reach_event_listeners(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)

    async def broken(event: ModEvent) -> None:
        raise RuntimeError("a failing listener must not break the others")

    quota.events.subscribe(broken)
    events = collect_events(quota)
    await quota.moderation.set_pool(GUILD, size=80, reset_minute=6 * 60 + 30, by=MOD)
    await quota.moderation.grant_extra(GUILD, 7, 3, by=MOD)
    link = "https://discord.com/channels/1/2/3"
    note = GenerationNote("j1", GUILD, 7, "calm piano", "delivered", link)
    await quota.ledger.finish("j1", note)
    await quota.ledger.finish("j2", GenerationNote("j2", DM_GUILD_ID, 7, "dm", "delivered"))
    assert [type(e) for e in events] == [PoolChanged, ExtraGranted, GenerationFinished]
    assert modlog_line(events[0]) == (
        f"⚙️ <@{MOD}> set the daily pool to 80 tracks and the reset time to 06:30 UTC."
    )
    assert events[1] == ExtraGranted(GUILD, MOD, 7, 3, 3)
    assert events[2] == GenerationFinished(note)
    line = modlog_line(events[2])
    assert "<@7>" in line and "calm piano" in line and f"<{link}>" in line
    rows = await db.fetchall("SELECT job_id, outcome FROM quota_generation_log ORDER BY job_id")
    assert [tuple(r) for r in rows] == [("j1", "delivered"), ("j2", "delivered")]


async def test_settings_fall_back_to_defaults_and_validate_input(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, guild_daily_pool=50)
    settings = await quota.queries.settings(GUILD)
    assert settings.daily_pool == 50 and settings.overridden == frozenset()
    await quota.moderation.set_member_limits(GUILD, per_window=3, window_seconds=1800, by=MOD)
    settings = await quota.queries.settings(GUILD)
    assert (settings.member_limit, settings.window_seconds) == (3, 1800)
    assert settings.overridden == {"member_limit", "window_seconds"}
    with pytest.raises(QuotaInputError):
        await quota.moderation.set_member_limits(GUILD, window_seconds=10, by=MOD)
    with pytest.raises(QuotaInputError):
        await quota.moderation.set_pool(GUILD, size=-1, by=MOD)
    with pytest.raises(QuotaInputError):
        await quota.moderation.set_pool(GUILD, by=MOD)


async def test_leaderboard_counts_todays_spent_and_reserved_credit(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    for i, user in enumerate([7, 7, 8, 7, 9, 8]):
        await quota.ledger.reserve(member(user), f"j{i}", "piano")
    await quota.ledger.refund("j4")
    assert await quota.queries.leaderboard(GUILD) == [(7, 3), (8, 2)]


async def test_remaining_reports_member_pool_and_next_reset(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_limit_per_window=5, guild_daily_pool=50)
    await quota.ledger.reserve(member(7), "a", "piano")
    remaining = await quota.queries.remaining(member(7))
    assert (remaining.member_remaining, remaining.pool_remaining) == (4, 49)
    assert remaining.next_reset_at == MIDNIGHT + 86400
    assert remaining.in_flight == 1 and remaining.member_slot_at is None
    await quota.ledger.finish("a")
    clock.now += 60
    for job in "bcde":
        await quota.ledger.reserve(member(7), job, "piano")
        await quota.ledger.finish(job)
    remaining = await quota.queries.remaining(member(7))
    assert remaining.member_remaining == 0 and remaining.in_flight == 0
    assert remaining.member_slot_at == clock.now - 60 + 3600  # when "a" leaves the window


async def test_defaults_come_from_settings() -> None:
    from bot.config import load_settings

    settings = load_settings(
        {"GUILD_RESET_TIME": "06:30", "MEMBER_LIMIT_PER_WINDOW": "3", "DM_POLICY": "off"},
        dotenv_path=Path("/nonexistent"),
    )
    defaults = QuotaDefaults.from_settings(settings)
    assert defaults.guild_reset_minute == 390
    assert defaults.member_limit_per_window == 3
    assert defaults.dm_policy == "off"
    assert defaults.guild_daily_pool == 50


async def test_finishing_a_job_ends_its_in_flight_status(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    await quota.ledger.reserve(member(7), "a", "piano")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Refusal)
    await quota.ledger.finish("a")
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)


async def test_refusal_texts_read_naturally_for_any_number(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_max_in_flight=2)
    await quota.ledger.reserve(member(7), "a", "piano")
    await quota.ledger.reserve(member(7), "b", "piano")
    refused = await quota.ledger.reserve(member(7), "c", "piano")
    assert isinstance(refused, Refusal)
    said = refusal_text(refused)
    assert "2 tracks being made" in said and "one of them" in said
    assert [duration_text(s) for s in (3600, 7200, 5400, 60, 90)] == [
        "1 hour",
        "2 hours",
        "90 minutes",
        "1 minute",
        "90 seconds",
    ]
