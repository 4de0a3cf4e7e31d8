"""Quota stays exact when two processes reserve against the same database at once."""

from __future__ import annotations

import asyncio
import sys

from bot.config import DatabaseUrl
from bot.quota.timeutil import pool_key
from bot.store.connect import open_url
from tests.bot.store.backends import count
from tests.bot.store.reserve_burst import NOW
from tests.process_support import REPO


async def test_300_reservations_from_two_processes_against_a_pool_of_50_grant_exactly_50(
    database_url: DatabaseUrl,
) -> None:
    store = await open_url(database_url)  # migrated before the processes race
    await store.close()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bot.store.reserve_burst",
            database_url.reveal(),
            prefix,
            "150",
            "50",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for prefix in ("a", "b")
    ]
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"
    for process in processes:  # both connected: go
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    outputs = [await asyncio.wait_for(process.communicate(), 60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    granted = [int(stdout.decode().strip()) for stdout, _ in outputs]
    assert sum(granted) == 50

    store = await open_url(database_url)
    try:
        assert await count(store, "quota_reservations") == 50
        assert await store.quota.pool_used(1111, pool_key(NOW, 0)) == 50
    finally:
        await store.close()
