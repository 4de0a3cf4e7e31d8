"""What the contract tests need beyond the Store interface: a raw count, in SQL both dialects
speak (flags written as `WHERE in_flight`, `NOT used_extra`), one raw statement, and a job
repository with a short history."""

from __future__ import annotations

from typing import Any

from bot.store.base import JobRepository, Store
from bot.store.postgres import PostgresStore
from bot.store.postgres.jobs import PostgresJobRepository
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.jobs import SqliteJobRepository


async def scalar(store: Store, sql: str) -> Any:
    """The one value `sql` (no parameters) selects."""
    if isinstance(store, SqliteStore):
        row = await store.database.fetchone(sql)
        return None if row is None else row[0]
    assert isinstance(store, PostgresStore)
    return await store.database.fetchval(sql)


async def execute(store: Store, sql: str) -> None:
    """Run one statement (no parameters) outside the repositories, e.g. a row as an older
    version of the bot wrote it."""
    if isinstance(store, SqliteStore):
        await store.database.execute(sql)
        return
    assert isinstance(store, PostgresStore)
    await store.database.execute(sql)


async def count(store: Store, table: str, where: str = "TRUE") -> int:
    return int(await scalar(store, f"SELECT COUNT(*) FROM {table} WHERE {where}"))  # noqa: S608


def jobs_with_history(store: Store, limit: int) -> JobRepository:
    if isinstance(store, SqliteStore):
        return SqliteJobRepository(store.database, history_limit=limit)
    assert isinstance(store, PostgresStore)
    return PostgresJobRepository(store.database, history_limit=limit)
