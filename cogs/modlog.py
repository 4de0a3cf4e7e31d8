"""Posts the quota's events (moderator actions, generations, blocked prompts) to each server's
mod-log channel (`/quota modlog`). Never pings: every message goes out with no allowed
mentions, and people are shown as mentions, which render as names (`bot.text.modlog`).

Posting happens in a background task per server, in order, so a slow or failing Discord call
never delays the reservation or moderator action that produced the event. A channel that is
gone (deleted, or the bot lost access) turns the log off once, with one warning, rather than
failing every event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import discord
from discord.ext import commands

from bot.bot import JamBot
from bot.interactions import NO_PINGS
from bot.quota.components import Quota
from bot.quota.events import ModEvent
from bot.text.modlog import modlog_line

log = logging.getLogger(__name__)

# Unknown Channel (deleted) and Missing Access (the bot can no longer see it).
CHANNEL_GONE_CODES = frozenset({10003, 50001})
MAX_QUEUED_PER_SERVER = 500


class ModLog(commands.Cog):
    """One queue and at most one posting task per server, so each mod log reads in order and a
    burst of events (Discord allows 5 messages per 5 s in a channel) waits its turn."""

    def __init__(self, bot: JamBot) -> None:
        self.bot = bot
        self._queues: dict[int, deque[ModEvent]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._dropped: dict[int, int] = {}
        self._quota: Quota | None = None

    async def cog_load(self) -> None:
        # No quota when the bot only publishes its commands (`python -m bot sync`).
        if self.bot.has_services:
            self._quota = self.bot.services.quota
            self._quota.events.subscribe(self.on_quota_event)

    async def cog_unload(self) -> None:
        if self._quota is not None:
            self._quota.events.unsubscribe(self.on_quota_event)
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)

    async def on_quota_event(self, event: ModEvent) -> None:
        guild_id = event.guild_id
        queue = self._queues.setdefault(guild_id, deque())
        if len(queue) >= MAX_QUEUED_PER_SERVER:
            queue.popleft()  # far behind: the oldest line goes, so memory stays bounded
            self._dropped[guild_id] = self._dropped.get(guild_id, 0) + 1
        queue.append(event)
        worker = self._workers.get(guild_id)
        if worker is None or worker.done():
            self._workers[guild_id] = self.bot.tasks.spawn(
                self._drain(guild_id), name=f"modlog-{guild_id}"
            )

    async def _drain(self, guild_id: int) -> None:
        queue = self._queues[guild_id]
        try:
            while queue:
                await self.post(queue.popleft())
        finally:
            if not queue:
                self._queues.pop(guild_id, None)
            if self._workers.get(guild_id) is asyncio.current_task():
                del self._workers[guild_id]
            dropped = self._dropped.pop(guild_id, 0)
            if dropped:
                log.warning(
                    "the mod log of server %s fell behind; %d older event(s) were not posted",
                    guild_id,
                    dropped,
                )

    async def post(self, event: ModEvent) -> discord.Message | None:
        """Send one event to its server's mod log, if one is set; failures are only logged."""
        quota = self._quota
        if quota is None:
            return None
        channel_id: int | None = None
        try:
            channel_id = await quota.queries.modlog_channel(event.guild_id)
            if channel_id is None:
                return None
            channel = self.bot.get_partial_messageable(channel_id, guild_id=event.guild_id)
            return await channel.send(modlog_line(event), allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            if error.code in CHANNEL_GONE_CODES and channel_id is not None:
                await self._channel_gone(quota, event.guild_id, channel_id, error)
            else:
                log.warning(
                    "cannot post to the mod log of server %s: %s %s",
                    event.guild_id,
                    error.status,
                    error.code,
                )
        except Exception:
            log.exception("mod log for server %s failed", event.guild_id)
        return None

    async def _channel_gone(
        self, quota: Quota, guild_id: int, channel_id: int, error: discord.HTTPException
    ) -> None:
        """Turn the log off once, instead of failing (and warning) on every later event."""
        if await quota.moderation.forget_modlog_channel(guild_id, channel_id):
            log.warning(
                "the mod-log channel %s of server %s is gone or out of reach (%s %s); "
                "the mod log is off until a moderator sets it again with /quota modlog",
                channel_id,
                guild_id,
                error.status,
                error.code,
            )
        else:
            log.debug("mod-log channel %s of server %s already forgotten", channel_id, guild_id)

    async def wait_idle(self) -> None:
        """Wait until every event received so far is posted (for tests and shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)


async def setup(bot: JamBot) -> None:
    await bot.add_cog(ModLog(bot))
