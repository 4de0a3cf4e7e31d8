"""The one SQLite connection the process shares, with migrations and serialised transactions.

aiosqlite runs each statement on the connection's own thread, so the event loop never blocks.
Because the connection is shared by many tasks, every use goes through one `asyncio.Lock`:
a transaction started by one task can never see, or be committed by, another task's statements.
Single operations (`execute`, `fetch*`, `run_in_transaction`) are queued and run in batches,
one thread hop per batch, each operation still on its own (its own statement or transaction).

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
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any]

# Operations per thread hop at most: their callers all resume in one event-loop pass, so an
# unbounded batch would make that pass (and the loop's lag) long.
MAX_BATCH = 32
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

    def __init__(
        self, connection: aiosqlite.Connection, path: Path, *, max_batch: int = MAX_BATCH
    ) -> None:
        self._conn = connection
        self._max_batch = max(1, max_batch)
        self._lock = asyncio.Lock()  # whoever holds it owns the connection
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.path = path
        # For benchmarks: how many thread hops the queued operations needed.
        self.batches = 0
        self.batched_operations = 0

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    @classmethod
    async def open(cls, path: Path | str, *, max_batch: int = MAX_BATCH) -> Database:
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
        database = cls(conn, db_path, max_batch=max_batch)
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
        """Finish the queued operations, then close the connection."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)
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

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(sql, params)
            try:
                return cursor.rowcount
            finally:
                cursor.close()

        return await self._submit(work)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            cursor = conn.execute(sql, params)
            try:
                row: sqlite3.Row | None = cursor.fetchone()
                return row
            finally:
                cursor.close()

        return await self._submit(work)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        def work(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            cursor = conn.execute(sql, params)
            try:
                return list(cursor.fetchall())
            finally:
                cursor.close()

        return await self._submit(work)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        materialised = list(rows)  # not a generator running on the database thread

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(sql, materialised).close()

        await self.run_in_transaction(work)

    # -- transactions --------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on error), holding the lock throughout.

        IMMEDIATE takes the write lock at the start, so a read-check-write sequence inside
        cannot race with another process writing the same file. Each statement inside is its
        own hop to the database thread: prefer `run_in_transaction` on hot paths.
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

        For hot multi-statement transactions: the whole read-check-write is one hop to the
        database thread (shared with other queued operations) instead of one per statement.
        `work` must only use the connection it is given and must not touch the event loop.
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

        return await self._submit(run)

    # -- batching --------------------------------------------------------------------------------

    async def _submit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Queue `work` for the next batch and wait for its own result.

        Every operation queued while a batch runs goes into the following batch, and a batch
        is one hop to the database thread. So N concurrent callers cost about two hops instead
        of N lock hand-overs, each of which waited for the busy event loop to come round.
        An operation whose caller was cancelled before its batch started is skipped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name="database-batches")
        return await future

    async def _flush(self) -> None:
        while self._pending:
            async with self._lock:
                taken = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                batch = [(work, future) for work, future in taken if not future.done()]
                if not batch:
                    continue
                works = [work for work, _ in batch]
                try:
                    run = partial(_run_batch, self._conn._conn, works)
                    outcomes: list[tuple[bool, Any]]
                    outcomes = await self._conn._execute(run)  # type: ignore[no-untyped-call]
                except asyncio.CancelledError:
                    _fail_all(batch, DatabaseError("the database batch was cancelled"))
                    raise
                except Exception as exc:  # e.g. the connection is closed
                    _fail_all(batch, exc)
                    continue
            self.batches += 1
            self.batched_operations += len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _fail_all(batch: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


def _run_batch(
    conn: sqlite3.Connection, works: list[Callable[[sqlite3.Connection], Any]]
) -> list[tuple[bool, Any]]:
    """On the database thread: run each operation on its own; one failure affects no other."""
    outcomes: list[tuple[bool, Any]] = []
    for work in works:
        try:
            outcomes.append((True, work(conn)))
        except BaseException as exc:  # delivered to its caller; the batch goes on
            outcomes.append((False, exc))
        if conn.in_transaction:  # a bug left a transaction open: never leak it to the next one
            conn.execute("ROLLBACK")
            outcomes[-1] = (False, DatabaseError("operation left a transaction open"))
    return outcomes
