"""The ledger's finish (with the outcome noted) in one transaction; the cached mod-log channel
and block list, and forgetting a channel that is gone."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from typing import Any

import pytest

from bot.quota.components import Quota
from bot.quota.events import GenerationFinished, ModlogChanged
from bot.quota.models import DM_GUILD_ID, GenerationNote, Grant, Refusal
from bot.store.sqlite.database import SqliteDatabase as Database
from bot.store.sqlite.quota import SqliteQuotaRepository
from bot.tasks import TaskTracker
from tests.bot.quota import test_quota as base
from tests.bot.quota.test_quota import GUILD, MOD, ROOMY, Clock, collect_events, member, service

# The same fixtures as the main quota tests: a real SQLite file and a settable clock.
clock = base.clock
db = base.db


def quota_on(repository: SqliteQuotaRepository, clock: Clock, tasks: TaskTracker) -> Quota:
    """A quota over `repository`, whose methods a test may replace."""
    return Quota.build(repository, ROOMY, tasks=tasks, clock=clock)


async def logged_outcomes(db: Database) -> list[tuple[str, str]]:
    rows = await db.fetchall("SELECT job_id, outcome FROM quota_generation_log ORDER BY job_id")
    return [(str(r[0]), str(r[1])) for r in rows]


def note(
    job_id: str, outcome: str, *, guild_id: int = GUILD, link: str | None = None
) -> GenerationNote:
    return GenerationNote(job_id, guild_id, 7, "piano", outcome, link)


async def test_finish_with_a_note_ends_in_flight_records_and_tells_the_mod_log(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    events = collect_events(quota)
    assert isinstance(await quota.ledger.reserve(member(7), "a", "piano"), Grant)
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Refusal)  # one at once
    delivered = note("a", "delivered", link="https://discord.com/channels/1/2/3")
    await quota.ledger.finish("a", delivered)
    assert await logged_outcomes(db) == [("a", "delivered")]
    assert events == [GenerationFinished(delivered)]
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Grant)  # not in flight
    # Idempotent: a second call updates the record and does not fail.
    await quota.ledger.finish("a", note("a", "failed"))
    assert await logged_outcomes(db) == [("a", "failed")]


async def test_finish_with_a_note_is_one_transaction(db: Database, clock: Clock) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    await quota.ledger.reserve(member(7), "a", "piano")
    await db.execute("DROP TABLE quota_generation_log")  # the note cannot be written
    with pytest.raises(sqlite3.OperationalError):
        await quota.ledger.finish("a", note("a", "failed"))
    # The note failed, so the finish was rolled back with it: still in flight.
    row = await db.fetchone("SELECT in_flight FROM quota_reservations WHERE job_id = 'a'")
    assert row is not None and row[0] == 1
    assert isinstance(await quota.ledger.reserve(member(7), "b", "piano"), Refusal)


async def test_finish_with_a_note_in_a_dm_records_but_posts_nothing(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    events = collect_events(quota)
    await quota.ledger.reserve(member(7, guild_id=None), "d", "piano")
    await quota.ledger.finish("d", note("d", "delivered", guild_id=DM_GUILD_ID))
    assert await logged_outcomes(db) == [("d", "delivered")]
    assert events == []
    row = await db.fetchone("SELECT in_flight FROM quota_reservations WHERE job_id = 'd'")
    assert row is not None and row[0] == 0


async def test_the_modlog_channel_is_cached_until_a_moderator_changes_it(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    assert await quota.queries.modlog_channel(GUILD) is None
    await quota.moderation.set_modlog_channel(GUILD, 77, by=MOD)
    assert await quota.queries.modlog_channel(GUILD) == 77
    # Behind the quota's back: the cached value is still used (no query per event)...
    await db.execute(
        "UPDATE quota_guild_settings SET modlog_channel_id = 5 WHERE guild_id = ?", (GUILD,)
    )
    assert await quota.queries.modlog_channel(GUILD) == 77
    # ...and a moderator's change through the quota is seen at once.
    await quota.moderation.set_modlog_channel(GUILD, 88, by=MOD)
    assert await quota.queries.modlog_channel(GUILD) == 88
    await quota.moderation.set_modlog_channel(GUILD, None, by=MOD)
    assert await quota.queries.modlog_channel(GUILD) is None


async def test_a_read_racing_a_change_does_not_cache_the_old_channel(
    db: Database, clock: Clock
) -> None:
    repository = SqliteQuotaRepository(db)
    quota = quota_on(repository, clock, TaskTracker())
    await quota.moderation.set_modlog_channel(GUILD, 77, by=MOD)  # leaves the cache cold
    reading = asyncio.Event()
    release = asyncio.Event()
    real_guild = repository.guild

    async def slow_guild(guild_id: int) -> Any:
        record = await real_guild(guild_id)
        reading.set()
        await release.wait()
        return record

    repository.guild = slow_guild  # type: ignore[method-assign]
    stale = asyncio.create_task(quota.queries.modlog_channel(GUILD))
    await reading.wait()  # the read has the old record
    await quota.moderation.set_modlog_channel(GUILD, 88, by=MOD)
    release.set()
    assert await stale == 77  # what was there when it read
    repository.guild = real_guild  # type: ignore[method-assign]
    assert await quota.queries.modlog_channel(GUILD) == 88  # but the stale value was not cached


async def test_forgetting_a_vanished_modlog_channel_happens_once_and_only_for_that_channel(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    await quota.moderation.set_modlog_channel(GUILD, 77, by=MOD)
    events = collect_events(quota)
    assert await quota.queries.modlog_channel(GUILD) == 77
    assert await quota.moderation.forget_modlog_channel(GUILD, 77) is True
    assert await quota.queries.modlog_channel(GUILD) is None
    assert (await quota.queries.settings(GUILD)).modlog_channel_id is None
    assert await quota.moderation.forget_modlog_channel(GUILD, 77) is False  # already off
    # A moderator picked another channel meanwhile: a late failure from 77 leaves it alone.
    await quota.moderation.set_modlog_channel(GUILD, 88, by=MOD)
    assert await quota.moderation.forget_modlog_channel(GUILD, 77) is False
    assert await quota.queries.modlog_channel(GUILD) == 88
    assert events == [ModlogChanged(GUILD, MOD, 88)]  # forgetting is not announced


async def test_a_block_list_change_during_a_policy_load_is_enforced_at_once(
    db: Database, clock: Clock
) -> None:
    repository = SqliteQuotaRepository(db)
    quota = quota_on(repository, clock, TaskTracker())
    reading, release = asyncio.Event(), asyncio.Event()
    real_blocked_terms = repository.blocked_terms
    calls = 0

    async def slow_first_load(guild_id: int) -> Any:
        nonlocal calls
        calls += 1
        terms = await real_blocked_terms(guild_id)
        if calls == 1:
            reading.set()
            await release.wait()
        return terms

    repository.blocked_terms = slow_first_load  # type: ignore[method-assign]
    early = asyncio.create_task(quota.ledger.reserve(member(7), "a", "a nasty tune"))
    await reading.wait()  # that reservation read the list before the moderator's change
    await quota.moderation.add_blocked_term(GUILD, "nasty", by=MOD)
    release.set()
    assert isinstance(await early, Grant)  # it checked the list as it was
    later = await quota.ledger.reserve(member(7), "b", "a nasty tune")
    assert isinstance(later, Refusal) and later.limit == "blocked_prompt"


async def test_a_failed_background_refund_is_logged_not_lost(
    db: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    repository = SqliteQuotaRepository(db)
    tasks = TaskTracker()
    quota = quota_on(repository, clock, tasks)

    async def broken_refund(job_id: str, *, now: float) -> bool:
        raise RuntimeError("the database went away")

    repository.refund = broken_refund  # type: ignore[method-assign]
    dm = replace(member(7), guild_id=None)
    task = asyncio.create_task(quota.ledger.reserve(dm, "dm-1", "piano"))
    await asyncio.sleep(0)  # it is now waiting for its transaction
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await tasks.wait_idle()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "quota-refund-dm-1 failed" in errors[0].getMessage()
    assert errors[0].exc_info is not None and "went away" in str(errors[0].exc_info[1])
