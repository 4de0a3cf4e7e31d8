"""`python -m bot migrate`, `check` and `copy-db` on both backends: the backend and its schema
version named, passwords never printed, every row carried across and back."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from bot.cli.copy_db import copy_db
from bot.config import DatabaseUrl
from bot.jams.models import (
    Accepted,
    EndReason,
    EntryDraft,
    Jam,
    JamDraft,
    JamSettings,
    JamSnapshot,
)
from bot.jams.rules import JamRules
from bot.jobs.models import Delivery, DeliveryVia, Job, JobState, Observation, Origin
from bot.quota.models import (
    BlockedTerm,
    GenerationNote,
    QuotaDefaults,
    Requester,
    RoleOverride,
    TermKind,
)
from bot.quota.rules import ReservationRules
from bot.store.base import Store
from bot.store.connect import open_url
from bot.store.copying import TABLES, tables_of
from bot.store.migrations import load_migrations
from bot.store.sqlite import SqliteStore
from tests.process_support import bot_env, run_bot_command

PASSWORD = "hunter2-not-needed"  # trust authentication ignores it; it must never be printed
BIG_ID = 1_234_567_890_123_456_789
JAM_RULES = JamRules()


def with_password(url: DatabaseUrl) -> str:
    return url.reveal().replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


async def test_migrate_and_check_name_the_backend_and_version_without_the_password(
    tmp_path: Path, postgres_url: DatabaseUrl
) -> None:
    env = bot_env(tmp_path, DATABASE_URL=with_password(postgres_url), DISCORD_TOKEN="t")
    number, latest, _sql = load_migrations("bot.store.postgres.migrations")[-1]
    code, stdout, stderr = await run_bot_command(env, "migrate")
    assert code == 0, stderr
    assert f"applied database migration {latest}" in stderr
    assert "database: PostgreSQL at postgresql://postgres:***@127.0.0.1" in stdout
    assert f"schema version {number} (up to date)" in stdout
    code, stdout, stderr = await run_bot_command(env, "check")
    assert "ok: database: PostgreSQL at postgresql://postgres:***@" in stdout
    assert f"schema version {number}" in stdout
    assert PASSWORD not in stdout + stderr

    broken = {**env, "DATABASE_URL": f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test"}
    code, stdout, stderr = await run_bot_command(broken, "check")
    assert code == 1
    assert "problem: database: cannot connect to postgresql://postgres:***@127.0.0.1:1/test" in (
        stdout
    )
    assert PASSWORD not in stdout + stderr


async def test_check_notes_the_deprecated_database_path(tmp_path: Path) -> None:
    env = bot_env(tmp_path, DISCORD_TOKEN="t", DATABASE_PATH=str(tmp_path / "bot.sqlite3"))
    env.pop("DATABASE_URL")
    _code, stdout, _ = await run_bot_command(env, "check")
    assert "note: DATABASE_PATH is deprecated; write DATABASE_URL=sqlite:///" in stdout
    assert "ok: database: SQLite at" in stdout


async def fill(store: Store) -> None:
    """A row in every table, with the awkward values: 64-bit ids, JSON, NULLs, flags."""
    jobs, quota = store.jobs, store.quota
    for i, state in enumerate([JobState.COMPLETED, JobState.FAILED, JobState.QUEUED]):
        job = Job(
            id=f"job-{i}",
            state=JobState.QUEUED,
            prompt=f"calm piano {i} — ünïcode",
            negative_prompt=None if i else "drums",
            seed=i * 7,
            model="google/lyria2",
            requester_id=str(BIG_ID + i),
            guild_id=str(BIG_ID),
            channel_id=None,
            origin=Origin.DISCORD,
            context={"interaction": {"token": "t", "expires": 1.5}, "i": i},
            created_at=1000.0 + i,
            updated_at=1000.0 + i,
            deadline_at=1600.0,
            usage_headers={"x-aimlapi-used-credits": "2"},
        )
        await jobs.insert(job)
        if state is not JobState.QUEUED:
            await jobs.transition(job.id, JobState.QUEUED, state, now=1100.0 + i)
    await jobs.deliver(
        "job-0", Delivery(DeliveryVia.CHANNEL, message_id=BIG_ID, channel_id=BIG_ID), now=1200.0
    )
    for i in range(3):
        await jobs.record_generation_time(f"job-{i}", 30.5 + i, now=1000.0 + i)
    # What polling saw (migration 0005's columns), so copies carry the bounds too.
    await jobs.record_observation("job-0", Observation(990.0, 28.0, 29.5, 1.5, 3.0), now=1019.5)
    await quota.set_guild(BIG_ID, {"daily_pool": 9, "paused": True, "reset_minute": 30}, now=1.0)
    await quota.set_allowed_channels(BIG_ID, [BIG_ID + 5, 6], now=1.0)
    await quota.set_role_override(BIG_ID, RoleOverride(BIG_ID + 9, 3, None, True))
    await quota.add_extra_credit(BIG_ID, 8, 2)
    await quota.set_barred(BIG_ID, 9, True)
    await quota.add_blocked_term(
        BIG_ID, BlockedTerm(TermKind.REGEX, r"\bdrill\b"), added_by=None, now=1.0
    )
    rules = ReservationRules(QuotaDefaults())
    for i in range(3):
        requester = Requester(user_id=BIG_ID + i, guild_id=BIG_ID + 1, channel_id=None)
        await quota.reserve(requester, f"job-{i}", now=1000.0 + i, blocked_term=None, rules=rules)
    await quota.commit("job-0", now=1050.0)
    await quota.refund("job-1", now=1060.0)
    note = GenerationNote("job-0", BIG_ID + 1, BIG_ID, "calm piano", "delivered", "https://x/y")
    await quota.finish("job-0", now=1070.0, note=note)
    await fill_jams(store)


async def fill_jams(store: Store) -> None:
    """A jam with a round, an entry, a vote and a post (written as rows: copy-db copies rows)."""
    assert isinstance(store, SqliteStore)
    db = store.database
    await db.execute("INSERT INTO jam_guild_settings VALUES (?, ?)", (BIG_ID, BIG_ID + 3))
    await db.execute(
        "INSERT INTO jams (id, guild_id, channel_id, thread_id, host_id, theme, rounds, "
        "round_seconds, vote_seconds, entries_per_round, budget, pool_period, phase, "
        "phase_ends_at, created_at, updated_at) "
        "VALUES ('jam1', ?, ?, ?, ?, 'rainy day — lo-fi', 2, 600, 300, 1, 8, 0, 'voting', "
        "1900.5, 1000.0, 1000.0)",
        (BIG_ID, BIG_ID + 5, BIG_ID + 6, BIG_ID),
    )
    await db.execute(
        "INSERT INTO jam_rounds (jam_id, number, opened_at, submit_ends_at) "
        "VALUES ('jam1', 1, 1000.0, 1600.0)"
    )
    await db.execute(
        "INSERT INTO jam_entries (job_id, jam_id, round, number, user_id, display_name, prompt, "
        "final_prompt, seed, created_at) VALUES ('job-0', 'jam1', 1, 1, ?, 'ålice', 'rain', "
        "'rain, lo-fi', ?, 1001.0)",
        (BIG_ID, 2**32 - 1),
    )
    await db.execute("INSERT INTO jam_votes VALUES ('jam1', 1, ?, 1, 1700.0)", (BIG_ID + 1,))
    await db.execute(
        "INSERT INTO jam_posts (jam_id, kind, round, position, due_at) "
        "VALUES ('jam1', 'ballot', 1, 0, 1600.0)"
    )
    # And one through the repository: its budget in the pool, an entry paid by the jam.
    rules = ReservationRules(QuotaDefaults())
    settings = JamSettings("second — jam", budget=3, style="jazz")
    made = await store.jams.create(
        JamDraft("jam2", BIG_ID + 1, BIG_ID + 7, BIG_ID, settings), now=3000.0, rules=rules
    )
    assert isinstance(made, Jam), made
    await store.jams.open(
        "jam2", thread_id=BIG_ID + 8, card_message_id=BIG_ID + 9, now=3000.0, rules=JAM_RULES
    )
    who = Requester(user_id=BIG_ID + 3, guild_id=BIG_ID + 1, channel_id=BIG_ID + 8)
    entry = EntryDraft("jam2", "job-jam", who, "bob", "waves", "waves, jazz", None, None)
    accepted = await store.jams.enter(
        entry, now=3001.0, blocked_term=None, reserve_rules=rules, rules=JAM_RULES
    )
    assert isinstance(accepted, Accepted), accepted


async def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, flags as 0/1 and JSON parsed, so both backends compare."""
    tables = tables_of(store)
    columns = await tables.columns()
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table, key in TABLES:
        names = [name for name, _ in columns[table]]
        rows: list[tuple[Any, ...]] = []
        async for batch in tables.read(table, names, key, 2):  # small batches: paging too
            rows += [
                tuple(normal(name, v) for name, v in zip(names, row, strict=True)) for row in batch
            ]
        found[table] = sorted(rows, key=repr)
    return found


def normal(column: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if column in ("context", "usage_headers") and isinstance(value, str):
        return json.loads(value)
    return value


async def test_copy_db_carries_every_row_from_sqlite_to_postgresql_and_back(
    tmp_path: Path, postgres_url: DatabaseUrl
) -> None:
    origin_url = DatabaseUrl.sqlite(tmp_path / "origin.sqlite3")
    back_url = DatabaseUrl.sqlite(tmp_path / "back.sqlite3")
    origin = await open_url(origin_url)
    try:
        await fill(origin)
        before = await dump(origin)
        jobs_before = [await origin.jobs.get(f"job-{i}") for i in range(3)]
        jams_before = await jams_of(origin)
    finally:
        await origin.close()
    assert all(before[table] for table, _ in TABLES)  # every table has rows to carry

    out = io.StringIO()
    assert await copy_db(origin_url.reveal(), postgres_url.reveal(), out) == 0, out.getvalue()
    assert "copied " in out.getvalue() and "every table's count matches" in out.getvalue()
    assert await copy_db(postgres_url.reveal(), back_url.reveal(), io.StringIO()) == 0

    for url in (postgres_url, back_url):
        copy = await open_url(url)
        try:
            assert await dump(copy) == before
            assert [await copy.jobs.get(f"job-{i}") for i in range(3)] == jobs_before
            assert await copy.jobs.generation_times() == [30.5, 31.5, 32.5, 29.5]
            observations = await copy.jobs.generation_observations()
            assert observations[-1] == Observation(990.0, 28.0, 29.5, 1.5, 3.0)
            await copy.jobs.record_generation_time("new", 40.0, now=2000.0)  # ids go on
            assert (await copy.jobs.generation_times())[-1] == 40.0
            assert await jams_of(copy) == jams_before  # read back through its repository
            second = jams_before[1]
            assert isinstance(second, JamSnapshot)
            period = second.jam.pool_period
            pool = await copy.quota.pool_used(BIG_ID + 1, period)
            ended = await copy.jams.finish(
                "jam2", EndReason.ENDED, by=BIG_ID, now=3100.0, rules=JAM_RULES
            )
            assert ended is not None and (ended.spent, ended.returned) == (1, 2)
            assert await copy.quota.pool_used(BIG_ID + 1, period) == pool - 2
        finally:
            await copy.close()


async def jams_of(store: Store) -> list[object]:
    """What the jam repository reads of the copied jams."""
    return [
        await store.jams.snapshot("jam1"),
        await store.jams.snapshot("jam2"),
        await store.jams.find(BIG_ID + 6),
        await store.jams.find(BIG_ID + 7),
        await store.jams.host_role(BIG_ID),
        await store.jams.pending_posts(),
        await store.jams.due(10_000.0),
        await store.jams.next_wakeup(),
        await store.quota.reservation("job-jam"),
    ]


async def test_copy_db_refuses_a_target_that_holds_data(
    tmp_path: Path, postgres_url: DatabaseUrl
) -> None:
    source = DatabaseUrl.sqlite(tmp_path / "source.sqlite3")
    store = await open_url(source)
    await store.close()
    target = await open_url(postgres_url)
    try:
        await target.quota.add_extra_credit(1, 2, 3)
    finally:
        await target.close()
    out = io.StringIO()
    assert await copy_db(source.reveal(), postgres_url.reveal(), out) == 1
    assert "the target is not empty: quota_members (1 rows)" in out.getvalue()


async def test_copy_db_explains_bad_urls_without_showing_passwords(tmp_path: Path) -> None:
    out = io.StringIO()
    bad = f"postgresql://bot:{PASSWORD}@host:port/db"
    assert await copy_db(bad, f"sqlite:///{tmp_path}/x", out) == 2
    assert "--from: expected sqlite:///" in out.getvalue() and PASSWORD not in out.getvalue()
    same = f"sqlite:///{tmp_path}/x"
    assert await copy_db(same, same, out) == 2
    assert "name the same database" in out.getvalue()
