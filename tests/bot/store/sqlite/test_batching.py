"""Batched quota transactions: one commit for a burst, each item isolated by a savepoint."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.store.sqlite.batching import TransactionBatcher
from bot.store.sqlite.database import SqliteDatabase as Database


async def test_a_failing_item_is_rolled_back_alone(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        batcher = TransactionBatcher(db)

        def insert(value: int) -> int:
            def work(conn: sqlite3.Connection) -> int:
                conn.execute("INSERT INTO t VALUES (?)", (value,))
                if value == 3:
                    raise RuntimeError("item 3 fails after writing")
                return value

            return work  # type: ignore[return-value]

        results = await asyncio.gather(
            *(batcher.run(insert(v)) for v in range(6)),  # type: ignore[arg-type]
            return_exceptions=True,
        )
        assert results[:3] == [0, 1, 2] and results[4:] == [4, 5]
        assert isinstance(results[3], RuntimeError)
        rows = await db.fetchall("SELECT x FROM t ORDER BY x")
        assert [r[0] for r in rows] == [0, 1, 2, 4, 5]
    finally:
        await db.close()


async def test_a_burst_shares_few_transactions(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.sqlite3")
    calls = 0
    original = db.run_in_transaction

    async def counting(work):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await original(work)

    db.run_in_transaction = counting  # type: ignore[method-assign]
    try:
        batcher = TransactionBatcher(db, max_batch=64)
        results = await asyncio.gather(
            *(batcher.run(lambda conn, i=i: i) for i in range(200))  # type: ignore[misc]
        )
        assert results == list(range(200))
        assert calls <= 6  # 1 for the first, then batches of at most 64
    finally:
        await db.close()


async def test_the_whole_transaction_failing_fails_every_waiting_item(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.sqlite3")
    await db.close()
    batcher = TransactionBatcher(db)
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the closed connection raises
        await batcher.run(lambda conn: 1)
