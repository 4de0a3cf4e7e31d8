"""Group concurrent small transactions into one, so a burst of ledger calls costs one hop to
the database thread and one COMMIT instead of one each.

Each item runs inside its own SAVEPOINT in the shared IMMEDIATE transaction: items still run
one after another (so each sees the writes of those before it and limits hold exactly), and an
item that raises is rolled back alone and its caller gets the exception.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from bot.store.sqlite.database import SqliteDatabase

T = TypeVar("T")

_Item = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


class TransactionBatcher:
    def __init__(self, db: SqliteDatabase, *, max_batch: int = 64) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[_Item] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` atomically, batched with whatever else is waiting."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        item: _Item = (work, future)
        self._pending.append(item)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="batched-transactions")
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
                results = await self._db.run_in_transaction(partial(_run_all, batch=batch))
            except Exception as exc:  # the transaction itself failed: every item failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            for (ok, value), (_, future) in zip(results, batch, strict=True):
                if future.done():  # the caller gave up; the work is done all the same
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _run_all(conn: sqlite3.Connection, *, batch: list[_Item]) -> list[tuple[bool, Any]]:
    results: list[tuple[bool, Any]] = []
    for work, _ in batch:
        conn.execute("SAVEPOINT batch_item")
        try:
            value = work(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO batch_item")
            conn.execute("RELEASE batch_item")
            results.append((False, exc))
        else:
            conn.execute("RELEASE batch_item")
            results.append((True, value))
    return results
