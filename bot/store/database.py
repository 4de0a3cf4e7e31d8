"""The one SQLite connection the process shares, with migrations and serialised transactions.

aiosqlite runs each statement on the connection's own thread, so the event loop never blocks.
Because the connection is shared by many tasks, every use goes through one `asyncio.Lock`:
a transaction started by one task can never see, or be committed by, another task's statements.

Migrations are the files `migrations/NNNN_name.sql`, applied in order inside a transaction;
`PRAGMA user_version` records the last one applied.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message says why."""


def migration_scripts() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration shipped with the package, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("bot.store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise DatabaseError(f"migrations must be numbered 1..N without gaps, found {numbers}")
    return found


class Database:
    """An open SQLite database. Create with `await Database.open(path)`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._conn = connection
        self._lock = asyncio.Lock()
        self.path = path

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating folders and file as needed), set WAL mode and apply migrations."""
        db_path = Path(path)
        if str(db_path) != ":memory:":
            db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing implicit.
            conn = await aiosqlite.connect(db_path, isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open database {db_path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        database = cls(conn, db_path)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            await database.migrate()
        except (sqlite3.Error, DatabaseError) as exc:
            await conn.close()
            if isinstance(exc, DatabaseError):
                raise
            raise DatabaseError(f"cannot prepare database {db_path}: {exc}") from exc
        return database

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than `PRAGMA user_version`; return the new version."""
        scripts = migration_scripts()
        current = await self.schema_version()
        if current > len(scripts):
            raise DatabaseError(
                f"database {self.path} has schema version {current}, newer than this code "
                f"knows ({len(scripts)}); upgrade the bot"
            )
        for number, name, sql in scripts[current:]:
            async with self._lock:
                # executescript commits first, so the script carries its own transaction.
                await self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            log.info("applied database migration %s", name)
        return len(scripts)

    # -- single statements (each its own implicit transaction) --------------------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            changed = cursor.rowcount
            await cursor.close()
            return changed

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            row = await cursor.fetchone()
            await cursor.close()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._lock:
            rows = await self._conn.execute_fetchall(sql, params)
            return list(rows)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    # -- transactions --------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on error), holding the lock throughout.

        IMMEDIATE takes the write lock at the start, so a read-check-write sequence inside
        cannot race with another process writing the same file.
        """
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def run_in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the database thread inside one IMMEDIATE transaction.

        For hot multi-statement transactions (quota reservations): the whole read-check-write
        is one hop to the database thread instead of one per statement. `work` must only use
        the connection it is given and must not touch the event loop.
        """

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._lock:
            # aiosqlite's own way of running a callable on its thread with the raw connection.
            result: T = await self._conn._execute(  # type: ignore[no-untyped-call]
                lambda: run(self._conn._conn)
            )
            return result
