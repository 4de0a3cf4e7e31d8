"""Posts the quota's ModEvents (moderator actions, generations, blocked prompts) to each
server's mod-log channel (`/quota modlog`). Never pings: the text is escaped and every message
goes out with AllowedMentions.none(); people are shown as mentions, which render as names.

Posting happens in background tasks, so a slow or failing Discord call never delays the
reservation or moderator action that produced the event. A channel that is gone (deleted, or
the bot lost access) turns the log off once, with one warning, rather than failing every event.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.presentation.text import NO_PINGS, safe_text
from bot.quota.models import ModEvent
from bot.quota.service import QuotaService

if TYPE_CHECKING:
    from bot.bot import JamBot

log = logging.getLogger(__name__)

TEXT_CHARS = 1800
# Unknown Channel (deleted) and Missing Access (the bot can no longer see it).
CHANNEL_GONE_CODES = frozenset({10003, 50001})
_LINK = re.compile(r"https?://[^\s<>]{1,300}")
ICONS = {
    "generation": "🎵",
    "blocked_prompt": "🛑",
    "bar": "🚫",
    "unbar": "✅",
    "grant": "🎁",
    "reset": "🔄",
    "block_list": "📝",
    "settings": "⚙️",
}


def render(event: ModEvent) -> str:
    """The mod-log line for an event: escaped text, then who it concerns (no pings)."""
    text = f"{ICONS.get(event.kind, 'ℹ️')} {safe_text(event.text, TEXT_CHARS)}"
    people = []
    if event.user_id is not None:
        people.append(f"member <@{event.user_id}>")
    if event.actor_id is not None:
        people.append(f"by <@{event.actor_id}>")
    if people:
        text += "\n— " + ", ".join(people)
    if event.link is not None and _LINK.fullmatch(event.link):
        text += f"\n<{event.link}>"  # angle brackets: a plain link, no preview
    return text


class ModLog(commands.Cog):
    def __init__(self, bot: JamBot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[Any]] = set()
        self._service: QuotaService | None = None

    async def cog_load(self) -> None:
        # No quota service when the bot only loads commands (`python -m bot sync`).
        self._service = getattr(self.bot, "quota", None)
        if self._service is not None:
            self._service.add_event_listener(self.on_quota_event)

    async def cog_unload(self) -> None:
        if self._service is not None:
            self._service.remove_event_listener(self.on_quota_event)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def on_quota_event(self, event: ModEvent) -> None:
        task = asyncio.get_running_loop().create_task(
            self.post(event), name=f"modlog-{event.guild_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post(self, event: ModEvent) -> discord.Message | None:
        """Send one event to its server's mod log, if one is set; failures are only logged."""
        service = self._service
        if service is None:
            return None
        channel_id: int | None = None
        try:
            channel_id = await service.modlog_channel(event.guild_id)
            if channel_id is None:
                return None
            channel = self.bot.get_partial_messageable(channel_id, guild_id=event.guild_id)
            return await channel.send(render(event), allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            if error.code in CHANNEL_GONE_CODES and channel_id is not None:
                await self._channel_gone(service, event.guild_id, channel_id, error)
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
        self,
        service: QuotaService,
        guild_id: int,
        channel_id: int,
        error: discord.HTTPException,
    ) -> None:
        """Turn the log off once, instead of failing (and warning) on every later event."""
        if await service.forget_modlog_channel(guild_id, channel_id):
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
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def setup(bot: JamBot) -> None:
    await bot.add_cog(ModLog(bot))
