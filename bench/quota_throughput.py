"""Quota throughput: reserve + commit (+ finish, some refunds) from many concurrent tasks.

Many members in several servers hammer one database; member windows, server pools and the
bot-wide cap all bite. Afterwards the rows are counted against every limit: the over-grant
count must be 0. With `--processes 2` two OS processes share the work against the same
database, started together, as two bot processes would.

    .venv/bin/python bench/quota_throughput.py [--ops 20000] [--tasks 50] [--guilds 10]
        [--database-url sqlite:///file | postgresql://...] [--processes 2]

The default database is an SQLite file in a temporary folder. A PostgreSQL URL gets a fresh
schema in that database for the run (dropped afterwards), so nothing there is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import DatabaseUrl
from bot.quota.components import Quota
from bot.quota.models import Grant, QuotaDefaults, Requester
from bot.store.base import Store
from bot.store.connect import open_url
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker

DEFAULTS = QuotaDefaults(
    member_limit_per_window=20,
    member_window_seconds=3600,
    member_max_in_flight=2,
    guild_daily_pool=1500,
    bot_daily_cap=12_000,
)
Plan = list[tuple[int, int, int, float]]  # (index, guild id, member, dice roll)


@dataclass
class Tally:
    granted: int = 0
    refused: int = 0
    refunded: int = 0
    calls: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.granted += other.granted
        self.refused += other.refused
        self.refunded += other.refunded
        self.calls += other.calls
        self.latencies += other.latencies


def make_plan(ops: int, guilds: int, members: int) -> tuple[list[int], Plan]:
    guild_ids = [1000 + g for g in range(guilds)]
    rng = random.Random(1234)
    plan = [(i, rng.choice(guild_ids), rng.randrange(members), rng.random()) for i in range(ops)]
    return guild_ids, plan


async def hammer(store: Store, plan: Plan, tasks: int) -> Tally:
    """Run `plan` from `tasks` concurrent tasks through the quota ledger."""
    quota = Quota.build(store.quota, DEFAULTS, tasks=TaskTracker())
    tally = Tally()
    queue: asyncio.Queue[tuple[int, int, int, float]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            index, guild_id, user, roll = queue.get_nowait()
            job_id = f"job-{index}"
            requester = Requester(user_id=user + 1, guild_id=guild_id, channel_id=guild_id + 1)
            started = time.perf_counter()
            result = await quota.ledger.reserve(requester, job_id, f"lofi beat number {index}")
            tally.calls += 1
            if isinstance(result, Grant):
                tally.granted += 1
                if roll < 0.1:  # the provider refused: give the credit back
                    await quota.ledger.refund(job_id)
                    tally.refunded += 1
                else:
                    await quota.ledger.commit(job_id)
                await quota.ledger.finish(job_id)
                tally.calls += 2
            else:
                tally.refused += 1
            tally.latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return tally


def child(url: str, plan: Plan, tasks: int, barrier: Barrier, results: Any) -> None:
    """One of the `--processes`: connect, wait for the others, run its share, report."""

    async def main() -> Tally:
        store = await open_url(DatabaseUrl.parse(url))
        try:
            await asyncio.to_thread(barrier.wait)
            return await hammer(store, plan, tasks)
        finally:
            await store.close()

    results.put(asyncio.run(main()))


def run_processes(url: DatabaseUrl, plan: Plan, tasks: int, processes: int) -> tuple[Tally, float]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(
            target=child, args=(url.reveal(), plan[k::processes], tasks, barrier, results)
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)  # every process is connected
    started = time.perf_counter()
    tally = Tally()
    for _ in workers:
        tally.add(results.get(timeout=600))
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    if any(worker.exitcode for worker in workers):
        raise SystemExit("a benchmark process failed")
    return tally, elapsed


async def scalars(store: Store, sql: str) -> list[int]:
    """The first column of `sql` (the same text on both backends)."""
    if isinstance(store, SqliteStore):
        return [int(row[0]) for row in await store.database.fetchall(sql)]
    assert isinstance(store, PostgresStore)
    return [int(row[0]) for row in await store.database.fetch(sql)]


async def over_grants(store: Store, d: QuotaDefaults) -> int:
    """Count credit held beyond any limit, straight from the rows (not the counters)."""
    over = 0
    limits = [
        ("AND NOT used_extra GROUP BY guild_id, user_id", d.member_limit_per_window),
        ("GROUP BY guild_id, pool_period", d.guild_daily_pool),
        ("GROUP BY bot_day", d.bot_daily_cap),
    ]
    for grouping, limit in limits:
        counts = await scalars(
            store,
            f"SELECT COUNT(*) FROM quota_reservations WHERE state <> 'refunded' {grouping}",  # noqa: S608
        )
        over += sum(max(n - limit, 0) for n in counts)
    # The counters must agree with the rows they summarise.
    mismatched = await scalars(
        store,
        "SELECT c.scope_id FROM quota_counters c WHERE c.scope = 'guild' AND c.used <> "
        "(SELECT COUNT(*) FROM quota_reservations r WHERE r.guild_id = c.scope_id "
        "AND r.pool_period = c.period AND r.state <> 'refunded')",
    )
    over += len(mismatched)
    over += (await scalars(store, "SELECT COUNT(*) FROM quota_reservations WHERE in_flight"))[0]
    return over


async def fresh_postgres_schema(url: DatabaseUrl, drop: str | None = None) -> DatabaseUrl:
    """Create (or with `drop`, remove) a schema for the run; the URL that uses it."""
    import asyncpg  # only PostgreSQL runs need it

    admin = await asyncpg.connect(url.reveal())
    try:
        if drop is not None:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{drop}" CASCADE')
            return url
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    joiner = "&" if "?" in url.reveal() else "?"
    return DatabaseUrl.parse(f"{url.reveal()}{joiner}search_path={schema}")


async def prepare(url: DatabaseUrl, guild_ids: list[int]) -> None:
    """Migrate and block a word in half the servers (the block list is matched too)."""
    store = await open_url(url)
    try:
        quota = Quota.build(store.quota, DEFAULTS, tasks=TaskTracker())
        for guild_id in guild_ids[: len(guild_ids) // 2]:
            await quota.moderation.add_blocked_term(guild_id, "forbidden", by=1)
    finally:
        await store.close()


async def check(url: DatabaseUrl) -> int:
    store = await open_url(url)
    try:
        return await over_grants(store, DEFAULTS)
    finally:
        await store.close()


def run(args: argparse.Namespace, url: DatabaseUrl) -> int:
    guild_ids, plan = make_plan(args.ops, args.guilds, args.members)
    asyncio.run(prepare(url, guild_ids))
    if args.processes == 1:

        async def single() -> tuple[Tally, float]:
            store = await open_url(url)
            try:
                started = time.perf_counter()
                tally = await hammer(store, plan, args.tasks)
                return tally, time.perf_counter() - started
            finally:
                await store.close()

        tally, elapsed = asyncio.run(single())
    else:
        tally, elapsed = run_processes(url, plan, args.tasks, args.processes)
    over = asyncio.run(check(url))

    latencies = sorted(tally.latencies)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    backend = "SQLite" if url.backend == "sqlite" else "PostgreSQL"
    print(
        f"quota throughput: {args.ops} operations from {args.processes} process(es) x "
        f"{args.tasks} tasks, {args.guilds} servers, {args.members} members each, "
        f"{backend} at {url.masked}"
    )
    print(f"  elapsed            {elapsed:.2f} s")
    print(
        f"  operations/s       {args.ops / elapsed:,.0f}  "
        "(reserve, then commit or refund, then finish)"
    )
    print(
        f"  quota calls/s      {tally.calls / elapsed:,.0f}  "
        "(every reserve, commit, refund and finish call)"
    )
    print(
        f"  granted/refused    {tally.granted} / {tally.refused} "
        f"(refunded after grant: {tally.refunded})"
    )
    print(f"  latency p50 / p99  {p50:.2f} ms / {p99:.2f} ms  (one whole operation, under load)")
    print(f"  over-grants        {over}")
    return over


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=50, help="concurrent tasks per process")
    parser.add_argument("--guilds", type=int, default=10)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1, help="OS processes sharing the work")
    parser.add_argument(
        "--database-url", default=None, help="sqlite:///file or postgresql://... (default: temp)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.database_url or f"sqlite:///{Path(tmp) / 'quota-bench.sqlite3'}"
        url = DatabaseUrl.parse(raw)
        if url.backend == "sqlite":
            return 1 if run(args, url) else 0
        scoped = asyncio.run(fresh_postgres_schema(url))
        try:
            return 1 if run(args, scoped) else 0
        finally:
            schema = scoped.reveal().rsplit("search_path=", 1)[1]
            asyncio.run(fresh_postgres_schema(url, drop=schema))


if __name__ == "__main__":
    sys.exit(main())
