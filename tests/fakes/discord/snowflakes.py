"""Discord snowflakes: 64-bit ids whose top bits are a millisecond timestamp.

discord.py derives `Interaction.created_at`, `expires_at` and cooldowns from the id, so the fake
can mint ids "in the past" to test token expiry without waiting.
"""

from __future__ import annotations

import itertools
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_time(snowflake: int) -> float:
    """Unix seconds encoded in a snowflake."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000.0


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard whose session receives a guild's events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


class SnowflakeGenerator:
    """Unique ids: timestamp bits from the (given or current) time, a rolling 17-bit counter."""

    def __init__(self, worker: int = 1) -> None:
        self._worker = worker & 0x1F
        self._counter = itertools.count()
        self._issued: set[int] = set()

    def next(self, at: float | None = None, *, shard: tuple[int, int] | None = None) -> int:
        """A new id; with `shard=(shard_id, shard_count)`, one that `shard_of` puts on that
        shard (its timestamp moves back by less than `shard_count` milliseconds)."""
        moment = time.time() if at is None else at
        ms = int(moment * 1000) - DISCORD_EPOCH_MS
        if shard is not None:
            shard_id, shard_count = shard
            if not 0 <= shard_id < shard_count:
                raise ValueError(f"no shard {shard_id} among {shard_count}")
            ms -= (ms - shard_id) % shard_count
        while True:
            increment = next(self._counter) & 0x1FFFF
            value = (ms << 22) | (self._worker << 17) | increment
            if value not in self._issued:
                self._issued.add(value)
                return value
