"""The reservation rule, in the order its limits are checked. Pure: the store reads, this decides.

A reservation is decided in two steps inside one transaction of the store:

1. `plan(context)`: with the stored settings, member record and block-list hit in hand, either
   decide at once (a retry of a known job, a barred member, a paused server, a closed channel,
   DMs turned off, a blocked prompt) or say what must be counted;
2. `decide(context, query, usage)`: with those counts, grant or refuse.

Order: barred → paused → channel → DM policy → block list → in flight → window (moderator-granted
extra credit after the window allowance) → server pool → bot-wide cap. Every backend calls the
same two functions, so the rule has one definition whatever the database.

A reservation paid by a jam (`ReserveContext.funds`, issue 11) keeps every check but two: the
jam's budget replaces the server pool (the budget was taken from the pool when the jam started,
so the pool is not drawn twice), and the member's rolling window neither refuses it nor counts
it (the jam's own cap on entries per round does that job; a member's ordinary allowance is not
eaten by a jam). Barred, paused, channel, block list, in flight and the bot-wide cap apply as
for any piece. `plan_budget`/`take_budget` decide taking a jam's budget from the pool.
"""

from __future__ import annotations

from bot.quota import limits
from bot.quota.models import (
    BudgetContext,
    BudgetTaken,
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
        jam_paid = ctx.funds is not None
        return UsageQuery(
            in_flight_since=None if mine.exempt else now - self.defaults.in_flight_expiry_seconds,
            window_since=(
                None
                if mine.exempt or jam_paid
                else max(now - server.window_seconds, ctx.member.window_reset_at)
            ),
            pool_period=None if in_dm or jam_paid else pool_key(now, server.reset_minute),
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
        if not mine.exempt and usage.in_flight >= mine.max_in_flight:
            return ReserveDecision(Refusal(Limit.MEMBER_IN_FLIGHT, allowance=mine.max_in_flight))
        if ctx.funds is not None:
            return self._decide_jam_paid(ctx, query, usage)
        if not mine.exempt:
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

    def _decide_jam_paid(
        self, ctx: ReserveContext, query: UsageQuery, usage: Usage
    ) -> ReserveDecision:
        """The jam's budget instead of the window and the pool; then the bot-wide cap."""
        funds = ctx.funds
        assert funds is not None
        if funds.left <= 0:
            return ReserveDecision(Refusal(Limit.JAM_BUDGET))
        if usage.bot_used >= self.defaults.bot_daily_cap:
            return ReserveDecision(Refusal(Limit.BOT_CAP, retry_at=next_utc_midnight(ctx.now)))
        requester = ctx.requester
        reservation = Reservation(
            job_id=ctx.job_id,
            guild_id=requester.scope_id,
            user_id=requester.user_id,
            channel_id=requester.channel_id,
            state=ReservationState.RESERVED,
            in_flight=True,
            counts_member=False,  # not in the member's window: the jam's entry cap applies
            used_extra=False,
            pool_period=None,  # the pool gave the jam its budget already
            bot_day=query.bot_day,
            member_remaining=None,
            pool_remaining=None,
            created_at=ctx.now,
            updated_at=ctx.now,
            jam_id=funds.jam_id,
        )
        grant = Grant(ctx.job_id, None, None, budget_remaining=funds.left - 1)
        return ReserveDecision(grant, reservation=reservation)

    # -- a jam's budget, taken from the pool at once ---------------------------------------------

    def plan_budget(self, ctx: BudgetContext) -> Refusal | int:
        """Refuse (barred host, paused server) or name the pool period to count."""
        if ctx.host.barred:
            return Refusal(Limit.BARRED)
        if ctx.guild is not None and ctx.guild.paused:
            return Refusal(Limit.PAUSED)
        server = limits.server_limits(self.defaults, ctx.guild)
        return pool_key(ctx.now, server.reset_minute)

    def take_budget(self, ctx: BudgetContext, period: int, pool_used: int) -> BudgetTaken | Refusal:
        """Take `ctx.amount` from the pool period `period` (which has `pool_used` taken), or
        refuse with what is left."""
        server = limits.server_limits(self.defaults, ctx.guild)
        left = max(server.daily_pool - pool_used, 0)
        if ctx.amount > left:
            return Refusal(
                Limit.GUILD_POOL,
                retry_at=next_pool_reset(ctx.now, server.reset_minute),
                allowance=server.daily_pool,
                reset_minute=server.reset_minute,
                remaining=left,
            )
        return BudgetTaken(amount=ctx.amount, pool_period=period, pool_left=left - ctx.amount)
