"""SQLite: jam sessions (migration 0005) as the domain's records.

Entries and votes are the hot path (a whole server voting at once): they go through a
`TransactionBatcher`, each still decided on its own inside the shared transaction. A jam's
budget lives in the quota tables: taken from `quota_counters` at start, spent by reservations
whose `jam_id` is the jam, the unspent rest given back when it ends — each in one transaction
with the jam's own change, so no credit is ever created or lost. Phase changes are guarded
UPDATEs (`WHERE phase = ? AND round = ?`) that queue their posts in `jam_posts`. What runs
inside each transaction is in `jam_steps`; PostgreSQL's twin is `bot/store/postgres/jams.py`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import bot.store.sqlite.jam_steps as jam_steps
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
from bot.quota.models import BlockedTerm, BudgetContext, Refusal
from bot.store import jam_rows
from bot.store.base import BudgetRules, JamDecisions, ReserveRules
from bot.store.sqlite.batching import TransactionBatcher
from bot.store.sqlite.database import SqliteDatabase
from bot.store.sqlite.ledger import GUILD_SCOPE, counter, guild_record, member_record

_RUNNING = jam_rows.RUNNING_SQL
# A thread's jam first, then the channel's running jam, then its latest.
_FIND_SQL = (
    "SELECT * FROM jams WHERE thread_id = ? OR channel_id = ? "  # noqa: S608
    f"ORDER BY thread_id = ? DESC, phase IN ({_RUNNING}) DESC, created_at DESC LIMIT 1"
)
_WAKEUP_SQL = (
    "SELECT MIN(t) FROM (SELECT MIN(phase_ends_at) AS t FROM jams "  # noqa: S608
    f"WHERE phase IN ({_RUNNING}) "
    "UNION ALL SELECT MIN(due_at) AS t FROM jam_posts WHERE done_at IS NULL) AS times"
)


class SqliteJamRepository:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._batcher = TransactionBatcher(db)

    # -- settings ------------------------------------------------------------------------------

    async def host_role(self, guild_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT host_role_id FROM jam_guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return None if row is None or row[0] is None else int(row[0])

    async def set_host_role(self, guild_id: int, role_id: int | None) -> None:
        await self._db.execute(
            "INSERT INTO jam_guild_settings (guild_id, host_role_id) VALUES (?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET host_role_id = excluded.host_role_id",
            (guild_id, role_id),
        )

    # -- a jam's life ----------------------------------------------------------------------------

    async def create(
        self, draft: JamDraft, *, now: float, rules: BudgetRules
    ) -> Jam | Refusal | None:
        def work(conn: sqlite3.Connection) -> Jam | Refusal | None:
            busy = conn.execute(
                f"SELECT 1 FROM jams WHERE channel_id = ? AND phase IN ({_RUNNING})",  # noqa: S608
                (draft.channel_id,),
            ).fetchone()
            if busy is not None:
                return None
            ctx = BudgetContext(
                guild=guild_record(conn, draft.guild_id),
                host=member_record(conn, draft.guild_id, draft.host_id),
                amount=draft.settings.budget,
                now=now,
            )
            period = rules.plan_budget(ctx)
            if isinstance(period, Refusal):
                return period
            taken = rules.take_budget(
                ctx, period, counter(conn, GUILD_SCOPE, draft.guild_id, period)
            )
            if isinstance(taken, Refusal):
                return taken
            jam_steps.insert_jam(conn, draft, taken, now)
            return jam_steps.get(conn, draft.jam_id)

        return await self._db.run_in_transaction(work)

    async def open(
        self, jam_id: str, *, thread_id: int, card_message_id: int, now: float, rules: JamDecisions
    ) -> Transition | None:
        def work(conn: sqlite3.Connection) -> Transition | None:
            jam = jam_steps.get(conn, jam_id)
            if jam is None or jam.phase is not JamPhase.STARTING:
                return None
            conn.execute(
                "UPDATE jams SET thread_id = ?, card_message_id = ? WHERE id = ?",
                (thread_id, card_message_id, jam_id),
            )
            jam = replace(jam, thread_id=thread_id, card_message_id=card_message_id)
            return jam_steps.apply(conn, jam, rules.first_step(jam.settings, now), now)

        return await self._db.run_in_transaction(work)

    async def get(self, jam_id: str) -> Jam | None:
        row = await self._db.fetchone(jam_steps.JAM_SQL, (jam_id,))
        return None if row is None else jam_rows.jam_from_row(row)

    async def find(self, channel_id: int) -> Jam | None:
        row = await self._db.fetchone(_FIND_SQL, (channel_id, channel_id, channel_id))
        return None if row is None else jam_rows.jam_from_row(row)

    async def advance(self, jam_id: str, *, now: float, rules: JamDecisions) -> Transition | None:
        def work(conn: sqlite3.Connection) -> Transition | None:
            jam = jam_steps.get(conn, jam_id)
            if jam is None or jam.phase_ends_at is None or jam.phase_ends_at > now:
                return None
            entries = conn.execute(
                f"SELECT COUNT(*) FROM {jam_rows.ENTRY_FROM} WHERE e.jam_id = ? AND e.round = ? "  # noqa: S608
                "AND e.state != 'failed' AND r.state IS NOT NULL AND r.state != 'refunded'",
                (jam_id, jam.round),
            ).fetchone()[0]
            step = rules.step_after_deadline(jam, int(entries), now)
            return None if step is None else jam_steps.apply(conn, jam, step, now)

        return await self._db.run_in_transaction(work)

    async def finish(
        self,
        jam_id: str,
        reason: EndReason,
        *,
        by: int | None,
        now: float,
        rules: JamDecisions,
    ) -> Transition | None:
        def work(conn: sqlite3.Connection) -> Transition | None:
            jam = jam_steps.get(conn, jam_id)
            if jam is None or not jam.running:
                return None
            step = rules.step_to_end(jam, reason, now)
            return jam_steps.apply(conn, jam, step, now, by=by)

        return await self._db.run_in_transaction(work)

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
        def work(conn: sqlite3.Connection) -> Accepted | EntryRefusal | Refusal:
            return jam_steps.enter(conn, draft, now, blocked_term, reserve_rules, rules)

        return await self._batcher.run(work)

    async def set_entry_state(
        self, job_id: str, state: EntryState, *, audio_path: str | None = None
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE jam_entries SET state = ?, audio_path = COALESCE(?, audio_path) "
            "WHERE job_id = ?",
            (state.value, audio_path, job_id),
        )
        return changed > 0

    async def vote(
        self, jam_id: str, number: int, voter_id: int, *, now: float, rules: JamDecisions
    ) -> VoteOutcome:
        def work(conn: sqlite3.Connection) -> VoteOutcome:
            return jam_steps.vote(conn, jam_id, number, voter_id, now, rules)

        return await self._batcher.run(work)

    # -- reads -----------------------------------------------------------------------------------

    async def snapshot(self, jam_id: str) -> JamSnapshot | None:
        def work(conn: sqlite3.Connection) -> JamSnapshot | None:
            return jam_steps.snapshot(conn, jam_id)

        return await self._db.run_in_transaction(work)

    async def due(self, now: float) -> list[str]:
        rows = await self._db.fetchall(
            f"SELECT id FROM jams WHERE phase IN ({_RUNNING}) "  # noqa: S608
            "AND phase_ends_at IS NOT NULL AND phase_ends_at <= ? ORDER BY phase_ends_at",
            (now,),
        )
        return [str(r[0]) for r in rows]

    async def stale_starting(self, before: float) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT id FROM jams WHERE phase = 'starting' AND created_at < ?", (before,)
        )
        return [str(r[0]) for r in rows]

    async def next_wakeup(self) -> float | None:
        row = await self._db.fetchone(_WAKEUP_SQL)
        return None if row is None or row[0] is None else float(row[0])

    # -- the posts a jam owes ------------------------------------------------------------------

    async def pending_posts(self) -> list[Post]:
        rows = await self._db.fetchall(
            "SELECT jam_id, kind, round, due_at, attempts FROM jam_posts WHERE done_at IS NULL "
            "ORDER BY jam_id, round, position"
        )
        return [Post(str(r[0]), PostKind(r[1]), int(r[2]), float(r[3]), int(r[4])) for r in rows]

    async def claim_post(self, post: Post, *, now: float, until: float) -> bool:
        changed = await self._db.execute(
            "UPDATE jam_posts SET attempts = attempts + 1, claimed_until = ? "
            "WHERE jam_id = ? AND kind = ? AND round = ? AND done_at IS NULL "
            "AND (claimed_until IS NULL OR claimed_until <= ?)",
            (until, post.jam_id, post.kind.value, post.round, now),
        )
        return changed == 1

    async def post_done(self, post: Post, *, now: float) -> None:
        await self._db.execute(
            "UPDATE jam_posts SET done_at = ? WHERE jam_id = ? AND kind = ? AND round = ? "
            "AND done_at IS NULL",
            (now, post.jam_id, post.kind.value, post.round),
        )

    async def post_later(self, post: Post, *, at: float) -> None:
        await self._db.execute(
            "UPDATE jam_posts SET due_at = ?, claimed_until = NULL "
            "WHERE jam_id = ? AND kind = ? AND round = ?",
            (at, post.jam_id, post.kind.value, post.round),
        )
