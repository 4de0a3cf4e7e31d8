"""The shared database: migrations, WAL, serialised transactions, clear errors."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.jobs.models import Delivery, DeliveryVia, ErrorKind
from bot.store.errors import StoreBusy, StoreError
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.database import SqliteDatabase as Database
from bot.store.sqlite.database import migration_scripts


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
    with pytest.raises(StoreError, match="newer than this code"):
        await Database.open(path)


async def test_a_failed_transaction_leaves_the_connection_usable(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")

        def boom(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await db.run_in_transaction(boom)
        assert await db.run_in_transaction(lambda c: c.execute("INSERT INTO t VALUES (2)").rowcount)
        assert [row[0] for row in await db.fetchall("SELECT x FROM t")] == [2]
    finally:
        await db.close()


async def test_concurrent_read_check_write_transactions_never_interleave(tmp_path: Path) -> None:
    """Many tasks each read a counter and write it back +1; no update may be lost."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE counter (n INTEGER)")
        await db.execute("INSERT INTO counter VALUES (0)")

        async def bump_async() -> None:
            # A read, a pause that gives other tasks every chance to interleave, then a write
            # that would lose updates unless it checks what it read (as the store's guarded
            # updates do).
            while True:
                row = await db.fetchone("SELECT n FROM counter")
                assert row is not None
                await asyncio.sleep(0)
                changed = await db.execute(
                    "UPDATE counter SET n = ? WHERE n = ?", (row[0] + 1, row[0])
                )
                if changed:
                    return

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


async def test_concurrent_operations_share_thread_hops(tmp_path: Path) -> None:
    """Operations queued while a batch runs go to the database thread together, at most
    `max_batch` at a time (their callers all resume in one event-loop pass)."""
    db = await Database.open(tmp_path / "bot.sqlite3", max_batch=50)
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        before_batches, before_ops = db.batches, db.batched_operations
        changed = await asyncio.gather(
            *(db.execute("INSERT INTO t VALUES (?)", (i,)) for i in range(200))
        )
        assert changed == [1] * 200
        assert db.batched_operations - before_ops == 200
        assert 4 <= db.batches - before_batches <= 5
        rows = await db.fetchall("SELECT x FROM t ORDER BY rowid")
        assert [row[0] for row in rows] == list(range(200))  # in the order they were queued
    finally:
        await db.close()


async def test_a_failing_operation_does_not_affect_its_batch(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER UNIQUE)")

        def insert_then_fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (99)")
            raise ValueError("nope")

        results = await asyncio.gather(
            db.execute("INSERT INTO t VALUES (1)"),
            db.execute("INSERT INTO t VALUES (1)"),  # violates UNIQUE
            db.run_in_transaction(insert_then_fail),
            db.fetchone("SELECT COUNT(*) FROM t"),
            db.execute("INSERT INTO t VALUES (2)"),
            return_exceptions=True,
        )
        assert results[0] == 1
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert isinstance(results[2], ValueError)
        count = results[3]
        assert isinstance(count, sqlite3.Row) and count[0] == 1
        assert results[4] == 1
        rows = await db.fetchall("SELECT x FROM t ORDER BY x")
        assert [row[0] for row in rows] == [1, 2]
    finally:
        await db.close()


async def test_an_operation_that_leaves_a_transaction_open_is_rolled_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(StoreError, match="transaction open"):
            await db.execute("BEGIN")
        assert await db.execute("INSERT INTO t VALUES (1)") == 1
        # BEGIN IMMEDIATE would fail if a transaction were still open
        await db.run_in_transaction(lambda conn: conn.execute("INSERT INTO t VALUES (2)"))
        assert len(await db.fetchall("SELECT x FROM t")) == 2
    finally:
        await db.close()


async def test_an_operation_cancelled_before_its_batch_never_runs(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        release = threading.Event()
        # Hold the database thread, so that the insert stays queued behind this batch.
        holding = asyncio.create_task(db.run_in_transaction(lambda conn: release.wait(5)))
        await asyncio.sleep(0)
        insert = asyncio.create_task(db.execute("INSERT INTO t VALUES (1)"))
        await asyncio.sleep(0)
        insert.cancel()
        with pytest.raises(asyncio.CancelledError):
            await insert
        release.set()
        await holding
        assert await db.fetchall("SELECT x FROM t") == []
    finally:
        await db.close()


async def test_close_finishes_queued_operations_first(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await db.execute("CREATE TABLE t (x INTEGER)")
    inserts = [asyncio.create_task(db.execute("INSERT INTO t VALUES (?)", (i,))) for i in range(20)]
    await asyncio.sleep(0)
    await db.close()
    assert [task.result() for task in inserts] == [1] * 20
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 20
    finally:
        conn.close()


async def test_a_database_locked_by_another_writer_reports_busy(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path, busy_timeout_ms=50)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreBusy, match="busy"):
            await db.execute("INSERT INTO t VALUES (1)")
        other.execute("ROLLBACK")
        assert await db.execute("INSERT INTO t VALUES (1)") == 1  # and then it works
    finally:
        other.close()
        await db.close()


async def test_migration_3_moves_the_delivery_keys_out_of_the_context(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, _name, sql in migration_scripts()[:2]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    columns = (
        "id, state, prompt, model, requester_id, origin, context, created_at, updated_at, "
        "deadline_at, error_kind, error_message"
    )
    rows = [
        (
            "a",
            "delivered",
            '{"discord": {"x": 1}, "delivered_via": "dm", '
            '"result_message_id": 5, "result_channel_id": 6}',
            None,
            None,
        ),
        ("b", "delivered", '{"saved_to": "/tmp/x.wav"}', None, None),
        ("c", "failed", '{"failure_reported": true}', "GenerationFailed", "flagged"),
    ]
    for job_id, state, context, kind, message in rows:
        conn.execute(
            f"INSERT INTO jobs ({columns}) VALUES (?, ?, 'p', 'm', 'u', 'discord', ?, 1, 2, 3, "  # noqa: S608
            "?, ?)",
            (job_id, state, context, kind, message),
        )
    conn.close()
    store = SqliteStore(await Database.open(path))
    try:
        a, b, c = [await store.jobs.get(job_id) for job_id in "abc"]
        assert a is not None and a.context == {"discord": {"x": 1}}
        assert a.delivery == Delivery(DeliveryVia.DM, message_id=5, channel_id=6)
        assert b is not None and b.context == {}
        assert b.delivery == Delivery(DeliveryVia.TERMINAL, saved_to="/tmp/x.wav")
        assert c is not None and c.failure_reported_at == 2 and c.error_detail == "flagged"
        assert c.error_kind is ErrorKind.PROVIDER_FAILED and c.delivery is None
    finally:
        await store.close()
