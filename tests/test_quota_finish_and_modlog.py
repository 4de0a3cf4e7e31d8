"""QuotaService: finish_and_note in one transaction; the cached mod-log channel and forgetting
a channel that is gone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.quota.models import DM_GUILD_ID
from bot.quota.service import Grant, Refusal
from bot.store import quota as q
from bot.store.database import Database
from tests import test_quota_service as base
from tests.test_quota_service import GUILD, MOD, Clock, collect_events, member, service

# The same fixtures as the main quota tests: a real SQLite file and a settable clock.
clock = base.clock
db = base.db


async def logged_outcomes(db: Database) -> list[tuple[str, str]]:
    rows = await db.fetchall("SELECT job_id, outcome FROM quota_generation_log ORDER BY job_id")
    return [(str(r[0]), str(r[1])) for r in rows]


async def test_finish_and_note_ends_in_flight_records_and_tells_the_mod_log(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    events = collect_events(quota)
    assert isinstance(await quota.reserve(member(7), "a", "piano"), Grant)
    assert isinstance(await quota.reserve(member(7), "b", "piano"), Refusal)  # one at a time
    await quota.finish_and_note(
        guild_id=GUILD,
        user_id=7,
        prompt="piano",
        job_id="a",
        outcome="delivered",
        link="https://discord.com/channels/1/2/3",
    )
    assert await logged_outcomes(db) == [("a", "delivered")]
    assert [(e.kind, e.user_id, e.link) for e in events] == [
        ("generation", 7, "https://discord.com/channels/1/2/3")
    ]
    assert isinstance(await quota.reserve(member(7), "b", "piano"), Grant)  # no longer in flight
    # Idempotent: a second call updates the record and does not fail.
    await quota.finish_and_note(
        guild_id=GUILD, user_id=7, prompt="piano", job_id="a", outcome="failed", link=None
    )
    assert await logged_outcomes(db) == [("a", "failed")]


async def test_finish_and_note_is_one_transaction(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    quota = service(db, clock, member_max_in_flight=1)
    await quota.reserve(member(7), "a", "piano")

    def broken(conn: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(q, "log_generation", broken)
    with pytest.raises(RuntimeError):
        await quota.finish_and_note(
            guild_id=GUILD, user_id=7, prompt="piano", job_id="a", outcome="failed", link=None
        )
    # The note failed, so the finish was rolled back with it: still in flight.
    row = await db.fetchone("SELECT in_flight FROM quota_reservations WHERE job_id = 'a'")
    assert row is not None and row[0] == 1
    assert isinstance(await quota.reserve(member(7), "b", "piano"), Refusal)


async def test_finish_and_note_in_a_dm_records_but_posts_nothing(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    events = collect_events(quota)
    await quota.reserve(member(7, guild_id=None), "d", "piano")
    await quota.finish_and_note(
        guild_id=DM_GUILD_ID, user_id=7, prompt="piano", job_id="d", outcome="delivered", link=None
    )
    assert await logged_outcomes(db) == [("d", "delivered")]
    assert events == []
    row = await db.fetchone("SELECT in_flight FROM quota_reservations WHERE job_id = 'd'")
    assert row is not None and row[0] == 0


async def test_the_modlog_channel_is_cached_until_a_moderator_changes_it(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    assert await quota.modlog_channel(GUILD) is None
    await quota.set_modlog_channel(GUILD, 77, by=MOD)
    assert await quota.modlog_channel(GUILD) == 77
    # Behind the service's back: the cached value is still used (no query per event)...
    await db.execute(
        "UPDATE quota_guild_settings SET modlog_channel_id = 5 WHERE guild_id = ?", (GUILD,)
    )
    assert await quota.modlog_channel(GUILD) == 77
    # ...and a moderator's change through the service is seen at once.
    await quota.set_modlog_channel(GUILD, 88, by=MOD)
    assert await quota.modlog_channel(GUILD) == 88
    await quota.set_modlog_channel(GUILD, None, by=MOD)
    assert await quota.modlog_channel(GUILD) is None


async def test_a_read_racing_a_change_does_not_cache_the_old_channel(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    await quota.set_modlog_channel(GUILD, 77, by=MOD)
    quota._modlog_channels.invalidate(GUILD)  # start cold
    reading = asyncio.Event()
    release = asyncio.Event()
    real_guild_row = quota.store.guild_row

    async def slow_guild_row(guild_id: int) -> Any:
        row = await real_guild_row(guild_id)
        reading.set()
        await release.wait()
        return row

    quota.store.guild_row = slow_guild_row  # type: ignore[method-assign]
    stale = asyncio.create_task(quota.modlog_channel(GUILD))
    await reading.wait()  # the read has the old row
    await quota.set_modlog_channel(GUILD, 88, by=MOD)
    release.set()
    assert await stale == 77  # what was there when it read
    quota.store.guild_row = real_guild_row  # type: ignore[method-assign]
    assert await quota.modlog_channel(GUILD) == 88  # but the stale value was not cached


async def test_forgetting_a_vanished_modlog_channel_happens_once_and_only_for_that_channel(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    await quota.set_modlog_channel(GUILD, 77, by=MOD)
    events = collect_events(quota)
    assert await quota.modlog_channel(GUILD) == 77
    assert await quota.forget_modlog_channel(GUILD, 77) is True
    assert await quota.modlog_channel(GUILD) is None
    assert (await quota.settings(GUILD)).modlog_channel_id is None
    assert await quota.forget_modlog_channel(GUILD, 77) is False  # already off
    # A moderator picked another channel meanwhile: a late failure from 77 leaves it alone.
    await quota.set_modlog_channel(GUILD, 88, by=MOD)
    assert await quota.forget_modlog_channel(GUILD, 77) is False
    assert await quota.modlog_channel(GUILD) == 88
    assert [e.kind for e in events] == ["settings"]  # forgetting is not announced


async def test_a_block_list_change_during_a_policy_load_is_enforced_at_once(
    db: Database, clock: Clock
) -> None:
    quota = service(db, clock)
    reading, release = asyncio.Event(), asyncio.Event()
    real_blocked_terms = quota.store.blocked_terms
    calls = 0

    async def slow_first_load(guild_id: int) -> Any:
        nonlocal calls
        calls += 1
        terms = await real_blocked_terms(guild_id)
        if calls == 1:
            reading.set()
            await release.wait()
        return terms

    quota.store.blocked_terms = slow_first_load  # type: ignore[method-assign]
    early = asyncio.create_task(quota.reserve(member(7), "a", "a nasty tune"))
    await reading.wait()  # that reservation read the list before the moderator's change
    await quota.add_blocked_term(GUILD, "nasty", by=MOD)
    release.set()
    assert isinstance(await early, Grant)  # it checked the list as it was
    later = await quota.reserve(member(7), "b", "a nasty tune")
    assert isinstance(later, Refusal) and later.limit == "blocked_prompt"


async def test_a_failed_background_refund_is_logged_not_lost(
    db: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    quota = service(db, clock)

    async def broken_refund(job_id: str) -> None:
        raise RuntimeError("the database went away")

    quota.refund = broken_refund  # type: ignore[method-assign]
    task = asyncio.create_task(quota.reserve(member(7, guild_id=None), "dm-1", "piano"))
    await asyncio.sleep(0)  # it is now waiting for its transaction
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await quota.wait_idle()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "quota-refund-dm-1 failed" in errors[0].getMessage()
    assert errors[0].exc_info is not None and "went away" in str(errors[0].exc_info[1])
