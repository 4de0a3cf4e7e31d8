"""The PostgreSQL backend, for several processes sharing one database (asyncpg pool)."""

from __future__ import annotations

from bot.config import DatabaseUrl
from bot.store.postgres.database import PostgresDatabase, migration_scripts
from bot.store.postgres.jams import PostgresJamRepository
from bot.store.postgres.jobs import PostgresJobRepository
from bot.store.postgres.quota import PostgresQuotaRepository


class PostgresStore:
    """The store on one PostgreSQL database. `database` is for this backend's tools and tests."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database
        self._jobs = PostgresJobRepository(database)
        self._quota = PostgresQuotaRepository(database)
        self._jams = PostgresJamRepository(database)

    @classmethod
    async def open(cls, url: DatabaseUrl, *, max_connections: int | None = None) -> PostgresStore:
        if max_connections is None:
            return cls(await PostgresDatabase.open(url))
        return cls(await PostgresDatabase.open(url, max_size=max_connections))

    @property
    def jobs(self) -> PostgresJobRepository:
        return self._jobs

    @property
    def quota(self) -> PostgresQuotaRepository:
        return self._quota

    @property
    def jams(self) -> PostgresJamRepository:
        return self._jams

    @property
    def description(self) -> str:
        return f"PostgreSQL at {self.database.url.masked}"

    async def schema_version(self) -> int:
        return await self.database.schema_version()

    def expected_schema_version(self) -> int:
        return len(migration_scripts())

    async def close(self) -> None:
        await self.database.close()
