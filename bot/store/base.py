"""The store's interface: one repository per aggregate, one backend per database.

The domain (`bot.jobs`, `bot.quota`, `bot.jams`) talks to these protocols only;
`bot.store.sqlite` is the embedded default. Every method takes and returns the domain's
dataclasses: no driver type (rows, connections, cursors) leaves a backend. Rules stay in the
domain: a reservation is decided by the `ReserveRules` the caller passes in, inside the
backend's transaction (a jam's steps by its `JamDecisions`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol, TypedDict, Unpack

from bot.jams.models import (
    Accepted,
    EndReason,
    EntryContext,
    EntryDraft,
    EntryRefusal,
    EntryState,
    Jam,
    JamDraft,
    JamSettings,
    JamSnapshot,
    Post,
    Step,
    Transition,
    VoteContext,
    VoteOutcome,
    VoteProblem,
)
from bot.jobs.models import (
    Delivery,
    Job,
    JobChanges,
    JobState,
    Observation,
    Origin,
    Signal,
)
from bot.quota.models import (
    BlockedTerm,
    BudgetContext,
    BudgetTaken,
    GenerationNote,
    GuildQuotaRecord,
    MemberQuotaRecord,
    Refusal,
    Requester,
    Reservation,
    ReserveContext,
    ReserveDecision,
    RoleOverride,
    Usage,
    UsageQuery,
)


class JobRepository(Protocol):
    async def insert(self, job: Job, *, lease: tuple[str, float] | None = None) -> None:
        """Write a new job; `lease` (owner, until): leased at once, for a job about to run."""
        ...

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

    # -- leases (several processes on one database) ---------------------------------------------

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        until: float,
        now: float,
        active_limit: int | None = None,
    ) -> Job | None:
        """Lease an unfinished job to `owner` until `until` if its lease is free, expired or
        already `owner`'s; a queued job only while fewer than `active_limit` jobs are active
        (submitting, submitted, or queued and leased). The row, or None."""
        ...

    async def claim_in_flight(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        origins: Collection[Origin] | None = None,
    ) -> list[Job]:
        """Lease up to `limit` jobs submitting, submitted or completed whose lease is free or
        expired (a dead process's), oldest first."""
        ...

    async def claim_queued(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        created_before: float,
        origins: Collection[Origin] | None = None,
        active_limit: int | None = None,
    ) -> list[Job]:
        """Lease up to `limit` queued jobs created before `created_before` whose lease is free
        or expired, the requester with the fewest running jobs first, then the oldest; never
        past `active_limit` active jobs in all."""
        ...

    async def renew_leases(self, owner: str, *, until: float, now: float) -> list[str]:
        """Extend every lease `owner` holds on an unfinished job; the ids renewed."""
        ...

    async def release_leases(self, owner: str, job_ids: Collection[str] | None = None) -> int:
        """Give up `owner`'s leases (on `job_ids` only, when given); how many were released."""
        ...

    # -- retention (bot.jobs.retention) ---------------------------------------------------------

    async def audio_to_prune(self, *, finished_before: float, limit: int) -> list[Job]:
        """Jobs (not the terminal's) whose audio file is kept (`audio_path` set, not pruned)
        and that were delivered, or ended undelivered, before `finished_before`; oldest first."""
        ...

    async def mark_audio_pruned(self, job_ids: Collection[str], *, now: float) -> int:
        """Set `audio_pruned_at` on these jobs (those not marked yet); how many changed."""
        ...

    async def delete_finished(self, *, updated_before: float, limit: int) -> int:
        """Delete up to `limit` final jobs last updated before `updated_before`, except those
        whose audio is still kept (unless the terminal's) or whose credit is still reserved;
        how many were deleted."""
        ...


class JobSignals(Protocol):
    """How processes on one database tell each other about jobs (PostgreSQL's LISTEN/NOTIFY);
    none with SQLite, which one process owns."""

    async def listen(self, on_signal: Callable[[Signal], None]) -> None:
        """Start calling `on_signal` (from the event loop) for every signal sent, own too."""
        ...

    async def notify(self, signal: Signal) -> None: ...

    async def close(self) -> None: ...


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


class BudgetRules(Protocol):
    """Taking a jam's budget from the server pool (`bot.quota.rules.ReservationRules`)."""

    def plan_budget(self, ctx: BudgetContext) -> Refusal | int: ...

    def take_budget(
        self, ctx: BudgetContext, period: int, pool_used: int
    ) -> BudgetTaken | Refusal: ...


class JamDecisions(Protocol):
    """The jam's rules (`bot.jams.rules.JamRules`), called inside the store's transactions."""

    def entry_refusal(self, ctx: EntryContext) -> EntryRefusal | None: ...

    def vote_problem(self, ctx: VoteContext) -> VoteProblem | None: ...

    def first_step(self, settings: JamSettings, now: float) -> Step: ...

    def step_after_deadline(self, jam: Jam, entries_in_round: int, now: float) -> Step | None: ...

    def step_to_end(self, jam: Jam, reason: EndReason, now: float) -> Step: ...


class JamRepository(Protocol):
    """Jam sessions (issue 11). Every write is one transaction; phase changes are guarded by
    the phase and round they expect, and queue the posts they owe (`jam_posts`) in the same
    transaction, so a change happens once and its posts are never lost."""

    async def host_role(self, guild_id: int) -> int | None: ...

    async def set_host_role(self, guild_id: int, role_id: int | None) -> None: ...

    async def create(
        self, draft: JamDraft, *, now: float, rules: BudgetRules
    ) -> Jam | Refusal | None:
        """Take the budget from the pool and write the jam (phase starting); a Refusal when
        the pool (or the host's standing) says no, None when the channel has a running jam."""
        ...

    async def open(
        self, jam_id: str, *, thread_id: int, card_message_id: int, now: float, rules: JamDecisions
    ) -> Transition | None:
        """starting → the first round, with its thread and card; None when not starting."""
        ...

    async def get(self, jam_id: str) -> Jam | None: ...

    async def find(self, channel_id: int) -> Jam | None:
        """The jam whose thread `channel_id` is; else the running (or latest) jam of the
        channel `channel_id`; None when neither."""
        ...

    async def enter(
        self,
        draft: EntryDraft,
        *,
        now: float,
        blocked_term: BlockedTerm | None,
        reserve_rules: ReserveRules,
        rules: JamDecisions,
    ) -> Accepted | EntryRefusal | Refusal:
        """Decide the entry (jam rules, then the quota's rule paid by the jam's budget), and
        when granted write its reservation and its entry row, in one transaction."""
        ...

    async def set_entry_state(
        self, job_id: str, state: EntryState, *, audio_path: str | None = None
    ) -> bool: ...

    async def vote(
        self, jam_id: str, number: int, voter_id: int, *, now: float, rules: JamDecisions
    ) -> VoteOutcome: ...

    async def advance(self, jam_id: str, *, now: float, rules: JamDecisions) -> Transition | None:
        """The current phase's deadline passed: take the next step (None: not due, or
        another process took it)."""
        ...

    async def finish(
        self,
        jam_id: str,
        reason: EndReason,
        *,
        by: int | None,
        now: float,
        rules: JamDecisions,
    ) -> Transition | None:
        """End or cancel a running jam and give the unspent budget back to the pool, in one
        transaction (None: it was not running)."""
        ...

    async def snapshot(self, jam_id: str) -> JamSnapshot | None: ...

    async def due(self, now: float) -> list[str]:
        """Running jams whose deadline has passed."""
        ...

    async def stale_starting(self, before: float) -> list[str]:
        """Jams still starting since before `before` (a crash while making the thread)."""
        ...

    async def next_wakeup(self) -> float | None:
        """The earliest deadline of a running jam or retry time of a post owed."""
        ...

    async def pending_posts(self) -> list[Post]:
        """Posts owed, per jam in the order they must appear."""
        ...

    async def claim_post(self, post: Post, *, now: float, until: float) -> bool:
        """Take an owed post until `until` (counting the attempt), unless another claim on
        it is still running; whether this caller has it."""
        ...

    async def post_done(self, post: Post, *, now: float) -> None: ...

    async def post_later(self, post: Post, *, at: float) -> None: ...


class Store(Protocol):
    """An open database: its repositories, its schema version, and how to close it."""

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def quota(self) -> QuotaRepository: ...

    @property
    def jams(self) -> JamRepository: ...

    @property
    def description(self) -> str:
        """Which database, for people: "SQLite at data/bot.sqlite3" (never a password)."""
        ...

    async def schema_version(self) -> int: ...

    def expected_schema_version(self) -> int: ...

    async def close(self) -> None: ...
