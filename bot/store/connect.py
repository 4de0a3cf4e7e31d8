"""Open the database the settings name (SQLite or PostgreSQL), with its migrations applied."""

from __future__ import annotations

from bot.config import DatabaseUrl, Settings
from bot.store.base import JobSignals, Store
from bot.store.sqlite import SqliteStore


async def open_store(settings: Settings) -> Store:
    """Open (and migrate) the configured database; `StoreError` says in one line what failed."""
    return await open_url(settings.database_url)


async def open_url(url: DatabaseUrl) -> Store:
    """Open (and migrate) the database at `url`: the backend follows the URL's scheme."""
    if url.backend == "postgresql":
        # Imported here: asyncpg is only loaded by deployments that use it.
        from bot.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    assert url.path is not None
    return await SqliteStore.open(url.path)


def job_signals(store: Store) -> JobSignals | None:
    """How the processes sharing `store`'s jobs tell each other about them: LISTEN/NOTIFY on
    PostgreSQL; none on SQLite, which one process owns."""
    if isinstance(store, SqliteStore):
        return None
    from bot.store.postgres import PostgresStore
    from bot.store.postgres.signals import PostgresJobSignals

    return PostgresJobSignals(store.database) if isinstance(store, PostgresStore) else None
