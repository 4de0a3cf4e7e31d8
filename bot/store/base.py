"""The store's interface: one repository per aggregate, one backend per database.

The domain (`bot.jobs`, `bot.quota`) talks to these protocols only; `bot.store.sqlite` is the
embedded default. Every method takes and returns the domain's dataclasses: no driver type
(rows, connections, cursors) leaves a backend. Rules stay in the domain: a reservation is
decided by the `ReserveRules` the caller passes in, inside the backend's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, TypedDict, Unpack

from bot.jobs.models import Delivery, Job, JobChanges, JobState, Observation, Origin
from bot.quota.models import (
    BlockedTerm,
    GenerationNote,
    GuildQuotaRecord,
    MemberQuotaRecord,
    Requester,
    Reservation,
    ReserveContext,
    ReserveDecision,
    RoleOverride,
    Usage,
    UsageQuery,
)


class JobRepository(Protocol):
    async def insert(self, job: Job) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def transition(
        self,
        job_id: str,
        expected: JobState | Collection[JobState],
        new_state: JobState,
        *,
        now: float,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        """Move the job to `new_state` only if it is in `expected`; None when it was not."""
        ...

    async def update(
        self,
        job_id: str,
        *,
        expected: JobState | Collection[JobState] | None = None,
        now: float,
        learn: Observation | None = None,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        """Set `changes` (guarded by `expected`); `learn` (what polling saw of the finished
        generation) joins the history in the same transaction, only when the update applied."""
        ...

    async def deliver(self, job_id: str, delivery: Delivery, *, now: float) -> Job | None:
        """completed → delivered with its delivery record; the row afterwards."""
        ...

    async def save_poll_counts(self, counts: Collection[tuple[str, int, str | None]]) -> None: ...

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]: ...

    async def count_by_state(self) -> dict[JobState, int]: ...

    async def history(
        self, requester_id: str, guild_id: str | None, *, limit: int, offset: int = 0
    ) -> list[Job]:
        """The requester's delivered tracks in that server (None: in DMs), newest first."""
        ...

    async def unreported_failures(
        self, origins: Collection[Origin] | None, *, since: float
    ) -> list[Job]:
        """Jobs that ended without a result since `since` whose requester was never told."""
        ...

    async def record_generation_time(self, job_id: str, seconds: float, *, now: float) -> None:
        """Append a generation time known as one number (submitted `seconds` before `now`)."""
        ...

    async def record_observation(
        self, job_id: str, observation: Observation, *, now: float
    ) -> None:
        """Append what polling saw of one finished generation; the history keeps the newest."""
        ...

    async def generation_times(self) -> list[float]:
        """The kept upper bounds (completion seen by then), oldest first."""
        ...

    async def generation_observations(self) -> list[Observation]:
        """The kept observations, oldest first (rows from before intervals read as exact)."""
        ...


class ReserveRules(Protocol):
    """The reservation rule (`bot.quota.rules.ReservationRules`), called inside the store's
    transaction: first with what is stored, then with the counts it asked for."""

    def plan(self, ctx: ReserveContext) -> ReserveDecision | UsageQuery: ...

    def decide(self, ctx: ReserveContext, query: UsageQuery, usage: Usage) -> ReserveDecision: ...


class GuildChanges(TypedDict, total=False):
    """Server settings a moderator changes; None puts a limit back to the default."""

    daily_pool: int | None
    reset_minute: int | None
    member_limit: int | None
    window_seconds: int | None
    max_in_flight: int | None
    paused: bool
    modlog_channel_id: int | None


class QuotaRepository(Protocol):
    # -- the ledger: each call one transaction ----------------------------------------------------

    async def reserve(
        self,
        requester: Requester,
        job_id: str,
        *,
        now: float,
        blocked_term: BlockedTerm | None,
        rules: ReserveRules,
    ) -> ReserveDecision:
        """Decide with `rules` and, when granted, insert the reservation and take its counts."""
        ...

    async def commit(self, job_id: str, *, now: float) -> bool: ...

    async def refund(self, job_id: str, *, now: float) -> bool:
        """reserved → refunded, giving back every count it took; False when nothing to do."""
        ...

    async def finish(self, job_id: str, *, now: float, note: GenerationNote | None = None) -> None:
        """No longer in flight (and, with `note`, the outcome recorded) in one transaction."""
        ...

    async def release_orphans(self, *, created_before: float, now: float) -> int:
        """Refund reservations older than `created_before` that have no job row; returns how
        many (a crash between reserve and enqueue must not keep the credit)."""
        ...

    async def finish_ended(self, *, now: float) -> int:
        """End the in-flight status of reservations whose job has ended (a crash between the
        job's end and `finish` must not keep the member's slot); returns how many."""
        ...

    # -- reads ---------------------------------------------------------------------------------

    async def guild(self, guild_id: int) -> GuildQuotaRecord | None: ...

    async def member(self, guild_id: int, user_id: int) -> MemberQuotaRecord: ...

    async def role_overrides(self, guild_id: int) -> list[RoleOverride]: ...

    async def allowed_channels(self, guild_id: int) -> frozenset[int]: ...

    async def usage(self, guild_id: int, user_id: int, query: UsageQuery) -> Usage: ...

    async def pool_used(self, guild_id: int, period: int) -> int: ...

    async def leaderboard(
        self, guild_id: int, since: float, limit: int
    ) -> list[tuple[int, int]]: ...

    async def barred_members(self, guild_id: int) -> list[int]: ...

    async def blocked_terms(self, guild_id: int) -> list[BlockedTerm]: ...

    async def reservation(self, job_id: str) -> Reservation | None: ...

    # -- moderator writes ----------------------------------------------------------------------

    async def set_guild(self, guild_id: int, changes: GuildChanges, *, now: float) -> None: ...

    async def set_allowed_channels(
        self, guild_id: int, channel_ids: Collection[int], *, now: float
    ) -> None: ...

    async def move_pool_period(
        self, guild_id: int, reset_minute: int, *, old_period: int, new_period: int, now: float
    ) -> int:
        """Set the pool's reset time and carry the usage counted under `old_period` over to
        `new_period` (the reservations too, so refunds find it), in one transaction; returns
        the usage carried."""
        ...

    async def set_role_override(self, guild_id: int, override: RoleOverride) -> None: ...

    async def clear_role_override(self, guild_id: int, role_id: int) -> bool: ...

    async def add_extra_credit(self, guild_id: int, user_id: int, amount: int) -> int: ...

    async def reset_member_window(self, guild_id: int, user_id: int, *, now: float) -> None: ...

    async def set_barred(self, guild_id: int, user_id: int, barred: bool) -> bool: ...

    async def add_blocked_term(
        self, guild_id: int, term: BlockedTerm, *, added_by: int | None, now: float
    ) -> bool: ...

    async def remove_blocked_term(self, guild_id: int, term: BlockedTerm) -> bool: ...

    async def forget_modlog_channel(
        self, guild_id: int, channel_id: int, *, now: float
    ) -> bool: ...


class Store(Protocol):
    """An open database: its repositories, its schema version, and how to close it."""

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def quota(self) -> QuotaRepository: ...

    @property
    def description(self) -> str:
        """Which database, for people: "SQLite at data/bot.sqlite3" (never a password)."""
        ...

    async def schema_version(self) -> int: ...

    def expected_schema_version(self) -> int: ...

    async def close(self) -> None: ...
