"""Per-server values read on every reservation or mod-log event and changed rarely, cached.

`LoadCache` is safe against a load racing a change: a load that was already reading when
`invalidate` ran returns what it read but does not remember it, so an old value can never
outlive the change. One process's cache only, which is enough: a server's moderator commands
and its reservations all reach the one process that runs the server's shard (README,
"Scaling out").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.quota.models import BlockedTerm
from bot.quota.prompt_policy import PromptPolicy
from bot.store.base import QuotaRepository

K = TypeVar("K")
V = TypeVar("V")


class LoadCache(Generic[K, V]):
    """`await cache.get(key)` loads once and remembers; `invalidate(key)` after every change."""

    def __init__(self, load: Callable[[K], Awaitable[V]]) -> None:
        self._load = load
        self._values: dict[K, V] = {}
        self._version = 0

    async def get(self, key: K) -> V:
        if key in self._values:
            return self._values[key]
        version = self._version
        value = await self._load(key)
        if version == self._version:
            self._values[key] = value
        return value

    def invalidate(self, key: K) -> None:
        self._version += 1
        self._values.pop(key, None)


class BlockLists:
    """Each server's compiled prompt block list."""

    def __init__(self, store: QuotaRepository) -> None:
        self._store = store
        self._policies: LoadCache[int, PromptPolicy] = LoadCache(self._load)

    async def _load(self, guild_id: int) -> PromptPolicy:
        # Compiling hundreds of RE2 patterns takes tens of milliseconds: off the event loop.
        return await asyncio.to_thread(PromptPolicy, await self._store.blocked_terms(guild_id))

    async def policy(self, guild_id: int) -> PromptPolicy:
        return await self._policies.get(guild_id)

    async def match(self, guild_id: int, prompt: str) -> BlockedTerm | None:
        """The entry the prompt hits, matched in a worker thread (RE2 releases the GIL)."""
        policy = await self.policy(guild_id)
        return await asyncio.to_thread(policy.match, prompt) if policy else None

    def changed(self, guild_id: int) -> None:
        self._policies.invalidate(guild_id)


class ModlogChannels:
    """Each server's mod-log channel (None: the log is off)."""

    def __init__(self, store: QuotaRepository) -> None:
        self._store = store
        self._channels: LoadCache[int, int | None] = LoadCache(self._load)

    async def _load(self, guild_id: int) -> int | None:
        record = await self._store.guild(guild_id)
        return None if record is None else record.modlog_channel_id

    async def channel(self, guild_id: int) -> int | None:
        return await self._channels.get(guild_id)

    def changed(self, guild_id: int) -> None:
        self._channels.invalidate(guild_id)
