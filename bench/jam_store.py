"""Jam store throughput: entries, deadlines, votes and endings from several stores at once.

`--stores` stores (each its own connection pool, as separate bot processes would have) share
one database. `--jams` jams run in parallel, each with a budget of `--budget`; all `--members`
members of each jam enter at once, the deadline is advanced by every store at once, everyone
votes at once (a tenth twice, moving their vote), a tenth of the entries are refunded while
every store ends the jams. Afterwards the rows are recounted: over-spent budgets, steps taken
twice and credit lost or created must all be 0.

    .venv/bin/python bench/jam_store.py [--jams 4] [--members 300] [--budget 200] [--stores 2]
        [--database-url sqlite:///file | postgresql://...]

The default database is an SQLite file in a temporary folder. A PostgreSQL URL gets a fresh
schema in that database for the run (dropped afterwards), so nothing there is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quota_throughput import fresh_postgres_schema

from bot.config import DatabaseUrl
from bot.jams.models import (
    Accepted,
    EndReason,
    EntryDraft,
    Jam,
    JamDraft,
    JamSettings,
    Transition,
)
from bot.jams.rules import JamRules
from bot.quota.models import QuotaDefaults, Requester
from bot.quota.rules import ReservationRules
from bot.store.base import Store
from bot.store.connect import open_url
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

GUILD = 1111
NOW = datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp()
ROUND = 600
QUOTA = ReservationRules(
    QuotaDefaults(
        member_limit_per_window=100,
        member_window_seconds=3600,
        member_max_in_flight=100,
        guild_daily_pool=10_000,
        guild_reset_minute=0,
        bot_daily_cap=1_000_000,
    )
)
RULES = JamRules()


async def timed(
    calls: Sequence[Callable[[], Awaitable[Any]]],
) -> tuple[list[Any], float, list[float]]:
    """Run every call at once; (results, elapsed seconds, each call's latency)."""
    latencies: list[float] = []

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        result = await call()
        latencies.append(time.perf_counter() - started)
        return result

    started = time.perf_counter()
    results = await asyncio.gather(*(one(c) for c in calls))
    return list(results), time.perf_counter() - started, sorted(latencies)


def quantiles(latencies: list[float]) -> str:
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"


async def scalar(store: Store, sql: str) -> int:
    if isinstance(store, SqliteStore):
        row = await store.database.fetchone(sql)
        return int(row[0]) if row is not None else 0
    assert isinstance(store, PostgresStore)
    return int(await store.database.fetchval(sql) or 0)


async def lost_credit(store: Store) -> int:
    """Pool counters that disagree with the rows holding them, plus jams spent over budget."""
    spent = (
        "SELECT COUNT(*) FROM quota_reservations r WHERE r.jam_id = j.id AND r.state <> 'refunded'"
    )
    over = await scalar(store, f"SELECT COUNT(*) FROM jams j WHERE ({spent}) > j.budget")  # noqa: S608
    held = (
        f"SELECT SUM(CASE WHEN j.settled <> 0 THEN ({spent}) ELSE j.budget END) FROM jams j "  # noqa: S608
        "WHERE j.guild_id = c.scope_id AND j.pool_period = c.period"
    )
    wrong = await scalar(
        store,
        "SELECT COUNT(*) FROM quota_counters c WHERE c.scope = 'guild' AND c.used <> ("  # noqa: S608
        "(SELECT COUNT(*) FROM quota_reservations q WHERE q.guild_id = c.scope_id "
        "AND q.pool_period = c.period AND q.jam_id IS NULL AND q.state <> 'refunded') + "
        f"COALESCE(({held}), 0))",
    )
    return over + wrong


async def run(args: argparse.Namespace, url: DatabaseUrl) -> int:
    stores = [await open_url(url) for _ in range(args.stores)]
    try:
        return await bench(args, url, stores)
    finally:
        for store in stores:
            await store.close()


async def bench(args: argparse.Namespace, url: DatabaseUrl, stores: list[Store]) -> int:
    rng = random.Random(7)

    def pick(n: int) -> Store:
        return stores[n % len(stores)]

    jams: list[Jam] = []
    for j in range(args.jams):
        settings = JamSettings("bench", budget=args.budget, round_seconds=ROUND, vote_seconds=ROUND)
        draft = JamDraft(f"jam{j}", GUILD, 100 + j, 9, settings)
        made = await stores[0].jams.create(draft, now=NOW, rules=QUOTA)
        assert isinstance(made, Jam), made
        opened = await stores[0].jams.open(
            made.id, thread_id=1000 + j, card_message_id=2000 + j, now=NOW, rules=RULES
        )
        assert opened is not None
        jams.append(opened.jam)

    def entry(jam: Jam, member: int) -> Callable[[], Awaitable[Any]]:
        who = Requester(user_id=member, guild_id=GUILD, channel_id=jam.thread_id)
        draft = EntryDraft(jam.id, f"{jam.id}-{member}", who, "m", "p", "p", None, None)
        store = pick(member)
        return lambda: store.jams.enter(
            draft, now=NOW + 1, blocked_term=None, reserve_rules=QUOTA, rules=RULES
        )

    calls = [entry(jam, m) for m in range(args.members) for jam in jams]
    entered, entries_s, entry_lat = await timed(calls)
    accepted = sum(isinstance(r, Accepted) for r in entered)

    due = NOW + ROUND
    advancing = [
        partial(s.jams.advance, jam.id, now=due, rules=RULES) for jam in jams for s in stores * 3
    ]
    steps, _, _ = await timed(advancing)
    twice = sum(isinstance(s, Transition) for s in steps) - len(jams)

    def ballot(jam: Jam, member: int) -> Callable[[], Awaitable[Any]]:
        number = rng.randint(1, min(args.budget, args.members))
        store = pick(member + 1)
        return lambda: store.jams.vote(jam.id, number, member, now=due + 1, rules=RULES)

    voting = [ballot(jam, m) for m in range(args.members) for jam in jams]
    voting += [ballot(jam, m) for m in range(0, args.members, 10) for jam in jams]
    votes, votes_s, vote_lat = await timed(voting)
    counted = sum(v.problem is None for v in votes)
    rows = await scalar(stores[0], "SELECT COUNT(*) FROM jam_votes")

    refunds = [
        partial(pick(m).quota.refund, f"{jam.id}-{m}", now=due + 2)
        for jam in jams
        for m in range(0, args.members, 10)
    ]
    endings = [
        partial(s.jams.finish, jam.id, EndReason.ENDED, by=9, now=due + 2, rules=RULES)
        for jam in jams
        for s in stores
    ]
    mixed = refunds + endings
    rng.shuffle(mixed)
    ended, _, _ = await timed(mixed)
    ends_twice = sum(isinstance(e, Transition) for e in ended) - len(jams)
    lost = await lost_credit(stores[0])

    backend = "SQLite" if url.backend == "sqlite" else "PostgreSQL"
    print(
        f"jam store: {args.jams} jams x {args.members} members, budget {args.budget}, "
        f"{args.stores} stores, {backend} at {url.masked}"
    )
    print(
        f"  entries            {len(calls)} in {entries_s:.2f} s = {len(calls) / entries_s:,.0f}/s "
        f"({quantiles(entry_lat)}); accepted {accepted} "
        f"(expected {args.jams * min(args.budget, args.members)})"
    )
    print(
        f"  votes              {len(voting)} in {votes_s:.2f} s = {len(voting) / votes_s:,.0f}/s "
        f"({quantiles(vote_lat)}); taken {counted}, rows {rows}"
    )
    print(f"  deadline twice     {twice}   (each store advanced each jam 3 times at once)")
    print(f"  ended twice        {ends_twice}")
    print(f"  credit lost/over   {lost}")
    over_spent = accepted - args.jams * min(args.budget, args.members)
    return abs(over_spent) + twice + ends_twice + lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jams", type=int, default=4)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--stores", type=int, default=2, help="connection pools (processes)")
    parser.add_argument(
        "--database-url", default=None, help="sqlite:///file or postgresql://... (default: temp)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.database_url or f"sqlite:///{Path(tmp) / 'jam-bench.sqlite3'}"
        url = DatabaseUrl.parse(raw)
        if url.backend == "sqlite":
            return 1 if asyncio.run(run(args, url)) else 0
        scoped = asyncio.run(fresh_postgres_schema(url))
        try:
            return 1 if asyncio.run(run(args, scoped)) else 0
        finally:
            schema = scoped.reveal().rsplit("search_path=", 1)[1]
            asyncio.run(fresh_postgres_schema(url, drop=schema))


if __name__ == "__main__":
    sys.exit(main())
