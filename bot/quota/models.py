"""The quota's public values: who asks, what they get, and the defaults from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

DM_GUILD_ID = 0
"""Direct messages are stored under guild id 0 (Discord ids are never 0)."""


@dataclass(frozen=True)
class Requester:
    """Who wants to compose, and where. `guild_id` None means a direct message."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    role_ids: frozenset[int] = frozenset()
    is_moderator: bool = False


@dataclass(frozen=True)
class Grant:
    """Credit reserved under `job_id`. None means "no such limit applies"."""

    job_id: str
    member_remaining: int | None
    pool_remaining: int | None


@dataclass(frozen=True)
class Refusal:
    """Nothing was reserved. `message` is polite plain text; `retry_at` is unix seconds."""

    limit: str
    message: str
    retry_at: float | None


@dataclass(frozen=True)
class Remaining:
    """`next_reset_at`: the server pool's next refill (in DMs: when a window slot frees).
    `member_slot_at`: when the member's next window slot frees, if their allowance is used up.
    `in_flight`: pieces of theirs still being composed."""

    member_remaining: int | None
    pool_remaining: int | None
    next_reset_at: float | None
    member_slot_at: float | None = None
    in_flight: int = 0


@dataclass(frozen=True)
class ModEvent:
    """One line for a server's mod log. `text` is plain; the Discord layer escapes it.

    `kind` names the event ("generation", "blocked_prompt", "settings", ...); `user_id` is the
    member the event is about and `actor_id` the moderator who acted, when there is one;
    `link` points at the result (shown as a link, not escaped as text).
    """

    guild_id: int
    text: str
    kind: str = "info"
    user_id: int | None = None
    actor_id: int | None = None
    link: str | None = None


@dataclass(frozen=True)
class QuotaDefaults:
    """Every server starts from these; moderators override them per server."""

    member_limit_per_window: int = 5
    member_window_seconds: int = 3600
    member_max_in_flight: int = 1
    guild_daily_pool: int = 50
    guild_reset_minute: int = 0  # minutes after 00:00 UTC
    bot_daily_cap: int = 500
    dm_policy: str = "personal"  # "personal" or "off"
    # A reservation stops counting as in flight after this long even if nobody called finish
    # (a crash between commit and finish must not block a member for ever).
    in_flight_expiry_seconds: float = 3 * 3600

    @classmethod
    def from_settings(cls, settings: Settings) -> QuotaDefaults:
        reset: time = settings.guild_reset_time
        return cls(
            member_limit_per_window=settings.member_limit_per_window,
            member_window_seconds=settings.member_window_seconds,
            member_max_in_flight=settings.member_max_in_flight,
            guild_daily_pool=settings.guild_daily_pool,
            guild_reset_minute=reset.hour * 60 + reset.minute,
            bot_daily_cap=settings.bot_daily_cap,
            dm_policy=settings.dm_policy,
            in_flight_expiry_seconds=max(3600.0, 2 * settings.generation_timeout_seconds + 1800),
        )


@dataclass(frozen=True)
class GuildQuotaSettings:
    """A server's effective settings (its overrides over the defaults) for /quota show."""

    guild_id: int
    daily_pool: int
    reset_minute: int
    member_limit: int
    window_seconds: int
    max_in_flight: int
    paused: bool
    allowed_channel_ids: frozenset[int]  # empty: every channel
    modlog_channel_id: int | None
    overridden: frozenset[str]  # names of the fields set for this server


@dataclass(frozen=True)
class RoleOverride:
    role_id: int
    member_limit: int | None
    max_in_flight: int | None
    exempt: bool

    def limits_text(self) -> str:
        """The role's own limits, e.g. "3 per window, 2 at once" (empty when exempt)."""
        bits = []
        if self.member_limit is not None:
            bits.append(f"{self.member_limit} per window")
        if self.max_in_flight is not None:
            bits.append(f"{self.max_in_flight} at once")
        return ", ".join(bits)


@dataclass(frozen=True)
class BlockedTerm:
    kind: str  # "word" or "regex"
    pattern: str


@dataclass(frozen=True)
class PoolUsage:
    used: int
    size: int
    period_start: float
    next_reset_at: float


class QuotaInputError(ValueError):
    """A moderator's input cannot be used; `str(error)` is a polite message saying why."""
