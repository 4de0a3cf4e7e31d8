"""The reservation rule, in the order its limits are checked. Pure: the store reads, this decides.

A reservation is decided in two steps inside one transaction of the store:

1. `plan(context)`: with the stored settings, member record and block-list hit in hand, either
   decide at once (a retry of a known job, a barred member, a paused server, a closed channel,
   DMs turned off, a blocked prompt) or say what must be counted;
2. `decide(context, query, usage)`: with those counts, grant or refuse.

Order: barred → paused → channel → DM policy → block list → in flight → window (moderator-granted
extra credit after the window allowance) → server pool → bot-wide cap. Every backend calls the
same two functions, so the rule has one definition whatever the database.
"""

from __future__ import annotations

from bot.quota import limits
from bot.quota.models import (
    Grant,
    Limit,
    QuotaDefaults,
    Refusal,
    Reservation,
    ReservationState,
    ReserveContext,
    ReserveDecision,
    Usage,
    UsageQuery,
)
from bot.quota.timeutil import next_pool_reset, next_utc_midnight, pool_key, utc_day


class ReservationRules:
    def __init__(self, defaults: QuotaDefaults) -> None:
        self.defaults = defaults

    def plan(self, ctx: ReserveContext) -> ReserveDecision | UsageQuery:
        """Decide what needs no counting; otherwise say what to count."""
        existing = ctx.existing
        requester = ctx.requester
        if existing is not None:
            if existing.user_id != requester.user_id or existing.guild_id != requester.scope_id:
                raise ValueError(f"job id {ctx.job_id} is already reserved for someone else")
            if existing.state is ReservationState.REFUNDED:
                return ReserveDecision(Refusal(Limit.DUPLICATE_JOB))
            return ReserveDecision(
                Grant(ctx.job_id, existing.member_remaining, existing.pool_remaining)
            )
        in_dm = requester.guild_id is None
        if in_dm and self.defaults.dm_policy == "off":
            return ReserveDecision(Refusal(Limit.DM_OFF))
        if not in_dm:
            refusal = self._server_refusal(ctx)
            if refusal is not None:
                return ReserveDecision(refusal)
        server = limits.server_limits(self.defaults, None if in_dm else ctx.guild)
        mine = limits.member_limits(server, ctx.overrides, requester.role_ids)
        now = ctx.now
        return UsageQuery(
            in_flight_since=None if mine.exempt else now - self.defaults.in_flight_expiry_seconds,
            window_since=(
                None
                if mine.exempt
                else max(now - server.window_seconds, ctx.member.window_reset_at)
            ),
            pool_period=None if in_dm else pool_key(now, server.reset_minute),
            bot_day=utc_day(now),
        )

    def _server_refusal(self, ctx: ReserveContext) -> Refusal | None:
        guild = ctx.guild
        if ctx.member.barred:
            return Refusal(Limit.BARRED)
        if guild is not None and guild.paused:
            return Refusal(Limit.PAUSED)
        if (
            guild is not None
            and guild.channels_restricted
            and not ctx.requester.is_moderator
            and not ctx.channel_allowed
        ):
            return Refusal(Limit.CHANNEL)
        if ctx.blocked_term is not None:
            return Refusal(Limit.BLOCKED_PROMPT)
        return None

    def decide(self, ctx: ReserveContext, query: UsageQuery, usage: Usage) -> ReserveDecision:
        """Grant (with the row to insert) or refuse, given the counts `query` asked for."""
        requester = ctx.requester
        in_dm = requester.guild_id is None
        server = limits.server_limits(self.defaults, None if in_dm else ctx.guild)
        mine = limits.member_limits(server, ctx.overrides, requester.role_ids)
        now = ctx.now

        used_extra = False
        member_remaining: int | None = None
        if not mine.exempt:
            if usage.in_flight >= mine.max_in_flight:
                return ReserveDecision(
                    Refusal(Limit.MEMBER_IN_FLIGHT, allowance=mine.max_in_flight)
                )
            extra = ctx.member.extra_credit
            used = len(usage.window_times)
            if used >= mine.per_window:
                if extra <= 0:
                    retry = limits.window_retry_at(
                        usage.window_times, mine.per_window, server.window_seconds
                    )
                    return ReserveDecision(
                        Refusal(
                            Limit.MEMBER_WINDOW,
                            retry_at=retry,
                            allowance=mine.per_window,
                            window_seconds=server.window_seconds,
                        )
                    )
                used_extra = True
                member_remaining = extra - 1
            else:
                member_remaining = mine.per_window - used - 1 + extra

        pool_remaining: int | None = None
        if query.pool_period is not None:
            if usage.pool_used >= server.daily_pool:
                return ReserveDecision(
                    Refusal(
                        Limit.GUILD_POOL,
                        retry_at=next_pool_reset(now, server.reset_minute),
                        allowance=server.daily_pool,
                        reset_minute=server.reset_minute,
                    )
                )
            pool_remaining = server.daily_pool - usage.pool_used - 1

        if usage.bot_used >= self.defaults.bot_daily_cap:
            return ReserveDecision(Refusal(Limit.BOT_CAP, retry_at=next_utc_midnight(now)))

        reservation = Reservation(
            job_id=ctx.job_id,
            guild_id=requester.scope_id,
            user_id=requester.user_id,
            channel_id=requester.channel_id,
            state=ReservationState.RESERVED,
            in_flight=True,
            counts_member=not mine.exempt,
            used_extra=used_extra,
            pool_period=query.pool_period,
            bot_day=query.bot_day,
            member_remaining=member_remaining,
            pool_remaining=pool_remaining,
            created_at=now,
            updated_at=now,
        )
        return ReserveDecision(
            Grant(ctx.job_id, member_remaining, pool_remaining), reservation=reservation
        )
