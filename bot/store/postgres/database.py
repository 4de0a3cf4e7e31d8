"""The PostgreSQL connection pool: migrations, transactions, and errors said in one line.

Many processes may share one database, so everything that must be exact across them is a
transaction holding the locks it needs (see `quota.py`). Migrations are the files
`migrations/NNNN_name.sql` (the same numbers as SQLite's, in PostgreSQL's dialect), each
applied in its own transaction under an advisory lock, so two processes starting together
apply each one once; `schema_migrations` records them. Records (`asyncpg.Record`) never leave
this backend: the repositories turn them into the domain's dataclasses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

from bot.config import DatabaseUrl
from bot.store.errors import StoreError
from bot.store.migrations import load_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")
if TYPE_CHECKING:  # generic in the type stubs only
    from asyncpg.pool import PoolConnectionProxy

    # What the repositories are handed: a connection of the pool.
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
    _Base: TypeAlias = asyncpg.Connection[asyncpg.Record]
else:
    Connection = _Base = asyncpg.Connection

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0
# A deadlock or serialisation failure is retried this many times (the transaction is redone).
RETRIES = 3
_RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
_VERSION_TABLE = "schema_migrations"


def migration_scripts() -> list[tuple[int, str, str]]:
    return load_migrations("bot.store.postgres.migrations")


class _PooledConnection(_Base):
    """The store sets no session state (only SET LOCAL, transaction-scoped advisory locks, no
    LISTEN, no cursors), so handing a connection back needs no reset query: one round trip
    saved per operation. An open transaction is still rolled back by asyncpg itself."""

    def get_reset_query(self) -> str:
        return ""


class PostgresDatabase:
    """An open pool. Create with `await PostgresDatabase.open(url)`."""

    def __init__(self, pool: asyncpg.Pool, url: DatabaseUrl) -> None:
        self._pool = pool
        self.url = url

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.url.masked!r})"

    @classmethod
    async def open(
        cls, url: DatabaseUrl, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX
    ) -> PostgresDatabase:
        """Connect and apply migrations; `StoreError` (password masked) when that fails."""
        try:
            pool = await asyncpg.create_pool(
                url.reveal(),
                min_size=min_size,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT,
                connection_class=_PooledConnection,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to {url.masked}: {describe(exc, url)}") from None
        database = cls(pool, url)
        try:
            await database.migrate()
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, asyncpg.PostgresError | OSError):
                raise StoreError(
                    f"cannot prepare database {url.masked}: {describe(exc, url)}"
                ) from None
            raise
        return database

    async def close(self) -> None:
        await self._pool.close()

    # -- migrations ----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            return await _version(conn)

    async def migrate(self) -> int:
        """Apply every migration newer than the recorded version; return the new version."""
        scripts = migration_scripts()
        async with self._pool.acquire() as conn:
            for number, name, sql in scripts:
                async with conn.transaction():
                    # One migrator at a time per schema; the version is read under the lock.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext('lyria-jam-bot migrations ' "
                        "|| current_schema()))"
                    )
                    current = await _version(conn)
                    if current > len(scripts):
                        raise StoreError(
                            f"database {self.url.masked} has schema version {current}, newer "
                            f"than this code knows ({len(scripts)}); upgrade the bot"
                        )
                    if current >= number:
                        continue
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} ("
                        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                        "applied_at DOUBLE PRECISION NOT NULL)"
                    )
                    await conn.execute(sql)
                    await conn.execute(
                        f"INSERT INTO {_VERSION_TABLE} (version, name, applied_at) "  # noqa: S608
                        "VALUES ($1, $2, $3)",
                        number,
                        name,
                        time.time(),
                    )
                log.info("applied database migration %s", name)
        return len(scripts)

    # -- statements and transactions -----------------------------------------------------------

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement (its own transaction); the number of rows it changed."""
        async with self._pool.acquire() as conn:
            return affected(await conn.execute(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def run_in_transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `work(connection)` in one transaction (READ COMMITTED; `work` takes the locks
        it needs). A deadlock or serialisation failure rolls back and runs `work` again."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await work(conn)
            except _RETRYABLE:
                if attempt == RETRIES:
                    raise
                log.info("transaction retried after a deadlock or serialisation failure")
        raise AssertionError("unreachable")

    async def acquire(self) -> Connection:
        """A connection of the pool, held until `release` (a transaction spanning calls)."""
        return await self._pool.acquire()

    async def release(self, connection: Connection) -> None:
        await self._pool.release(connection)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection, for the store's own tools (copy-db, tests)."""
        async with self._pool.acquire() as conn:
            yield conn


async def _version(conn: Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", _VERSION_TABLE)
    if not exists:
        return 0
    value = await conn.fetchval(f"SELECT COALESCE(MAX(version), 0) FROM {_VERSION_TABLE}")  # noqa: S608
    return int(value)


def affected(status: str) -> int:
    """The row count in a command status such as 'UPDATE 3' or 'INSERT 0 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def describe(exc: BaseException, url: DatabaseUrl) -> str:
    """One line about a driver error, with the URL's password masked should it appear."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in url.passwords():
        text = text.replace(secret, "***")
    return text
