"""Open the database the settings name, with its migrations applied."""

from __future__ import annotations

from bot.config import Settings
from bot.store.base import Store
from bot.store.sqlite import SqliteStore


async def open_store(settings: Settings) -> Store:
    """Open (and migrate) the configured database; `StoreError` says in one line what failed."""
    return await SqliteStore.open(settings.database_path)
