"""PostgreSQL for the command-line tests: a fresh schema per test (see tests/postgres_support)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import DatabaseUrl
from tests.postgres_support import fresh_schema


@pytest.fixture
async def postgres_url() -> AsyncIterator[DatabaseUrl]:
    async with fresh_schema("cli") as url:
        yield url
