"""What members and moderators read about the quota. Plain reads: no write lock is taken."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.quota import limits
from bot.quota.caches import BlockLists, ModlogChannels
from bot.quota.models import (
    BlockedTerm,
    GuildQuotaSettings,
    PoolUsage,
    QuotaDefaults,
    Remaining,
    Requester,
    RoleOverride,
    UsageQuery,
)
from bot.quota.timeutil import next_pool_reset, pool_key, utc_day
from bot.store.base import QuotaRepository


class QuotaQueries:
    def __init__(
        self,
        store: QuotaRepository,
        defaults: QuotaDefaults,
        *,
        block_lists: BlockLists,
        modlog_channels: ModlogChannels,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._defaults = defaults
        self._block_lists = block_lists
        self._modlog_channels = modlog_channels
        self._clock = clock

    async def remaining(self, requester: Requester) -> Remaining:
        """What the requester has left: their own allowance, the server pool, the next reset."""
        now = self._clock()
        gid, uid = requester.scope_id, requester.user_id
        in_dm = requester.guild_id is None
        guild = None if in_dm else await self._store.guild(gid)
        server = limits.server_limits(self._defaults, guild)
        overrides = await self._store.role_overrides(gid) if requester.role_ids else []
        mine = limits.member_limits(server, overrides, requester.role_ids)
        member = await self._store.member(gid, uid)
        usage = await self._store.usage(
            gid,
            uid,
            UsageQuery(
                in_flight_since=now - self._defaults.in_flight_expiry_seconds,
                window_since=max(now - server.window_seconds, member.window_reset_at),
                pool_period=None if in_dm else pool_key(now, server.reset_minute),
                bot_day=utc_day(now),
            ),
        )
        member_remaining: int | None = None
        slot_at: float | None = None
        times = usage.window_times
        if not mine.exempt:
            member_remaining = max(mine.per_window - len(times), 0) + member.extra_credit
            if member_remaining == 0:
                slot_at = limits.window_retry_at(times, mine.per_window, server.window_seconds)
        if in_dm:
            first_free = times[0] + server.window_seconds if times else None
            return Remaining(
                member_remaining,
                None,
                first_free,
                slot_at,
                usage.in_flight,
                extra_credit=member.extra_credit,
            )
        return Remaining(
            member_remaining,
            max(server.daily_pool - usage.pool_used, 0),
            next_pool_reset(now, server.reset_minute),
            slot_at,
            usage.in_flight,
            extra_credit=member.extra_credit,
            paused=guild is not None and guild.paused,
            barred=member.barred,
        )

    async def settings(self, guild_id: int) -> GuildQuotaSettings:
        record = await self._store.guild(guild_id)
        server = limits.server_limits(self._defaults, record)
        return GuildQuotaSettings(
            guild_id=guild_id,
            daily_pool=server.daily_pool,
            reset_minute=server.reset_minute,
            member_limit=server.member_limit,
            window_seconds=server.window_seconds,
            max_in_flight=server.max_in_flight,
            paused=record is not None and record.paused,
            allowed_channel_ids=await self._store.allowed_channels(guild_id),
            modlog_channel_id=None if record is None else record.modlog_channel_id,
            overridden=server.overridden,
        )

    async def pool_usage(self, guild_id: int) -> PoolUsage:
        now = self._clock()
        server = limits.server_limits(self._defaults, await self._store.guild(guild_id))
        period = pool_key(now, server.reset_minute)
        return PoolUsage(
            used=await self._store.pool_used(guild_id, period),
            size=server.daily_pool,
            period_start=float(period),
            next_reset_at=next_pool_reset(now, server.reset_minute),
        )

    async def leaderboard(self, guild_id: int, *, limit: int = 10) -> list[tuple[int, int]]:
        """Top members by pieces in the current pool period (reserved or spent)."""
        usage = await self.pool_usage(guild_id)
        return await self._store.leaderboard(guild_id, usage.period_start, limit)

    async def role_overrides(self, guild_id: int) -> list[RoleOverride]:
        return await self._store.role_overrides(guild_id)

    async def barred_members(self, guild_id: int) -> list[int]:
        return await self._store.barred_members(guild_id)

    async def blocked_terms(self, guild_id: int) -> list[BlockedTerm]:
        return list((await self._block_lists.policy(guild_id)).terms)

    async def modlog_channel(self, guild_id: int) -> int | None:
        """The server's mod-log channel, or None when the log is off (cached per server)."""
        return await self._modlog_channels.channel(guild_id)
