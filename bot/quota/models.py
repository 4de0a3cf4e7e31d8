"""The quota's values: who asks, what they get, what is stored, and the defaults.

Nothing here does I/O or knows Discord; refusals carry numbers, not sentences (the words live in
`bot.text`).
"""

from __future__ import annotations

import enum
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

    @property
    def scope_id(self) -> int:
        """The guild id the quota is kept under (DM_GUILD_ID in direct messages)."""
        return DM_GUILD_ID if self.guild_id is None else self.guild_id


@dataclass(frozen=True)
class Grant:
    """Credit reserved under `job_id`. None means "no such limit applies". `budget_remaining`:
    what is left of the jam budget that paid for it (None: the server pool paid)."""

    job_id: str
    member_remaining: int | None
    pool_remaining: int | None
    budget_remaining: int | None = None


class Limit(enum.StrEnum):
    """Which rule refused a reservation, in the order they are checked."""

    BARRED = "barred"
    PAUSED = "paused"
    CHANNEL = "channel"
    DM_OFF = "dm_off"
    BLOCKED_PROMPT = "blocked_prompt"
    MEMBER_IN_FLIGHT = "member_in_flight"
    MEMBER_WINDOW = "member_window"
    GUILD_POOL = "guild_pool"
    BOT_CAP = "bot_cap"
    DUPLICATE_JOB = "duplicate_job"
    JAM_BUDGET = "jam_budget"  # the jam that pays is out of budget


@dataclass(frozen=True)
class Refusal:
    """Nothing was reserved. `retry_at` (unix seconds) is when trying again can work; the other
    numbers are the limit that was hit, for the message (`bot.text.refusals`)."""

    limit: Limit
    retry_at: float | None = None
    allowance: int | None = None  # pieces per window / in flight / pool size
    window_seconds: int | None = None
    reset_minute: int | None = None
    remaining: int | None = None  # what is left of the pool (a jam budget larger than that)


@dataclass(frozen=True)
class Remaining:
    """`next_reset_at`: the server pool's next refill (in DMs: when a window slot frees).
    `member_slot_at`: when the member's next window slot frees, if their allowance is used up.
    `in_flight`: pieces of theirs still being composed; `extra_credit`: granted by moderators
    (already counted in `member_remaining`)."""

    member_remaining: int | None
    pool_remaining: int | None
    next_reset_at: float | None
    member_slot_at: float | None = None
    in_flight: int = 0
    extra_credit: int = 0
    paused: bool = False
    barred: bool = False


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


# -- what the store keeps ---------------------------------------------------------------------


@dataclass(frozen=True)
class GuildQuotaRecord:
    """A server's stored settings; None means "the bot's default" (see `limits.resolve`)."""

    guild_id: int
    daily_pool: int | None = None
    reset_minute: int | None = None
    member_limit: int | None = None
    window_seconds: int | None = None
    max_in_flight: int | None = None
    paused: bool = False
    channels_restricted: bool = False
    modlog_channel_id: int | None = None


# The limit settings a moderator can set per server (and put back to the default).
LIMIT_SETTINGS = ("daily_pool", "reset_minute", "member_limit", "window_seconds", "max_in_flight")


@dataclass(frozen=True)
class MemberQuotaRecord:
    """What is stored about one member in one server. `window_reset_at`: usage before this
    moment no longer counts; `extra_credit`: pieces a moderator granted beyond the window."""

    extra_credit: int = 0
    window_reset_at: float = 0.0
    barred: bool = False


@dataclass(frozen=True)
class RoleOverride:
    role_id: int
    member_limit: int | None
    max_in_flight: int | None
    exempt: bool


class TermKind(enum.StrEnum):
    WORD = "word"
    REGEX = "regex"


@dataclass(frozen=True)
class BlockedTerm:
    kind: TermKind
    pattern: str


class ReservationState(enum.StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Reservation:
    """One job's credit: reserve → committed (spent) or refunded; in flight until finished."""

    job_id: str
    guild_id: int
    user_id: int
    channel_id: int | None
    state: ReservationState
    in_flight: bool
    counts_member: bool  # False when an exempt role waived member limits
    used_extra: bool  # paid from moderator-granted extra credit
    pool_period: int | None  # start (unix s) of the pool period; None in DMs
    bot_day: int  # UTC day number for the bot-wide cap
    member_remaining: int | None  # as granted, so a retry returns the same Grant
    pool_remaining: int | None
    created_at: float
    updated_at: float
    jam_id: str | None = None  # paid from this jam's budget instead of the server pool


# -- one reservation, as the store and the rules exchange it ------------------------------------


@dataclass(frozen=True)
class ReserveContext:
    """What a reservation is decided on, read inside its transaction (first step)."""

    requester: Requester
    job_id: str
    now: float
    existing: Reservation | None
    guild: GuildQuotaRecord | None  # None: no settings stored (or a DM)
    member: MemberQuotaRecord
    channel_allowed: bool
    overrides: tuple[RoleOverride, ...]
    blocked_term: BlockedTerm | None  # the block-list entry the prompt hits, if any
    funds: JamFunds | None = None  # a jam pays instead of the server pool


@dataclass(frozen=True)
class JamFunds:
    """A jam's budget, read in the reservation's transaction: the jam pays for the piece
    instead of the server pool (the budget was taken from the pool when the jam started)."""

    jam_id: str
    left: int


@dataclass(frozen=True)
class BudgetContext:
    """What taking a jam's budget from a server's pool is decided on (first step)."""

    guild: GuildQuotaRecord | None
    host: MemberQuotaRecord
    amount: int
    now: float


@dataclass(frozen=True)
class BudgetTaken:
    """`amount` was taken from the pool period `pool_period`; `pool_left` is what remains."""

    amount: int
    pool_period: int
    pool_left: int


@dataclass(frozen=True)
class UsageQuery:
    """What the rules need counted once the settings are known (second step)."""

    in_flight_since: float | None  # None: member limits waived (exempt)
    window_since: float | None
    pool_period: int | None  # None: no server pool (DMs)
    bot_day: int


@dataclass(frozen=True)
class Usage:
    in_flight: int
    window_times: tuple[float, ...]  # ascending creation times counting against the window
    pool_used: int
    bot_used: int


@dataclass(frozen=True)
class ReserveDecision:
    """The outcome; when granted, `reservation` is the row to insert (with its counters)."""

    outcome: Grant | Refusal
    reservation: Reservation | None = None


# -- reads for moderators ----------------------------------------------------------------------


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
class PoolUsage:
    used: int
    size: int
    period_start: float
    next_reset_at: float


@dataclass(frozen=True)
class GenerationNote:
    """A finished generation, for the server's records and the mod log."""

    job_id: str
    guild_id: int
    user_id: int
    prompt: str
    outcome: str  # the job's final state, e.g. "delivered", "failed"
    link: str | None = None  # the result message


class InputProblem(enum.StrEnum):
    """Why a moderator's input cannot be used (the words are in `bot.text.quota`)."""

    POOL_SIZE = "pool_size"
    RESET_TIME = "reset_time"
    NO_POOL_CHANGE = "no_pool_change"
    PER_WINDOW = "per_window"
    WINDOW_LENGTH = "window_length"
    IN_FLIGHT = "in_flight"
    NO_LIMIT_CHANGE = "no_limit_change"
    NO_ROLE_LIMIT = "no_role_limit"
    EXTRA_CREDIT = "extra_credit"
    TOO_MANY_CHANNELS = "too_many_channels"
    NO_CHANNEL = "no_channel"
    BLOCK_LIST_FULL = "block_list_full"
    WORD_EMPTY = "word_empty"
    WORD_TOO_LONG = "word_too_long"
    WORD_NO_LETTERS = "word_no_letters"
    REGEX_EMPTY = "regex_empty"
    REGEX_TOO_LONG = "regex_too_long"
    REGEX_INVALID = "regex_invalid"  # `detail`: RE2's error code
    REGEX_LOOKAROUND = "regex_lookaround"
    REGEX_BACK_REFERENCE = "regex_back_reference"
    REGEX_ATOMIC = "regex_atomic"
    REGEX_CONDITIONAL = "regex_conditional"
    REGEX_UNKNOWN_FLAG = "regex_unknown_flag"
    REGEX_END_ANCHOR = "regex_end_anchor"  # \Z, which RE2 spells \z
    REGEX_UNKNOWN_ESCAPE = "regex_unknown_escape"
    REGEX_REPEAT_SIZE = "regex_repeat_size"
    REGEX_TOO_COMPLEX = "regex_too_complex"  # `value`: its size, `limit`: the most allowed
    REGEX_LIST_TOO_COMPLEX = "regex_list_too_complex"  # `value`: the list's size with it
    REGEX_BLOCKS_ORDINARY = "regex_blocks_ordinary"  # `detail`: an ordinary prompt it blocks
    REGEX_TOO_SLOW = "regex_too_slow"
    REGEX_MATCHES_ALL = "regex_matches_all"


class QuotaInputError(ValueError):
    """A moderator's input cannot be used: `problem` says why, `limit` is the bound that was
    crossed, `value` what was asked for, and `detail` a word from the parser (see each
    problem)."""

    def __init__(
        self,
        problem: InputProblem,
        *,
        limit: int | None = None,
        value: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.limit = limit
        self.value = value
        self.detail = detail
