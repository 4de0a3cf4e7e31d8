"""The quota ledger's calls, batched into transactions that hold the quota lock.

Every transaction that changes the quota's counts (reserve, refund) first takes one
transaction-scoped advisory lock, the same in every process: the counts a reservation reads are
then exact, whichever process wrote them last, and the rules decide on the truth. Serialised
like that, a transaction a call would be slow (each commit waits for the disk while holding the
lock), so the calls a process makes concurrently share one transaction — one lock, one commit,
a few set-wise statements for the whole burst (`ledger.run`).

A database error aborts the transaction, so every call of that batch is then run again alone,
each in its own locked transaction; an exception from the rules (raised before anything is
written) reaches its own caller only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

import bot.store.postgres.ledger as ledger
from bot.store.postgres.database import Connection, PostgresDatabase

log = logging.getLogger(__name__)
T = TypeVar("T")

_Item = tuple[ledger.Call, "asyncio.Future[Any]"]

# The quota lock: (namespace, key) of a two-key advisory lock. Literal SQL so that BEGIN and the
# lock travel in one round trip (the simple protocol takes several statements, no parameters).
QUOTA_LOCK = (0x4C4A42, 1)  # "LJB", the quota
BEGIN_LOCKED = f"BEGIN; SELECT pg_advisory_xact_lock({QUOTA_LOCK[0]}, {QUOTA_LOCK[1]})"
MAX_BATCH = 64
_DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


@contextlib.asynccontextmanager
async def locked_transaction(db: PostgresDatabase) -> AsyncIterator[Connection]:
    """A transaction holding the quota lock, for a call that is not batched."""
    async with db.connection() as conn:
        await conn.execute(BEGIN_LOCKED)
        try:
            yield conn
        except BaseException:
            if not conn.is_closed():
                with contextlib.suppress(*_DATABASE_ERRORS):
                    await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")


class LedgerBatcher:
    def __init__(self, db: PostgresDatabase, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max(1, max_batch)
        self._pending: list[_Item] = []
        self._drainer: asyncio.Task[None] | None = None
        # For benchmarks: transactions run and calls they carried.
        self.batches = 0
        self.batched_calls = 0

    async def run(self, call: ledger.Call) -> Any:
        """Run `call` in a locked transaction, with whatever else is waiting."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        item: _Item = (call, future)
        self._pending.append(item)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="quota-transactions")
        try:
            return await future
        except asyncio.CancelledError:
            # Not started yet: it never will. Already in a running batch: it completes anyway.
            if item in self._pending:
                self._pending.remove(item)
            raise

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                await self._run(batch)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        if isinstance(exc, Exception):
                            future.set_exception(exc)
                        else:
                            future.cancel()
                if not isinstance(exc, Exception):
                    raise

    async def _run(self, batch: list[_Item]) -> None:
        try:
            async with locked_transaction(self._db) as conn:
                outcomes = await ledger.run(conn, [call for call, _ in batch])
        except _DATABASE_ERRORS as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            # One call's error aborted everyone's transaction: run each alone.
            log.info("quota batch of %d rolled back (%r); running them one by one", len(batch), exc)
            for item in batch:
                if not item[1].done():
                    await self._run([item])
            return
        self.batches += 1
        self.batched_calls += len(batch)
        for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
            if future.done():  # the caller gave up; the work is done all the same
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_Work = tuple[Callable[[Connection], Awaitable[Any]], "asyncio.Future[Any]"]


class LockedBatcher:
    """Other work that moves quota counts (a jam's entries), batched like the ledger's calls:
    what a process asks for concurrently runs in one transaction holding the quota lock, one
    after another, each in its own SAVEPOINT, so an item that raises is undone alone and its
    caller gets the exception. A failure of the transaction itself fails the whole batch."""

    def __init__(self, db: PostgresDatabase, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max(1, max_batch)
        self._pending: list[_Work] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        item: _Work = (work, future)
        self._pending.append(item)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="locked-transactions")
        try:
            return await future
        except asyncio.CancelledError:
            if item in self._pending:  # not started: it never will
                self._pending.remove(item)
            raise

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                async with locked_transaction(self._db) as conn:
                    results = [await _in_savepoint(conn, work) for work, _ in batch]
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        if isinstance(exc, Exception):
                            future.set_exception(exc)
                        else:
                            future.cancel()
                if not isinstance(exc, Exception):
                    raise
                continue
            for (ok, value), (_, future) in zip(results, batch, strict=True):
                if future.done():  # the caller gave up; the work is done all the same
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


async def _in_savepoint(
    conn: Connection, work: Callable[[Connection], Awaitable[Any]]
) -> tuple[bool, Any]:
    await conn.execute("SAVEPOINT batch_item")
    try:
        value = await work(conn)
    except Exception as exc:
        await conn.execute("ROLLBACK TO SAVEPOINT batch_item; RELEASE SAVEPOINT batch_item")
        return False, exc
    await conn.execute("RELEASE SAVEPOINT batch_item")
    return True, value
