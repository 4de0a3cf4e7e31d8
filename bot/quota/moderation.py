"""What moderators change: limits, role overrides, extra credit, bars, channels, the block list
and the mod-log channel. Each change is checked, stored, and told to the mod log as an event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

from bot.quota import limits
from bot.quota.caches import BlockLists, ModlogChannels
from bot.quota.events import (
    BarChanged,
    BlockListChanged,
    ChannelsChanged,
    ExtraGranted,
    MemberLimitsChanged,
    MemberWindowReset,
    ModEventBus,
    ModlogChanged,
    PauseChanged,
    PoolChanged,
    RoleOverrideCleared,
    RoleOverrideSet,
)
from bot.quota.limits import (
    MAX_ALLOWED_CHANNELS,
    MAX_BLOCKED_TERMS,
    MAX_EXTRA_GRANT,
    MAX_IN_FLIGHT,
    MAX_PER_WINDOW,
    MAX_POOL,
    MAX_WINDOW_SECONDS,
    MIN_WINDOW_SECONDS,
)
from bot.quota.models import (
    BlockedTerm,
    InputProblem,
    QuotaDefaults,
    QuotaInputError,
    RoleOverride,
    TermKind,
)
from bot.quota.prompt_policy import validate_regex, validate_word
from bot.quota.timeutil import pool_key
from bot.store.base import GuildChanges, QuotaRepository


class Moderation:
    def __init__(
        self,
        store: QuotaRepository,
        defaults: QuotaDefaults,
        *,
        block_lists: BlockLists,
        modlog_channels: ModlogChannels,
        events: ModEventBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._defaults = defaults
        self._block_lists = block_lists
        self._modlog_channels = modlog_channels
        self._events = events
        self._clock = clock

    async def _set(self, guild_id: int, changes: GuildChanges) -> None:
        await self._store.set_guild(guild_id, changes, now=self._clock())

    # -- limits ----------------------------------------------------------------------------------

    async def set_pool(
        self, guild_id: int, *, by: int, size: int | None = None, reset_minute: int | None = None
    ) -> int:
        """Set the daily pool size and/or reset time (minutes after 00:00 UTC). A new reset
        time starts a new period: today's usage is carried over to it (returned), so moving
        the reset does not hand out a fresh pool."""
        if size is None and reset_minute is None:
            raise QuotaInputError(InputProblem.NO_POOL_CHANGE)
        if size is not None:
            _bounded(size, 0, MAX_POOL, InputProblem.POOL_SIZE)
        if reset_minute is not None and not 0 <= reset_minute < 1440:
            raise QuotaInputError(InputProblem.RESET_TIME)
        carried = 0
        if reset_minute is not None:
            now = self._clock()
            current = limits.server_limits(self._defaults, await self._store.guild(guild_id))
            carried = await self._store.move_pool_period(
                guild_id,
                reset_minute,
                old_period=pool_key(now, current.reset_minute),
                new_period=pool_key(now, reset_minute),
                now=now,
            )
        if size is not None:
            await self._set(guild_id, {"daily_pool": size})
        await self._events.publish(PoolChanged(guild_id, by, size, reset_minute, carried))
        return carried

    async def set_member_limits(
        self,
        guild_id: int,
        *,
        by: int,
        per_window: int | None = None,
        window_seconds: int | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        changes: GuildChanges = {}
        if per_window is not None:
            changes["member_limit"] = _per_window(per_window)
        if window_seconds is not None:
            changes["window_seconds"] = _bounded(
                window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS, InputProblem.WINDOW_LENGTH
            )
        if max_in_flight is not None:
            changes["max_in_flight"] = _in_flight(max_in_flight)
        if not changes:
            raise QuotaInputError(InputProblem.NO_LIMIT_CHANGE)
        await self._set(guild_id, changes)
        await self._events.publish(
            MemberLimitsChanged(guild_id, by, per_window, window_seconds, max_in_flight)
        )

    async def set_role_override(
        self,
        guild_id: int,
        role_id: int,
        *,
        by: int,
        per_window: int | None = None,
        max_in_flight: int | None = None,
        exempt: bool = False,
    ) -> RoleOverride:
        if not exempt and per_window is None and max_in_flight is None:
            raise QuotaInputError(InputProblem.NO_ROLE_LIMIT)
        override = RoleOverride(
            role_id,
            None if per_window is None else _per_window(per_window),
            None if max_in_flight is None else _in_flight(max_in_flight),
            exempt,
        )
        await self._store.set_role_override(guild_id, override)
        await self._events.publish(RoleOverrideSet(guild_id, by, override))
        return override

    async def clear_role_override(self, guild_id: int, role_id: int, *, by: int) -> bool:
        removed = await self._store.clear_role_override(guild_id, role_id)
        if removed:
            await self._events.publish(RoleOverrideCleared(guild_id, by, role_id))
        return removed

    # -- members ---------------------------------------------------------------------------------

    async def grant_extra(self, guild_id: int, user_id: int, extra: int, *, by: int) -> int:
        """Give a member `extra` pieces on top of their window allowance; returns their new
        extra balance."""
        _bounded(extra, 1, MAX_EXTRA_GRANT, InputProblem.EXTRA_CREDIT)
        balance = await self._store.add_extra_credit(guild_id, user_id, extra)
        await self._events.publish(ExtraGranted(guild_id, by, user_id, extra, balance))
        return balance

    async def reset_member(self, guild_id: int, user_id: int, *, by: int) -> None:
        """Forget a member's usage in their current window (the server pool is unchanged)."""
        await self._store.reset_member_window(guild_id, user_id, now=self._clock())
        await self._events.publish(MemberWindowReset(guild_id, by, user_id))

    async def set_barred(self, guild_id: int, user_id: int, barred: bool, *, by: int) -> bool:
        """Bar or unbar a member; returns whether that changed anything."""
        changed = await self._store.set_barred(guild_id, user_id, barred)
        if changed:
            await self._events.publish(BarChanged(guild_id, by, user_id, barred))
        return changed

    # -- the server ------------------------------------------------------------------------------

    async def set_paused(self, guild_id: int, paused: bool, *, by: int) -> None:
        await self._set(guild_id, {"paused": paused})
        await self._events.publish(PauseChanged(guild_id, by, paused))

    async def set_allowed_channels(
        self, guild_id: int, channel_ids: Collection[int], *, by: int
    ) -> None:
        """Restrict composing to `channel_ids`; an empty collection allows every channel."""
        chosen = tuple(sorted(set(channel_ids)))
        if len(chosen) > MAX_ALLOWED_CHANNELS:
            raise QuotaInputError(InputProblem.TOO_MANY_CHANNELS, limit=MAX_ALLOWED_CHANNELS)
        await self._store.set_allowed_channels(guild_id, chosen, now=self._clock())
        await self._events.publish(ChannelsChanged(guild_id, by, chosen))

    async def set_modlog_channel(self, guild_id: int, channel_id: int | None, *, by: int) -> None:
        try:
            await self._set(guild_id, {"modlog_channel_id": channel_id})
        finally:
            self._modlog_channels.changed(guild_id)
        await self._events.publish(ModlogChanged(guild_id, by, channel_id))

    async def forget_modlog_channel(self, guild_id: int, channel_id: int) -> bool:
        """The mod-log channel is gone (deleted, or the bot lost access): turn the log off, if
        it still points there. Returns whether it did, so the caller warns once. Not announced:
        there is no mod log left to tell."""
        try:
            return await self._store.forget_modlog_channel(guild_id, channel_id, now=self._clock())
        finally:
            self._modlog_channels.changed(guild_id)

    # -- the block list --------------------------------------------------------------------------

    async def add_blocked_term(
        self, guild_id: int, text: str, *, regex: bool = False, by: int
    ) -> BlockedTerm:
        """Validate and add a word/phrase or regular expression; QuotaInputError explains
        a bad one. Adding an entry that is already there is not an error."""
        existing = await self._store.blocked_terms(guild_id)
        if regex:
            # In a worker thread: the check probes the pattern against worst-case texts.
            await asyncio.to_thread(validate_regex, text, existing)
            term = BlockedTerm(TermKind.REGEX, text)
        else:
            term = BlockedTerm(TermKind.WORD, validate_word(text))
        if len(existing) >= MAX_BLOCKED_TERMS:
            raise QuotaInputError(InputProblem.BLOCK_LIST_FULL, limit=MAX_BLOCKED_TERMS)
        try:
            added = await self._store.add_blocked_term(
                guild_id, term, added_by=by, now=self._clock()
            )
        finally:
            self._block_lists.changed(guild_id)
        if added:
            await self._events.publish(BlockListChanged(guild_id, by, term, added=True))
        return term

    async def remove_blocked_term(
        self, guild_id: int, text: str, *, regex: bool = False, by: int
    ) -> bool:
        term = (
            BlockedTerm(TermKind.REGEX, text)
            if regex
            else BlockedTerm(TermKind.WORD, " ".join(text.split()))
        )
        try:
            removed = await self._store.remove_blocked_term(guild_id, term)
        finally:
            self._block_lists.changed(guild_id)
        if removed:
            await self._events.publish(BlockListChanged(guild_id, by, term, added=False))
        return removed


def _bounded(value: int, low: int, high: int, problem: InputProblem) -> int:
    if not low <= value <= high:
        raise QuotaInputError(problem, limit=high)
    return value


def _per_window(value: int) -> int:
    """The same bounds for a server's member limit and a role's (the /quota options agree)."""
    return _bounded(value, 0, MAX_PER_WINDOW, InputProblem.PER_WINDOW)


def _in_flight(value: int) -> int:
    return _bounded(value, 1, MAX_IN_FLIGHT, InputProblem.IN_FLIGHT)
