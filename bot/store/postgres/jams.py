"""PostgreSQL: jam sessions (migration 0005) as the domain's records, exact across processes.

A jam's budget lives in the quota tables, as on SQLite: taken from the pool's counter at start,
spent by reservations whose `jam_id` is the jam, the unspent rest given back when it ends — so
starting, entering and every step that may end the jam run under the quota lock
(`batching.locked_transaction`), and the ledger's refund of a jam-paid piece (`ledger`) sees
whether the jam has settled. A burst of entries shares one such transaction (`LockedBatcher`,
each entry in its own savepoint): one lock and one commit for the burst, as the ledger does.
The decisions are the rules' (`JamDecisions`, `BudgetRules`, `ReserveRules`); what runs inside
each transaction is in `jam_steps`.
"""

from __future__ import annotations

import asyncpg

import bot.store.postgres.jam_steps as jam_steps
from bot.jams.models import (
    Accepted,
    EndReason,
    EntryDraft,
    EntryRefusal,
    EntryState,
    Jam,
    JamDraft,
    JamPhase,
    JamSnapshot,
    Post,
    PostKind,
    Transition,
    VoteOutcome,
)
from bot.quota.models import BlockedTerm, Refusal
from bot.store import jam_rows
from bot.store.base import BudgetRules, JamDecisions, ReserveRules
from bot.store.postgres.batching import LockedBatcher, locked_transaction
from bot.store.postgres.database import Connection, PostgresDatabase

_RUNNING = jam_rows.RUNNING_SQL
# A thread's jam first, then the channel's running jam, then its latest.
_FIND_SQL = (
    "SELECT * FROM jams WHERE thread_id = $1 OR channel_id = $1 "  # noqa: S608
    f"ORDER BY thread_id = $1 DESC NULLS LAST, phase IN ({_RUNNING}) DESC, created_at DESC "
    "LIMIT 1"
)
_WAKEUP_SQL = (
    "SELECT MIN(t) FROM (SELECT MIN(phase_ends_at) AS t FROM jams "  # noqa: S608
    f"WHERE phase IN ({_RUNNING}) "
    "UNION ALL SELECT MIN(due_at) AS t FROM jam_posts WHERE done_at IS NULL) AS times"
)
_POST_KEY = "jam_id = $2 AND kind = $3 AND round = $4"


class PostgresJamRepository:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._entries = LockedBatcher(db)  # a burst of entries: one locked transaction

    # -- settings ------------------------------------------------------------------------------

    async def host_role(self, guild_id: int) -> int | None:
        value = await self._db.fetchval(
            "SELECT host_role_id FROM jam_guild_settings WHERE guild_id = $1", guild_id
        )
        return None if value is None else int(value)

    async def set_host_role(self, guild_id: int, role_id: int | None) -> None:
        await self._db.execute(
            "INSERT INTO jam_guild_settings (guild_id, host_role_id) VALUES ($1, $2) "
            "ON CONFLICT (guild_id) DO UPDATE SET host_role_id = excluded.host_role_id",
            guild_id,
            role_id,
        )

    # -- a jam's life ----------------------------------------------------------------------------

    async def create(
        self, draft: JamDraft, *, now: float, rules: BudgetRules
    ) -> Jam | Refusal | None:
        try:
            async with locked_transaction(self._db) as conn:
                return await jam_steps.create(conn, draft, now, rules)
        except asyncpg.UniqueViolationError:  # the channel's running jam, however it came
            return None

    async def open(
        self, jam_id: str, *, thread_id: int, card_message_id: int, now: float, rules: JamDecisions
    ) -> Transition | None:
        async with locked_transaction(self._db) as conn:
            jam = await jam_steps.get(conn, jam_id, lock="FOR UPDATE")
            if jam is None or jam.phase is not JamPhase.STARTING:
                return None
            await conn.execute(
                "UPDATE jams SET thread_id = $1, card_message_id = $2 WHERE id = $3",
                thread_id,
                card_message_id,
                jam_id,
            )
            jam = await jam_steps.get(conn, jam_id)
            assert jam is not None
            return await jam_steps.apply(conn, jam, rules.first_step(jam.settings, now), now)

    async def get(self, jam_id: str) -> Jam | None:
        row = await self._db.fetchrow(jam_steps.JAM_SQL, jam_id)
        return None if row is None else jam_rows.jam_from_row(row)

    async def find(self, channel_id: int) -> Jam | None:
        row = await self._db.fetchrow(_FIND_SQL, channel_id)
        return None if row is None else jam_rows.jam_from_row(row)

    async def advance(self, jam_id: str, *, now: float, rules: JamDecisions) -> Transition | None:
        async with locked_transaction(self._db) as conn:  # the last deadline settles the budget
            jam = await jam_steps.get(conn, jam_id, lock="FOR UPDATE")
            if jam is None or jam.phase_ends_at is None or jam.phase_ends_at > now:
                return None
            entries = await jam_steps.counted_in_round(conn, jam)
            step = rules.step_after_deadline(jam, entries, now)
            return None if step is None else await jam_steps.apply(conn, jam, step, now)

    async def finish(
        self,
        jam_id: str,
        reason: EndReason,
        *,
        by: int | None,
        now: float,
        rules: JamDecisions,
    ) -> Transition | None:
        async with locked_transaction(self._db) as conn:
            jam = await jam_steps.get(conn, jam_id, lock="FOR UPDATE")
            if jam is None or not jam.running:
                return None
            step = rules.step_to_end(jam, reason, now)
            return await jam_steps.apply(conn, jam, step, now, by=by)

    # -- entries and votes -------------------------------------------------------------------------

    async def enter(
        self,
        draft: EntryDraft,
        *,
        now: float,
        blocked_term: BlockedTerm | None,
        reserve_rules: ReserveRules,
        rules: JamDecisions,
    ) -> Accepted | EntryRefusal | Refusal:
        async def work(conn: Connection) -> Accepted | EntryRefusal | Refusal:
            return await jam_steps.enter(conn, draft, now, blocked_term, reserve_rules, rules)

        return await self._entries.run(work)

    async def set_entry_state(
        self, job_id: str, state: EntryState, *, audio_path: str | None = None
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE jam_entries SET state = $1, audio_path = COALESCE($2, audio_path) "
            "WHERE job_id = $3",
            state.value,
            audio_path,
            job_id,
        )
        return changed > 0

    async def vote(
        self, jam_id: str, number: int, voter_id: int, *, now: float, rules: JamDecisions
    ) -> VoteOutcome:
        async def work(conn: Connection) -> VoteOutcome:
            return await jam_steps.vote(conn, jam_id, number, voter_id, now, rules)

        return await self._db.run_in_transaction(work)

    # -- reads -----------------------------------------------------------------------------------

    async def snapshot(self, jam_id: str) -> JamSnapshot | None:
        async with (
            self._db.connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await jam_steps.snapshot(conn, jam_id)

    async def due(self, now: float) -> list[str]:
        rows = await self._db.fetch(
            f"SELECT id FROM jams WHERE phase IN ({_RUNNING}) "  # noqa: S608
            "AND phase_ends_at IS NOT NULL AND phase_ends_at <= $1 ORDER BY phase_ends_at",
            now,
        )
        return [str(r[0]) for r in rows]

    async def stale_starting(self, before: float) -> list[str]:
        rows = await self._db.fetch(
            "SELECT id FROM jams WHERE phase = 'starting' AND created_at < $1", before
        )
        return [str(r[0]) for r in rows]

    async def next_wakeup(self) -> float | None:
        value = await self._db.fetchval(_WAKEUP_SQL)
        return None if value is None else float(value)

    # -- the posts a jam owes ------------------------------------------------------------------

    async def pending_posts(self) -> list[Post]:
        rows = await self._db.fetch(
            "SELECT jam_id, kind, round, due_at, attempts FROM jam_posts WHERE done_at IS NULL "
            "ORDER BY jam_id, round, position"
        )
        return [Post(str(r[0]), PostKind(r[1]), int(r[2]), float(r[3]), int(r[4])) for r in rows]

    async def claim_post(self, post: Post, *, now: float, until: float) -> bool:
        """One process makes the post: the claim is one guarded UPDATE (row-locked, re-checked
        by whoever waited on it)."""
        changed = await self._db.execute(
            f"UPDATE jam_posts SET attempts = attempts + 1, claimed_until = $1 WHERE {_POST_KEY} "  # noqa: S608
            "AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $5)",
            until,
            post.jam_id,
            post.kind.value,
            post.round,
            now,
        )
        return changed == 1

    async def post_done(self, post: Post, *, now: float) -> None:
        await self._db.execute(
            f"UPDATE jam_posts SET done_at = $1 WHERE {_POST_KEY} AND done_at IS NULL",  # noqa: S608
            now,
            post.jam_id,
            post.kind.value,
            post.round,
        )

    async def post_later(self, post: Post, *, at: float) -> None:
        await self._db.execute(
            f"UPDATE jam_posts SET due_at = $1, claimed_until = NULL WHERE {_POST_KEY}",  # noqa: S608
            at,
            post.jam_id,
            post.kind.value,
            post.round,
        )
