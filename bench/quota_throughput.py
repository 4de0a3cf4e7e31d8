"""Quota throughput: reserve + commit (+ finish, some refunds) from many concurrent tasks.

Many members in several servers hammer one SQLite file; member windows, server pools and the
bot-wide cap all bite. Afterwards the rows are counted against every limit: the over-grant
count must be 0.

    .venv/bin/python bench/quota_throughput.py [--ops 20000] [--tasks 50] [--guilds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.quota.components import Quota
from bot.quota.models import Grant, QuotaDefaults, Requester
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.database import SqliteDatabase
from bot.tasks import TaskTracker


async def run(ops: int, tasks: int, guilds: int, members: int, path: Path) -> int:
    defaults = QuotaDefaults(
        member_limit_per_window=20,
        member_window_seconds=3600,
        member_max_in_flight=2,
        guild_daily_pool=1500,
        bot_daily_cap=12_000,
    )
    store = await SqliteStore.open(path)
    db = store.database
    quota = Quota.build(store.quota, defaults, tasks=TaskTracker())
    guild_ids = [1000 + g for g in range(guilds)]
    for guild_id in guild_ids[: guilds // 2]:
        await quota.moderation.add_blocked_term(guild_id, "forbidden", by=1)
    rng = random.Random(1234)
    plan = [(rng.choice(guild_ids), rng.randrange(members), rng.random()) for _ in range(ops)]
    counts = {"granted": 0, "refused": 0, "refunded": 0, "calls": 0}
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[int, tuple[int, int, float]]] = asyncio.Queue()
    for item in enumerate(plan):
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            index, (guild_id, user, roll) = queue.get_nowait()
            job_id = f"job-{index}"
            requester = Requester(user_id=user + 1, guild_id=guild_id, channel_id=guild_id + 1)
            started = time.perf_counter()
            result = await quota.ledger.reserve(requester, job_id, f"lofi beat number {index}")
            counts["calls"] += 1
            if isinstance(result, Grant):
                counts["granted"] += 1
                if roll < 0.1:  # the provider refused: give the credit back
                    await quota.ledger.refund(job_id)
                    counts["refunded"] += 1
                else:
                    await quota.ledger.commit(job_id)
                await quota.ledger.finish(job_id)
                counts["calls"] += 2
            else:
                counts["refused"] += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started

    over = await over_grants(db, defaults)
    await db.close()

    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"quota throughput: {ops} operations from {tasks} tasks, {guilds} servers, "
        f"{members} members each, SQLite file {path.name}"
    )
    print(f"  elapsed            {elapsed:.2f} s")
    print(
        f"  operations/s       {ops / elapsed:,.0f}  (reserve, then commit or refund, then finish)"
    )
    print(
        f"  quota calls/s      {counts['calls'] / elapsed:,.0f}  "
        "(every reserve, commit, refund and finish call)"
    )
    print(
        f"  granted/refused    {counts['granted']} / {counts['refused']} "
        f"(refunded after grant: {counts['refunded']})"
    )
    print(f"  latency p50 / p99  {p50:.2f} ms / {p99:.2f} ms  (one whole operation, under load)")
    print(f"  over-grants        {over}")
    return over


async def over_grants(db: SqliteDatabase, d: QuotaDefaults) -> int:
    """Count credit held beyond any limit, straight from the rows (not the counters)."""
    over = 0
    limits = [
        ("AND used_extra = 0 GROUP BY guild_id, user_id", d.member_limit_per_window),
        ("GROUP BY guild_id, pool_period", d.guild_daily_pool),
        ("GROUP BY bot_day", d.bot_daily_cap),
    ]
    for grouping, limit in limits:
        rows = await db.fetchall(
            f"SELECT COUNT(*) FROM quota_reservations WHERE state != 'refunded' {grouping}"  # noqa: S608
        )
        over += sum(max(int(r[0]) - limit, 0) for r in rows)
    # The counters must agree with the rows they summarise.
    mismatched = await db.fetchall(
        "SELECT c.scope_id FROM quota_counters c WHERE c.scope = 'guild' AND c.used != "
        "(SELECT COUNT(*) FROM quota_reservations r WHERE r.guild_id = c.scope_id "
        "AND r.pool_period = c.period AND r.state != 'refunded')"
    )
    over += len(mismatched)
    stuck = await db.fetchone("SELECT COUNT(*) FROM quota_reservations WHERE in_flight = 1")
    assert stuck is not None
    over += int(stuck[0])
    return over


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--guilds", type=int, default=10)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "quota-bench.sqlite3"
        over = asyncio.run(run(args.ops, args.tasks, args.guilds, args.members, path))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
