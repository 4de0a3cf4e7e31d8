"""A process that reserves credit in a burst, for the cross-process quota test and nothing else.

    python -m tests.bot.store.reserve_burst DATABASE_URL PREFIX COUNT POOL

Opens the store, prints "ready", waits for a line on stdin (so that several processes start
together), fires COUNT concurrent reservations for distinct members against a server pool of
POOL, then prints how many were granted.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.config import DatabaseUrl
from bot.quota.models import Grant, QuotaDefaults, Requester
from bot.quota.rules import ReservationRules
from bot.store.connect import open_url

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp()


async def burst(url: str, prefix: str, count: int, pool: int) -> int:
    store = await open_url(DatabaseUrl.parse(url))
    try:
        rules = ReservationRules(QuotaDefaults(guild_daily_pool=pool, bot_daily_cap=10 * count))
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        decisions = await asyncio.gather(
            *(
                store.quota.reserve(
                    Requester(user_id=i + 1, guild_id=1111, channel_id=5),
                    f"{prefix}-{i}",
                    now=NOW,
                    blocked_term=None,
                    rules=rules,
                )
                for i in range(count)
            )
        )
        return sum(isinstance(d.outcome, Grant) for d in decisions)
    finally:
        await store.close()


if __name__ == "__main__":
    url, prefix, count, pool = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(asyncio.run(burst(url, prefix, count, pool)), flush=True)
