"""The one SQLite connection the process shares: a worker thread, migrations, batched operations.

The connection lives on one worker thread of its own, so the event loop never blocks on SQLite
and the connection is never used from two threads at once. Operations (`execute`, `fetch*`,
`run_in_transaction`) are queued and run in batches, one thread hop per batch, each operation
still on its own (its own statement or transaction): N concurrent callers cost about two hops
instead of N.

Migrations are the files `migrations/NNNN_name.sql`, applied in order inside a transaction;
`PRAGMA user_version` records the last one applied. Rows (`sqlite3.Row`) never leave this
backend: the repositories beside this module turn them into the domain's dataclasses.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.store.errors import StoreBusy, StoreError
from bot.store.migrations import load_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any]

# Operations per thread hop at most: their callers all resume in one event-loop pass, so an
# unbounded batch would make that pass (and the loop's lag) long.
MAX_BATCH = 32
BUSY_TIMEOUT_MS = 5000


def migration_scripts() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration shipped with the package, in order."""
    return load_migrations("bot.store.sqlite.migrations")


class SqliteDatabase:
    """An open SQLite database. Create with `await SqliteDatabase.open(path)`."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        worker: ThreadPoolExecutor,
        path: Path,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._connection = connection
        self._worker = worker
        self._max_batch = max(1, max_batch)
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.path = path
        # For benchmarks: how many thread hops the queued operations needed.
        self.batches = 0
        self.batched_operations = 0

    def __repr__(self) -> str:
        return f"SqliteDatabase({str(self.path)!r})"

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        max_batch: int = MAX_BATCH,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> SqliteDatabase:
        """Open (creating folders and file as needed), set WAL mode and apply migrations.
        A statement waits up to `busy_timeout_ms` for another writer's lock, then raises
        `StoreBusy`."""
        db_path = Path(path)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(worker, _connect, db_path, busy_timeout_ms)
        except (OSError, sqlite3.Error) as exc:
            worker.shutdown(wait=False)
            reason = _open_problem(db_path) or _reason(exc)
            raise StoreError(f"cannot open database {db_path}: {reason}") from exc
        database = cls(connection, worker, db_path, max_batch=max_batch)
        try:
            await database.migrate()
        except (sqlite3.Error, StoreError) as exc:
            await database.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot prepare database {db_path}: {_reason(exc)}") from exc
        return database

    async def close(self) -> None:
        """Finish the queued operations, then close the connection and its thread."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._worker, self._connection.close)
        self._worker.shutdown(wait=False)

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than `PRAGMA user_version`; return the new version."""
        scripts = migration_scripts()
        current = await self.schema_version()
        if current > len(scripts):
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this code "
                f"knows ({len(scripts)}); upgrade the bot"
            )
        for number, name, sql in scripts[current:]:

            def apply(conn: sqlite3.Connection, sql: str = sql, number: int = number) -> None:
                # executescript commits first, so the script carries its own transaction.
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
                )

            await self._submit(apply)
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

    async def run_in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the database thread inside one IMMEDIATE transaction.

        IMMEDIATE takes the write lock at the start, so a read-check-write sequence inside
        cannot race with another process writing the same file. The whole transaction is one
        hop to the database thread (shared with other queued operations). `work` must only use
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

        return await self._submit(run)

    # -- batching --------------------------------------------------------------------------------

    async def _submit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Queue `work` for the next batch and wait for its own result.

        Every operation queued while a batch runs goes into the following batch, and a batch
        is one hop to the database thread. An operation whose caller was cancelled before its
        batch started is skipped.
        """
        if self._closed:
            raise StoreError(f"database {self.path} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name="database-batches")
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            taken = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            batch = [(work, future) for work, future in taken if not future.done()]
            if not batch:
                continue
            works = [work for work, _ in batch]
            try:
                outcomes = await loop.run_in_executor(
                    self._worker, _run_batch, self._connection, works
                )
            except asyncio.CancelledError:
                _fail_all(batch, StoreError("the database batch was cancelled"))
                raise
            except Exception as exc:  # e.g. the worker was shut down
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


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """On the worker thread: create the folder and file, open, set the pragmas."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing implicit.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _busy(exc: sqlite3.OperationalError) -> StoreBusy | None:
    """SQLite's "database is locked" / "busy" as the store's transient error."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        busy = StoreBusy(f"the database is busy: {exc}")
        busy.__cause__ = exc
        return busy
    return None


def _reason(exc: BaseException) -> str:
    """The error in one line (a StoreError's message is always one line)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def _open_problem(path: Path) -> str | None:
    """What about the path itself stops SQLite, said plainly ("File exists" says little)."""
    if path.is_dir():
        return "it is a folder, not a file"
    for folder in path.parents:
        if folder.exists():
            return None if folder.is_dir() else f"{folder} is a file, not a folder"
    return None


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
        except sqlite3.OperationalError as exc:
            outcomes.append((False, _busy(exc) or exc))
        except BaseException as exc:  # delivered to its caller; the batch goes on
            outcomes.append((False, exc))
        if conn.in_transaction:  # a bug left a transaction open: never leak it to the next one
            conn.execute("ROLLBACK")
            outcomes[-1] = (False, StoreError("operation left a transaction open"))
    return outcomes
