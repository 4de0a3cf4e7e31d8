"""PostgreSQL for tests: where it is, whether it answers, and a fresh schema per test.

TEST_DATABASE_URL names the server (default: the local one, trust authentication, database
`test`). Each test gets its own schema, created before and dropped after, and a URL whose
`search_path` points at it, so tests never see each other's tables. When the server does not
answer, PostgreSQL tests skip with one line saying why, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from bot.config import DatabaseUrl

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
_reachability: dict[str, str | None] = {}  # URL -> None (it answers) or why not


def postgres_test_url() -> DatabaseUrl:
    return DatabaseUrl.parse(os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL)


async def require_postgres() -> DatabaseUrl:
    """The test server's URL; skips (fails in CI) with one line when it does not answer."""
    url = postgres_test_url()
    if url.reveal() not in _reachability:
        try:
            connection = await asyncpg.connect(url.reveal(), timeout=5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            for secret in url.passwords():
                reason = reason.replace(secret, "***")
            _reachability[url.reveal()] = f"{type(exc).__name__}: {reason}"
        else:
            await connection.close()
            _reachability[url.reveal()] = None
    why = _reachability[url.reveal()]
    if why is not None:
        message = f"PostgreSQL at {url.masked} is not reachable ({why}); set TEST_DATABASE_URL"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs PostgreSQL: {message}", pytrace=False)
        pytest.skip(message)
    return url


def with_search_path(url: DatabaseUrl, schema: str) -> DatabaseUrl:
    raw = url.reveal()
    joiner = "&" if "?" in raw else "?"
    return DatabaseUrl.parse(f"{raw}{joiner}search_path={schema}")


@asynccontextmanager
async def fresh_schema(prefix: str = "test") -> AsyncIterator[DatabaseUrl]:
    """A URL on a new, empty schema of the test database; the schema is dropped afterwards."""
    url = await require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url.reveal())
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield with_search_path(url, schema)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
