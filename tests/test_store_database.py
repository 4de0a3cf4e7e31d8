"""The shared database: migrations, WAL, serialised transactions, clear errors."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.store.database import Database, DatabaseError, migration_scripts


async def test_open_creates_folders_applies_every_migration_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "bot.sqlite3"
    db = await Database.open(path)
    try:
        assert path.is_file()
        assert await db.schema_version() == len(migration_scripts())
        row = await db.fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
    finally:
        await db.close()


async def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.migrate() == len(migration_scripts())
    finally:
        await db.close()


async def test_a_newer_schema_than_the_code_knows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(DatabaseError, match="newer than this code"):
        await Database.open(path)


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("boom")
        assert await db.fetchall("SELECT x FROM t") == []
    finally:
        await db.close()


async def test_concurrent_read_check_write_transactions_never_interleave(tmp_path: Path) -> None:
    """Many tasks each read a counter and write it back +1; no update may be lost."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE counter (n INTEGER)")
        await db.execute("INSERT INTO counter VALUES (0)")

        async def bump_async() -> None:
            async with db.transaction() as conn:
                cursor = await conn.execute("SELECT n FROM counter")
                (n,) = await cursor.fetchone()  # type: ignore[misc]
                await asyncio.sleep(0)  # give other tasks every chance to interleave
                await conn.execute("UPDATE counter SET n = ?", (n + 1,))

        def bump_sync(conn: sqlite3.Connection) -> int:
            (n,) = conn.execute("SELECT n FROM counter").fetchone()
            conn.execute("UPDATE counter SET n = ?", (n + 1,))
            return int(n) + 1

        await asyncio.gather(
            *(bump_async() for _ in range(50)),
            *(db.run_in_transaction(bump_sync) for _ in range(50)),
        )
        row = await db.fetchone("SELECT n FROM counter")
        assert row is not None and row[0] == 100
    finally:
        await db.close()


async def test_run_in_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")

        def fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (1)")
            raise ValueError("nope")

        with pytest.raises(ValueError, match="nope"):
            await db.run_in_transaction(fail)
        assert await db.fetchall("SELECT x FROM t") == []
    finally:
        await db.close()


def test_migrations_are_numbered_without_gaps() -> None:
    numbers = [number for number, _, _ in migration_scripts()]
    assert numbers == list(range(1, len(numbers) + 1))
