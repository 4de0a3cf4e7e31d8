"""Pure limit arithmetic and the polite refusal texts. No I/O: the service feeds it numbers.

Role overrides: a member with override roles gets the most generous of those overrides (the
server's member limits apply only where no role of theirs sets that limit). An exempt role
waives the member limits (per window and in flight) entirely; exempt members still draw from
the server pool and the bot-wide cap, which protect the shared budget and the API account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.quota.models import Refusal, RoleOverride
from bot.quota.timeutil import format_hhmm

# The bounds of what moderators may set. /quota declares its options with the same numbers, so
# Discord refuses an out-of-range value before the bot sees it; the service checks again.
MAX_POOL = 1_000_000
MAX_PER_WINDOW = 10_000
MAX_IN_FLIGHT = 100
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 30 * 86400
MAX_EXTRA_GRANT = 1000


@dataclass(frozen=True)
class MemberLimits:
    exempt: bool
    per_window: int
    max_in_flight: int


def member_limits(
    per_window: int, max_in_flight: int, overrides: Iterable[RoleOverride], role_ids: frozenset[int]
) -> MemberLimits:
    """The member's limits given the server's and the overrides of the roles they hold."""
    mine = [o for o in overrides if o.role_id in role_ids]
    if any(o.exempt for o in mine):
        return MemberLimits(exempt=True, per_window=per_window, max_in_flight=max_in_flight)
    limits = [o.member_limit for o in mine if o.member_limit is not None]
    flights = [o.max_in_flight for o in mine if o.max_in_flight is not None]
    return MemberLimits(
        exempt=False,
        per_window=max(limits) if limits else per_window,
        max_in_flight=max(flights) if flights else max_in_flight,
    )


def window_retry_at(
    counted_times: list[float], allowance: int, window_seconds: int
) -> float | None:
    """When the window usage drops below `allowance` (times ascending, all inside the window);
    None when it never will (an allowance of 0, or nothing used yet)."""
    if allowance <= 0 or not counted_times:
        return None
    over = len(counted_times) - allowance
    return counted_times[max(over, 0)] + window_seconds


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 piece', '3 pieces' (`many` defaults to `one` + 's')."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def duration_text(seconds: int) -> str:
    """A window length in the largest whole unit: '1 hour', '90 minutes', '45 seconds'."""
    if seconds % 3600 == 0:
        return plural(seconds // 3600, "hour")
    if seconds % 60 == 0:
        return plural(seconds // 60, "minute")
    return plural(seconds, "second")


def refuse_barred() -> Refusal:
    return Refusal(
        "barred",
        "Sorry, you can't compose in this server at the moment: a moderator has paused your "
        "access. Please ask the moderators if you think this is a mistake.",
        None,
    )


def refuse_paused() -> Refusal:
    return Refusal(
        "paused",
        "Composing is paused in this server by its moderators. Please try again later.",
        None,
    )


def refuse_channel() -> Refusal:
    return Refusal(
        "channel",
        "Composing isn't enabled in this channel. Please use one of the channels the "
        "moderators have set up for it.",
        None,
    )


def refuse_dm_off() -> Refusal:
    return Refusal(
        "dm_off",
        "Composing in direct messages is turned off. Please use /compose in a server instead.",
        None,
    )


def refuse_blocked_prompt() -> Refusal:
    return Refusal(
        "blocked_prompt",
        "Sorry, that prompt contains something this server's moderators have blocked. Please "
        "rephrase it and try again; nothing was charged.",
        None,
    )


def refuse_in_flight(max_in_flight: int) -> Refusal:
    songs = plural(max_in_flight, "song")
    which = "it" if max_in_flight == 1 else "one of them"
    return Refusal(
        "member_in_flight",
        f"You already have {songs} being composed, which is the most at once. Please wait for "
        f"{which} to finish, then try again.",
        None,
    )


def refuse_window(per_window: int, window_seconds: int, retry_at: float | None) -> Refusal:
    if per_window <= 0:
        return Refusal(
            "member_window",
            "Composing is currently switched off for members in this server. Please ask the "
            "moderators if you think this is a mistake.",
            None,
        )
    used = plural(per_window, "generation", "generations")
    return Refusal(
        "member_window",
        f"You've used your {used} for this {duration_text(window_seconds)}. "
        "You can compose again once a slot frees up.",
        retry_at,
    )


def refuse_pool(pool: int, reset_minute: int, retry_at: float) -> Refusal:
    return Refusal(
        "guild_pool",
        f"This server's shared pool of {plural(pool, 'generation', 'generations')} for today "
        f"is used up. It refills at {format_hhmm(reset_minute)} UTC.",
        retry_at,
    )


def refuse_bot_cap(retry_at: float) -> Refusal:
    return Refusal(
        "bot_cap",
        "The bot has reached its daily limit across all servers. Please try again after "
        "midnight UTC.",
        retry_at,
    )


def refuse_reused_job() -> Refusal:
    return Refusal(
        "duplicate_job",
        "That request was already cancelled. Please start a new one.",
        None,
    )
