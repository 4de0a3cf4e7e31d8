"""The moderated shared quota: reserve credit before a job, commit or refund it after.

Lifecycle of one job's credit (one row in quota_reservations, keyed by the job id):

    reserve ──▶ reserved ──commit──▶ committed      (the provider accepted: credit spent)
                    └─────refund──▶ refunded       (ended before the provider charged)

Independently, a reservation is *in flight* from reserve until `finish(job_id)` (the job's
generation ended: completed, failed, timed out...) or `refund`. The member's in-flight limit
counts those rows. `finish` never changes whether the credit is spent. A job whose submission
outcome is unknown stays "reserved" and keeps counting (conservative), unless
`release_orphans` finds no job for it.

`reserve` is one IMMEDIATE transaction on the database thread: it checks, in order, a bar on
the member, a paused server, the channel, the DM policy, the prompt block list, then the
member's in-flight and per-window limits (role overrides, exempt roles, moderator-granted extra
credit), the server's daily pool and the bot-wide daily cap, and inserts the row. Concurrent
reservations therefore can never over-grant. A retry with the same job id returns the same
Grant without taking more credit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any

from bot.quota import limits
from bot.quota.batching import TransactionBatcher
from bot.quota.cache import LoadCache
from bot.quota.limits import (
    MAX_EXTRA_GRANT,
    MAX_IN_FLIGHT,
    MAX_PER_WINDOW,
    MAX_POOL,
    MAX_WINDOW_SECONDS,
    MIN_WINDOW_SECONDS,
)
from bot.quota.models import (
    DM_GUILD_ID,
    BlockedTerm,
    Grant,
    GuildQuotaSettings,
    ModEvent,
    PoolUsage,
    QuotaDefaults,
    QuotaInputError,
    Refusal,
    Remaining,
    Requester,
    RoleOverride,
)
from bot.quota.prompt_policy import PromptPolicy, validate_regex, validate_word
from bot.quota.timeutil import (
    format_hhmm,
    next_pool_reset,
    next_utc_midnight,
    pool_key,
    utc_day,
)
from bot.store import quota as q
from bot.store.database import Database

__all__ = [
    "Grant",
    "ModEvent",
    "QuotaDefaults",
    "QuotaInputError",
    "QuotaService",
    "Refusal",
    "Remaining",
    "Requester",
]

log = logging.getLogger(__name__)

EventCallback = Callable[[ModEvent], Awaitable[None]]

MAX_PROMPT_IN_LOG = 300


def _clip(text: str, limit: int = MAX_PROMPT_IN_LOG) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class QuotaService:
    """Limits and credit for every server. Satisfies the job engine's CreditLedger."""

    def __init__(
        self, db: Database, defaults: QuotaDefaults, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.defaults = defaults
        self.store = q.QuotaStore(db)
        self._clock = clock
        self._listeners: list[EventCallback] = []
        self._batcher = TransactionBatcher(db)
        self._background: set[asyncio.Task[None]] = set()
        # Read on every reservation / every mod-log event, changed rarely: cached per server.
        self._policies: LoadCache[int, PromptPolicy] = LoadCache(self._load_policy)
        self._modlog_channels: LoadCache[int, int | None] = LoadCache(self._load_modlog_channel)

    # -- events --------------------------------------------------------------------------------

    def add_event_listener(self, callback: EventCallback) -> None:
        self._listeners.append(callback)

    def remove_event_listener(self, callback: EventCallback) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def _announce(
        self, guild_id: int, text: str, *, kind: str, by: int, user_id: int | None = None
    ) -> None:
        """Tell the mod log about a moderator's action."""
        await self._emit([ModEvent(guild_id, text, kind=kind, user_id=user_id, actor_id=by)])

    async def _emit(self, events: list[ModEvent]) -> None:
        for event in events:
            for callback in list(self._listeners):
                try:
                    await callback(event)
                except Exception:
                    log.exception("mod-log listener failed for a %s event", event.kind)

    # -- the hot path --------------------------------------------------------------------------

    async def reserve(self, requester: Requester, job_id: str, prompt: str) -> Grant | Refusal:
        """Reserve one generation's credit under `job_id`, or say politely why not."""
        now = self._clock()
        hit = None
        if requester.guild_id is not None and (policy := await self._policy(requester.guild_id)):
            # In a worker thread, outside the write transaction: RE2 releases the GIL.
            hit = await asyncio.to_thread(policy.match, prompt)

        def work(conn: sqlite3.Connection) -> tuple[Grant | Refusal, list[ModEvent]]:
            return self._reserve_in(conn, requester, job_id, prompt, now, hit)

        try:
            outcome, events = await self._batcher.run(work)
        except asyncio.CancelledError:
            # The caller gave up, perhaps just after the row was written: give the credit back
            # (a no-op when nothing was reserved). Queued behind the reservation, so it sees it.
            self._spawn(self.refund(job_id), name=f"quota-refund-{job_id}")
            raise
        await self._emit(events)
        return outcome

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=error)

    async def wait_idle(self) -> None:
        """Wait for background refunds (after cancelled reservations) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _reserve_in(
        self,
        conn: sqlite3.Connection,
        requester: Requester,
        job_id: str,
        prompt: str,
        now: float,
        hit: BlockedTerm | None,
    ) -> tuple[Grant | Refusal, list[ModEvent]]:
        d = self.defaults
        gid = DM_GUILD_ID if requester.guild_id is None else requester.guild_id
        uid = requester.user_id

        existing = q.get_reservation(conn, job_id)
        if existing is not None:
            if existing.user_id != uid or existing.guild_id != gid:
                raise ValueError(f"job id {job_id} is already reserved for someone else")
            if existing.state == q.REFUNDED:
                return limits.refuse_reused_job(), []
            return Grant(job_id, existing.member_remaining, existing.pool_remaining), []

        member = None
        pool_size = reset_minute = None
        if requester.guild_id is None:
            if d.dm_policy == "off":
                return limits.refuse_dm_off(), []
            per_window, window, in_flight_cap = (
                d.member_limit_per_window,
                d.member_window_seconds,
                d.member_max_in_flight,
            )
            mine = limits.member_limits(per_window, in_flight_cap, (), frozenset())
        else:
            guild = q.guild_settings_row(conn, gid)
            member = q.member_row(conn, gid, uid)
            if member is not None and member["barred"]:
                return limits.refuse_barred(), []
            if guild is not None and guild["paused"]:
                return limits.refuse_paused(), []
            if (
                guild is not None
                and guild["channels_restricted"]
                and not requester.is_moderator
                and not q.channel_allowed(conn, gid, requester.channel_id)
            ):
                return limits.refuse_channel(), []
            if hit is not None:
                event = ModEvent(
                    gid,
                    f"Blocked a prompt from member {uid} in channel {requester.channel_id} "
                    f'(block-list {hit.kind} "{hit.pattern}"); nothing was charged. '
                    f"Prompt: {_clip(prompt)}",
                    kind="blocked_prompt",
                    user_id=uid,
                )
                return limits.refuse_blocked_prompt(), [event]
            per_window = _setting(guild, "member_limit", d.member_limit_per_window)
            window = _setting(guild, "window_seconds", d.member_window_seconds)
            in_flight_cap = _setting(guild, "max_in_flight", d.member_max_in_flight)
            pool_size = _setting(guild, "daily_pool", d.guild_daily_pool)
            reset_minute = _setting(guild, "reset_minute", d.guild_reset_minute)
            overrides = q.role_overrides(conn, gid) if requester.role_ids else []
            mine = limits.member_limits(per_window, in_flight_cap, overrides, requester.role_ids)

        used_extra = False
        member_remaining: int | None = None
        if not mine.exempt:
            if q.in_flight_count(conn, gid, uid, now - d.in_flight_expiry_seconds) >= (
                mine.max_in_flight
            ):
                return limits.refuse_in_flight(mine.max_in_flight), []
            if member is None and requester.guild_id is None:
                member = q.member_row(conn, gid, uid)
            reset_at = float(member["window_reset_at"]) if member is not None else 0.0
            extra = int(member["extra_credit"]) if member is not None else 0
            times = q.window_times(conn, gid, uid, max(now - window, reset_at))
            if len(times) >= mine.per_window:
                if extra <= 0:
                    retry = limits.window_retry_at(times, mine.per_window, window)
                    return limits.refuse_window(mine.per_window, window, retry), []
                used_extra = True
                member_remaining = extra - 1
            else:
                member_remaining = mine.per_window - len(times) - 1 + extra

        period = None
        pool_remaining: int | None = None
        if pool_size is not None and reset_minute is not None:
            period = pool_key(now, reset_minute)
            used = q.counter(conn, q.GUILD_SCOPE, gid, period)
            if used >= pool_size:
                return limits.refuse_pool(
                    pool_size, reset_minute, next_pool_reset(now, reset_minute)
                ), []
            pool_remaining = pool_size - used - 1

        day = utc_day(now)
        if q.counter(conn, q.BOT_SCOPE, 0, day) >= d.bot_daily_cap:
            return limits.refuse_bot_cap(next_utc_midnight(now)), []

        q.insert_reservation(
            conn,
            q.Reservation(
                job_id=job_id,
                guild_id=gid,
                user_id=uid,
                channel_id=requester.channel_id,
                state=q.RESERVED,
                in_flight=True,
                counts_member=not mine.exempt,
                used_extra=used_extra,
                pool_period=period,
                bot_day=day,
                member_remaining=member_remaining,
                pool_remaining=pool_remaining,
                created_at=now,
                updated_at=now,
            ),
        )
        if period is not None:
            q.bump_counter(conn, q.GUILD_SCOPE, gid, period, 1)
        q.bump_counter(conn, q.BOT_SCOPE, 0, day, 1)
        if used_extra:
            q.add_extra_credit(conn, gid, uid, -1)
        return Grant(job_id, member_remaining, pool_remaining), []

    async def commit(self, job_id: str) -> None:
        """The provider accepted the job: its credit is spent. Idempotent."""
        now = self._clock()
        await self._batcher.run(lambda conn: q.commit_reservation(conn, job_id, now))

    async def refund(self, job_id: str) -> None:
        """Give back a reservation's credit (only while still reserved). Idempotent."""
        now = self._clock()
        await self._batcher.run(lambda conn: q.refund_reservation(conn, job_id, now))

    async def finish(self, job_id: str) -> None:
        """The job's generation ended (completed or final): it no longer counts as in flight.

        Does not change whether the credit is spent. Idempotent.
        """
        now = self._clock()
        await self._batcher.run(lambda conn: q.finish_reservation(conn, job_id, now))

    async def release_orphans(self, live_job_ids: Collection[str], *, older_than: float) -> int:
        """Refund reservations older than `older_than` seconds whose job is not in
        `live_job_ids` (pass every job id that has a row in the jobs table): a crash between
        reserve and enqueue must not lose credit. Also ends in-flight status for such rows.
        Returns how many reservations were refunded."""
        now = self._clock()
        live = set(live_job_ids)
        cutoff = now - older_than

        def work(conn: sqlite3.Connection) -> int:
            refunded = 0
            for job_id in q.stale_reserved(conn, cutoff):
                if job_id not in live and q.refund_reservation(conn, job_id, now) is not None:
                    refunded += 1
            for job_id in q.stale_in_flight(conn, cutoff):
                if job_id not in live:
                    q.finish_reservation(conn, job_id, now)
            return refunded

        refunded = await self.db.run_in_transaction(work)
        if refunded:
            log.info("released %d orphaned quota reservations", refunded)
        return refunded

    # -- reading -------------------------------------------------------------------------------

    async def remaining(self, requester: Requester) -> Remaining:
        """What the requester has left: their own allowance, the server pool, the next reset."""
        now = self._clock()
        return await self.db.run_in_transaction(
            lambda conn: self._remaining_in(conn, requester, now)
        )

    def _remaining_in(
        self, conn: sqlite3.Connection, requester: Requester, now: float
    ) -> Remaining:
        d = self.defaults
        gid = DM_GUILD_ID if requester.guild_id is None else requester.guild_id
        guild = None if requester.guild_id is None else q.guild_settings_row(conn, gid)
        per_window = _setting(guild, "member_limit", d.member_limit_per_window)
        window = _setting(guild, "window_seconds", d.member_window_seconds)
        in_flight_cap = _setting(guild, "max_in_flight", d.member_max_in_flight)
        overrides = q.role_overrides(conn, gid) if requester.role_ids and requester.guild_id else []
        mine = limits.member_limits(per_window, in_flight_cap, overrides, requester.role_ids)
        member = q.member_row(conn, gid, requester.user_id)
        member_remaining: int | None = None
        slot_at: float | None = None
        times: list[float] = []
        if not mine.exempt:
            reset_at = float(member["window_reset_at"]) if member is not None else 0.0
            extra = int(member["extra_credit"]) if member is not None else 0
            times = q.window_times(conn, gid, requester.user_id, max(now - window, reset_at))
            member_remaining = max(mine.per_window - len(times), 0) + extra
            if member_remaining == 0:
                slot_at = limits.window_retry_at(times, mine.per_window, window)
        in_flight = q.in_flight_count(
            conn, gid, requester.user_id, now - d.in_flight_expiry_seconds
        )
        if requester.guild_id is None:
            first_free = times[0] + window if times else None
            return Remaining(member_remaining, None, first_free, slot_at, in_flight)
        pool_size = _setting(guild, "daily_pool", d.guild_daily_pool)
        reset_minute = _setting(guild, "reset_minute", d.guild_reset_minute)
        used = q.counter(conn, q.GUILD_SCOPE, gid, pool_key(now, reset_minute))
        return Remaining(
            member_remaining,
            max(pool_size - used, 0),
            next_pool_reset(now, reset_minute),
            slot_at,
            in_flight,
        )

    async def settings(self, guild_id: int) -> GuildQuotaSettings:
        d = self.defaults
        row = await self.store.guild_row(guild_id)
        overridden = frozenset(
            name for name in q.SETTING_COLUMNS if row is not None and row[name] is not None
        )
        return GuildQuotaSettings(
            guild_id=guild_id,
            daily_pool=_setting(row, "daily_pool", d.guild_daily_pool),
            reset_minute=_setting(row, "reset_minute", d.guild_reset_minute),
            member_limit=_setting(row, "member_limit", d.member_limit_per_window),
            window_seconds=_setting(row, "window_seconds", d.member_window_seconds),
            max_in_flight=_setting(row, "max_in_flight", d.member_max_in_flight),
            paused=bool(row["paused"]) if row is not None else False,
            allowed_channel_ids=await self.store.allowed_channels(guild_id),
            modlog_channel_id=row["modlog_channel_id"] if row is not None else None,
            overridden=overridden,
        )

    async def pool_usage(self, guild_id: int) -> PoolUsage:
        now = self._clock()
        settings = await self.settings(guild_id)
        period = pool_key(now, settings.reset_minute)
        used = await self.store.counter(q.GUILD_SCOPE, guild_id, period)
        return PoolUsage(
            used=used,
            size=settings.daily_pool,
            period_start=float(period),
            next_reset_at=next_pool_reset(now, settings.reset_minute),
        )

    async def bot_usage_today(self) -> int:
        return await self.store.counter(q.BOT_SCOPE, 0, utc_day(self._clock()))

    async def leaderboard(self, guild_id: int, *, limit: int = 10) -> list[tuple[int, int]]:
        """Top members by generations in the current pool period (reserved or spent)."""
        usage = await self.pool_usage(guild_id)
        return await self.store.leaderboard(guild_id, usage.period_start, limit)

    async def role_overrides(self, guild_id: int) -> list[RoleOverride]:
        return await self.store.role_overrides(guild_id)

    async def barred_members(self, guild_id: int) -> list[int]:
        return await self.store.barred_members(guild_id)

    async def modlog_channel(self, guild_id: int) -> int | None:
        """The server's mod-log channel, or None when the log is off (cached per server)."""
        return await self._modlog_channels.get(guild_id)

    async def _load_modlog_channel(self, guild_id: int) -> int | None:
        row = await self.store.guild_row(guild_id)
        return (
            None
            if row is None or row["modlog_channel_id"] is None
            else int(row["modlog_channel_id"])
        )

    async def forget_modlog_channel(self, guild_id: int, channel_id: int) -> bool:
        """The mod-log channel is gone (deleted, or the bot lost access): turn the log off, if
        it still points there. Returns whether it did, so the caller warns once. Not announced:
        there is no mod log left to tell."""
        try:
            return await self.store.forget_modlog_channel(guild_id, channel_id, self._clock())
        finally:
            self._modlog_channels.invalidate(guild_id)

    async def member_extra_credit(self, guild_id: int, user_id: int) -> int:
        row = await self.store.member_row(guild_id, user_id)
        return 0 if row is None else int(row["extra_credit"])

    async def is_barred(self, guild_id: int, user_id: int) -> bool:
        row = await self.store.member_row(guild_id, user_id)
        return row is not None and bool(row["barred"])

    # -- the generation record -----------------------------------------------------------------

    async def note_generation(
        self,
        *,
        guild_id: int,
        user_id: int,
        prompt: str,
        job_id: str,
        outcome: str,
        link: str | None,
    ) -> None:
        """Record a generation's outcome and tell the server's mod log (not for DMs)."""
        await self._record_generation(
            finish=False,
            guild_id=guild_id,
            user_id=user_id,
            prompt=prompt,
            job_id=job_id,
            outcome=outcome,
            link=link,
        )

    async def finish_and_note(
        self,
        *,
        guild_id: int,
        user_id: int,
        prompt: str,
        job_id: str,
        outcome: str,
        link: str | None,
    ) -> None:
        """`finish(job_id)` and `note_generation(...)` in one transaction: what a deliverer
        calls once the result is posted (or the failure reported)."""
        await self._record_generation(
            finish=True,
            guild_id=guild_id,
            user_id=user_id,
            prompt=prompt,
            job_id=job_id,
            outcome=outcome,
            link=link,
        )

    async def _record_generation(
        self,
        *,
        finish: bool,
        guild_id: int,
        user_id: int,
        prompt: str,
        job_id: str,
        outcome: str,
        link: str | None,
    ) -> None:
        now = self._clock()

        def work(conn: sqlite3.Connection) -> None:
            if finish:
                q.finish_reservation(conn, job_id, now)
            q.log_generation(
                conn,
                job_id=job_id,
                guild_id=guild_id,
                user_id=user_id,
                prompt=prompt,
                outcome=outcome,
                link=link,
                now=now,
            )

        await self._batcher.run(work)
        if guild_id == DM_GUILD_ID:
            return
        text = f"Generation {job_id} for member {user_id}: {outcome}. Prompt: {_clip(prompt)}"
        await self._emit(
            [ModEvent(guild_id, text, kind="generation", user_id=user_id, link=link or None)]
        )

    # -- moderator actions (each one is announced to the mod log) ------------------------------

    async def _set(self, guild_id: int, values: dict[str, int | None], by: int, text: str) -> None:
        await self.store.set_guild_columns(guild_id, values, self._clock())
        await self._announce(guild_id, text, kind="settings", by=by)

    async def set_pool(
        self,
        guild_id: int,
        *,
        by: int,
        size: int | None = None,
        reset_minute: int | None = None,
    ) -> GuildQuotaSettings:
        """Set the daily pool size and/or reset time (minutes after 00:00 UTC)."""
        values: dict[str, int | None] = {}
        parts = []
        if size is not None:
            if not 0 <= size <= MAX_POOL:
                raise QuotaInputError(f"The pool size must be between 0 and {MAX_POOL:,}.")
            values["daily_pool"] = size
            parts.append(f"daily pool to {size}")
        if reset_minute is not None:
            if not 0 <= reset_minute < 1440:
                raise QuotaInputError("The reset time must be a time of day, HH:MM in UTC.")
            values["reset_minute"] = reset_minute
            parts.append(f"reset time to {format_hhmm(reset_minute)} UTC")
        if not values:
            raise QuotaInputError("Please give a pool size, a reset time, or both.")
        await self._set(guild_id, values, by, f"Moderator {by} set the {' and '.join(parts)}.")
        return await self.settings(guild_id)

    async def set_member_limits(
        self,
        guild_id: int,
        *,
        by: int,
        per_window: int | None = None,
        window_seconds: int | None = None,
        max_in_flight: int | None = None,
    ) -> GuildQuotaSettings:
        values: dict[str, int | None] = {}
        parts = []
        if per_window is not None:
            values["member_limit"] = _check_per_window(per_window)
            parts.append(f"{per_window} per window")
        if window_seconds is not None:
            if not MIN_WINDOW_SECONDS <= window_seconds <= MAX_WINDOW_SECONDS:
                raise QuotaInputError("The window must be between 1 minute and 30 days.")
            values["window_seconds"] = window_seconds
            parts.append(f"a window of {window_seconds // 60} minutes")
        if max_in_flight is not None:
            values["max_in_flight"] = _check_in_flight(max_in_flight)
            parts.append(f"{max_in_flight} at once")
        if not values:
            raise QuotaInputError("Please give at least one of the member limits to change.")
        await self._set(
            guild_id, values, by, f"Moderator {by} set the member limits: {', '.join(parts)}."
        )
        return await self.settings(guild_id)

    async def reset_settings(self, guild_id: int, *, by: int) -> GuildQuotaSettings:
        """Every pool and member-limit setting back to the bot's defaults."""
        await self._set(
            guild_id,
            dict.fromkeys(sorted(q.SETTING_COLUMNS)),
            by,
            f"Moderator {by} put the pool and member limits back to the defaults.",
        )
        return await self.settings(guild_id)

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
            raise QuotaInputError(
                "Please give a limit per window, songs at once, or make the role exempt."
            )
        if per_window is not None:
            _check_per_window(per_window)
        if max_in_flight is not None:
            _check_in_flight(max_in_flight)
        override = RoleOverride(role_id, per_window, max_in_flight, exempt)
        await self.store.set_role_override(guild_id, override)
        if exempt:
            what = "exempt from member limits (still counted in the server pool)"
        else:
            what = "limited to " + override.limits_text()
        await self._announce(
            guild_id, f"Moderator {by} made role {role_id} {what}.", kind="settings", by=by
        )
        return override

    async def clear_role_override(self, guild_id: int, role_id: int, *, by: int) -> bool:
        removed = await self.store.clear_role_override(guild_id, role_id)
        if removed:
            await self._announce(
                guild_id,
                f"Moderator {by} cleared the override for role {role_id}.",
                kind="settings",
                by=by,
            )
        return removed

    async def grant_extra(self, guild_id: int, user_id: int, extra: int, *, by: int) -> int:
        """Give a member `extra` generations on top of their window allowance; returns their
        new extra balance."""
        if not 1 <= extra <= MAX_EXTRA_GRANT:
            raise QuotaInputError(f"Extra credit must be between 1 and {MAX_EXTRA_GRANT}.")
        balance = await self.store.add_extra_credit(guild_id, user_id, extra)
        await self._announce(
            guild_id,
            f"Moderator {by} granted member {user_id} {extra} extra "
            f"generation{'s' if extra != 1 else ''} (balance {balance}).",
            kind="grant",
            by=by,
            user_id=user_id,
        )
        return balance

    async def reset_member(self, guild_id: int, user_id: int, *, by: int) -> None:
        """Forget a member's usage in their current window (the server pool is unchanged)."""
        await self.store.reset_member_window(guild_id, user_id, self._clock())
        await self._announce(
            guild_id,
            f"Moderator {by} reset the usage window of member {user_id}.",
            kind="reset",
            by=by,
            user_id=user_id,
        )

    async def set_paused(self, guild_id: int, paused: bool, *, by: int) -> None:
        await self._set(
            guild_id,
            {"paused": int(paused)},
            by,
            f"Moderator {by} {'paused' if paused else 'resumed'} composing in this server.",
        )

    async def set_barred(self, guild_id: int, user_id: int, barred: bool, *, by: int) -> bool:
        """Bar or unbar a member; returns whether that changed anything."""
        changed = await self.store.set_barred(guild_id, user_id, barred)
        if changed:
            await self._announce(
                guild_id,
                f"Moderator {by} {'barred' if barred else 'unbarred'} member {user_id}.",
                kind="bar" if barred else "unbar",
                by=by,
                user_id=user_id,
            )
        return changed

    async def set_allowed_channels(
        self, guild_id: int, channel_ids: Collection[int], *, by: int
    ) -> None:
        """Restrict composing to `channel_ids`; an empty collection allows every channel."""
        if len(set(channel_ids)) > 100:
            raise QuotaInputError("Please choose at most 100 channels.")
        await self.store.set_allowed_channels(guild_id, channel_ids, self._clock())
        if channel_ids:
            listed = ", ".join(str(c) for c in sorted(set(channel_ids)))
            text = f"Moderator {by} restricted composing to channels {listed}."
        else:
            text = f"Moderator {by} allowed composing in every channel."
        await self._announce(guild_id, text, kind="settings", by=by)

    async def set_modlog_channel(self, guild_id: int, channel_id: int | None, *, by: int) -> None:
        try:
            await self.store.set_guild_columns(
                guild_id, {"modlog_channel_id": channel_id}, self._clock()
            )
        finally:
            self._modlog_channels.invalidate(guild_id)
        text = (
            f"Moderator {by} set the mod log channel to {channel_id}."
            if channel_id is not None
            else f"Moderator {by} turned the mod log off."
        )
        await self._announce(guild_id, text, kind="settings", by=by)

    # -- the block list ------------------------------------------------------------------------

    async def _policy(self, guild_id: int) -> PromptPolicy:
        return await self._policies.get(guild_id)

    async def _load_policy(self, guild_id: int) -> PromptPolicy:
        return await asyncio.to_thread(PromptPolicy, await self.store.blocked_terms(guild_id))

    async def blocked_terms(self, guild_id: int) -> list[BlockedTerm]:
        return await self.store.blocked_terms(guild_id)

    async def add_blocked_term(
        self, guild_id: int, text: str, *, regex: bool = False, by: int
    ) -> BlockedTerm:
        """Validate and add a word/phrase or regular expression; QuotaInputError explains
        a bad one. Adding an entry that is already there is not an error."""
        existing = await self.store.blocked_terms(guild_id)
        if regex:
            await asyncio.to_thread(validate_regex, text, existing)  # probes take milliseconds
            term = BlockedTerm("regex", text)
        else:
            term = BlockedTerm("word", validate_word(text))
        if len(existing) >= 500:
            raise QuotaInputError("The block list is full (500 entries); remove some first.")
        try:
            added = await self.store.add_blocked_term(guild_id, term, by, self._clock())
        finally:
            self._policies.invalidate(guild_id)
        if added:
            await self._announce(
                guild_id,
                f'Moderator {by} blocked the {term.kind} "{term.pattern}".',
                kind="block_list",
                by=by,
            )
        return term

    async def remove_blocked_term(
        self, guild_id: int, text: str, *, regex: bool = False, by: int
    ) -> bool:
        kind = "regex" if regex else "word"
        pattern = text if regex else " ".join(text.split())
        try:
            removed = await self.store.remove_blocked_term(guild_id, BlockedTerm(kind, pattern))
        finally:
            self._policies.invalidate(guild_id)
        if removed:
            await self._announce(
                guild_id,
                f'Moderator {by} unblocked the {kind} "{pattern}".',
                kind="block_list",
                by=by,
            )
        return removed


def _check_per_window(value: int) -> int:
    """The same bounds for a server's member limit and a role's (the /quota options agree)."""
    if not 0 <= value <= MAX_PER_WINDOW:
        raise QuotaInputError(f"The limit per window must be between 0 and {MAX_PER_WINDOW:,}.")
    return value


def _check_in_flight(value: int) -> int:
    if not 1 <= value <= MAX_IN_FLIGHT:
        raise QuotaInputError(f"Songs at once must be between 1 and {MAX_IN_FLIGHT}.")
    return value


def _setting(row: sqlite3.Row | None, name: str, default: int) -> int:
    if row is None or row[name] is None:
        return default
    return int(row[name])
