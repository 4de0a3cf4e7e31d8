"""The PostgreSQL backend, for several processes sharing one database (asyncpg pool)."""

from __future__ import annotations

from typing import Any, cast

from bot.config import DatabaseUrl
from bot.store.base import JamRepository
from bot.store.errors import StoreError
from bot.store.postgres.database import PostgresDatabase, migration_scripts
from bot.store.postgres.jobs import PostgresJobRepository
from bot.store.postgres.quota import PostgresQuotaRepository


class _NoJams:
    """TEMP: a jam repository with no jams; every write says jams are not available yet."""

    async def get(self, jam_id: str) -> None:
        return None

    async def find(self, channel_id: int) -> None:
        return None

    async def snapshot(self, jam_id: str) -> None:
        return None

    async def host_role(self, guild_id: int) -> None:
        return None

    async def due(self, now: float) -> list[str]:
        return []

    async def stale_starting(self, before: float) -> list[str]:
        return []

    async def next_wakeup(self) -> None:
        return None

    async def pending_posts(self) -> list[object]:
        return []

    def __getattr__(self, name: str) -> Any:
        raise StoreError("jam sessions are not available on PostgreSQL yet")


class PostgresStore:
    """The store on one PostgreSQL database. `database` is for this backend's tools and tests."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database
        self._jobs = PostgresJobRepository(database)
        self._quota = PostgresQuotaRepository(database)

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
    def jams(self) -> JamRepository:
        # TEMP (until the PostgreSQL jam repository lands): no jams, so the bot can start.
        return cast(JamRepository, _NoJams())

    @property
    def description(self) -> str:
        return f"PostgreSQL at {self.database.url.masked}"

    async def schema_version(self) -> int:
        return await self.database.schema_version()

    def expected_schema_version(self) -> int:
        return len(migration_scripts())

    async def close(self) -> None:
        await self.database.close()
