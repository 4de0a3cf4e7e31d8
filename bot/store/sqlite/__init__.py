"""The embedded SQLite backend (the default): one file, one connection on a worker thread."""

from __future__ import annotations

from pathlib import Path

from bot.store.sqlite.database import BUSY_TIMEOUT_MS, SqliteDatabase, migration_scripts
from bot.store.sqlite.jobs import SqliteJobRepository
from bot.store.sqlite.quota import SqliteQuotaRepository


class SqliteStore:
    """The store on one SQLite file. `database` is for this backend's own tools and tests."""

    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database
        self._jobs = SqliteJobRepository(database)
        self._quota = SqliteQuotaRepository(database)

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> SqliteStore:
        return cls(await SqliteDatabase.open(path, busy_timeout_ms=busy_timeout_ms))

    @property
    def jobs(self) -> SqliteJobRepository:
        return self._jobs

    @property
    def quota(self) -> SqliteQuotaRepository:
        return self._quota

    @property
    def description(self) -> str:
        return f"SQLite at {self.database.path}"

    async def schema_version(self) -> int:
        return await self.database.schema_version()

    def expected_schema_version(self) -> int:
        return len(migration_scripts())

    async def close(self) -> None:
        await self.database.close()
