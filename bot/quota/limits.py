"""The limits in numbers: the bounds moderators may set, and one resolver of a member's limits.

Role overrides: a member with override roles gets the most generous of those overrides (the
server's member limits apply only where no role of theirs sets that limit). An exempt role
waives the member limits (per window and in flight) entirely; exempt members still draw from
the server pool and the bot-wide cap, which protect the shared budget and the API account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.quota.models import GuildQuotaRecord, QuotaDefaults, RoleOverride

# The bounds of what moderators may set. /quota declares its options with the same numbers, so
# Discord refuses an out-of-range value before the bot sees it; the quota checks again.
MAX_POOL = 1_000_000
MAX_PER_WINDOW = 10_000
MAX_IN_FLIGHT = 100
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 30 * 86400
MAX_EXTRA_GRANT = 1000
MAX_ALLOWED_CHANNELS = 100
MAX_BLOCKED_TERMS = 500


@dataclass(frozen=True)
class ServerLimits:
    """A server's effective limit settings: its stored overrides over the bot's defaults."""

    daily_pool: int
    reset_minute: int
    member_limit: int
    window_seconds: int
    max_in_flight: int
    overridden: frozenset[str]  # the names set for this server (the rest are defaults)


@dataclass(frozen=True)
class MemberLimits:
    exempt: bool
    per_window: int
    max_in_flight: int


def server_limits(defaults: QuotaDefaults, record: GuildQuotaRecord | None) -> ServerLimits:
    """The one place a stored setting falls back to its default."""

    def pick(stored: int | None, default: int) -> int:
        return default if stored is None else stored

    r = record or GuildQuotaRecord(guild_id=0)
    overridden = frozenset(
        name
        for name, value in (
            ("daily_pool", r.daily_pool),
            ("reset_minute", r.reset_minute),
            ("member_limit", r.member_limit),
            ("window_seconds", r.window_seconds),
            ("max_in_flight", r.max_in_flight),
        )
        if value is not None
    )
    return ServerLimits(
        daily_pool=pick(r.daily_pool, defaults.guild_daily_pool),
        reset_minute=pick(r.reset_minute, defaults.guild_reset_minute),
        member_limit=pick(r.member_limit, defaults.member_limit_per_window),
        window_seconds=pick(r.window_seconds, defaults.member_window_seconds),
        max_in_flight=pick(r.max_in_flight, defaults.member_max_in_flight),
        overridden=overridden,
    )


def member_limits(
    server: ServerLimits, overrides: Iterable[RoleOverride], role_ids: frozenset[int]
) -> MemberLimits:
    """The member's limits given the server's and the overrides of the roles they hold."""
    mine = [o for o in overrides if o.role_id in role_ids]
    if any(o.exempt for o in mine):
        return MemberLimits(
            exempt=True, per_window=server.member_limit, max_in_flight=server.max_in_flight
        )
    limits = [o.member_limit for o in mine if o.member_limit is not None]
    flights = [o.max_in_flight for o in mine if o.max_in_flight is not None]
    return MemberLimits(
        exempt=False,
        per_window=max(limits) if limits else server.member_limit,
        max_in_flight=max(flights) if flights else server.max_in_flight,
    )


def window_retry_at(
    counted_times: Iterable[float], allowance: int, window_seconds: int
) -> float | None:
    """When the window usage drops below `allowance` (times ascending, all inside the window);
    None when it never will (an allowance of 0, or nothing used yet)."""
    times = list(counted_times)
    if allowance <= 0 or not times:
        return None
    over = len(times) - allowance
    return times[max(over, 0)] + window_seconds
