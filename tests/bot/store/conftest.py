"""Every backend behind the same fixtures: `database_url` (a fresh, empty database of each
backend) and `store` (that database opened and migrated)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import DatabaseUrl
from bot.store.base import Store
from bot.store.connect import open_url
from tests.postgres_support import fresh_schema

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DatabaseUrl]:
    if request.param == "sqlite":
        yield DatabaseUrl.sqlite(tmp_path / "store.sqlite3")
        return
    async with fresh_schema("store") as url:
        yield url


@pytest.fixture
async def store(database_url: DatabaseUrl) -> AsyncIterator[Store]:
    opened = await open_url(database_url)
    try:
        yield opened
    finally:
        await opened.close()
