"""SQLite: jam sessions (migration 0004) as the domain's records.

Entries and votes are the hot path (a whole server voting at once): they go through a
`TransactionBatcher`, each still decided on its own inside the shared transaction. A jam's
budget lives in the quota tables: taken from `quota_counters` at start, spent by reservations
whose `jam_id` is the jam, the unspent rest given back when it ends — each in one transaction
with the jam's own change, so no credit is ever created or lost. Phase changes are guarded
UPDATEs (`WHERE phase = ? AND round = ?`) that queue their posts in `jam_posts`.

Porting: SQLite runs one write transaction at a time (BEGIN IMMEDIATE), which makes every
read-check-write here exact. A backend with concurrent writers (PostgreSQL, READ COMMITTED)
must serialise on the jam's row instead: `SELECT … FROM jams WHERE id = $1 FOR UPDATE` first in
`enter`, `vote`, `advance`, `finish` — and in the quota's refund of a reservation with a
`jam_id`, so a refund and the jam's settlement cannot miss each other; `create` locks the
pool's counter row and lets the partial unique index catch a second start in the channel.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.jams.models import (
    POST_ORDER,
    RUNNING_PHASES,
    Accepted,
    EndReason,
    Entry,
    EntryContext,
    EntryDraft,
    EntryRefusal,
    EntryState,
    Jam,
    JamDraft,
    JamPhase,
    JamSettings,
    JamSnapshot,
    Post,
    PostKind,
    Round,
    Step,
    Transition,
    VoteChange,
    VoteContext,
    VoteOutcome,
)
from bot.quota.models import (
    BlockedTerm,
    BudgetContext,
    BudgetTaken,
    Grant,
    JamFunds,
    Refusal,
)
from bot.store.base import BudgetRules, JamDecisions, ReserveRules
from bot.store.sqlite.batching import TransactionBatcher
from bot.store.sqlite.database import SqliteDatabase
from bot.store.sqlite.ledger import (
    GUILD_SCOPE,
    bump_counter,
    counter,
    guild_record,
    member_record,
    reserve_in_transaction,
)

_RUNNING = tuple(p.value for p in RUNNING_PHASES)
_RUNNING_SQL = ", ".join(f"'{p}'" for p in _RUNNING)
_JAM_SQL = "SELECT * FROM jams WHERE id = ?"
_SPENT_SQL = "SELECT COUNT(*) FROM quota_reservations WHERE jam_id = ? AND state != 'refunded'"
_ENTRY_COLUMNS = (
    "e.job_id, e.jam_id, e.round, e.number, e.user_id, e.display_name, e.prompt, "
    "e.final_prompt, e.negative_prompt, e.seed, e.riff_of, e.state, e.audio_path, e.created_at, "
    "r.state AS reservation_state"
)
_ENTRY_FROM = "jam_entries e LEFT JOIN quota_reservations r ON r.job_id = e.job_id"
# A thread's jam first, then the channel's running jam, then its latest.
_FIND_SQL = (
    "SELECT * FROM jams WHERE thread_id = ? OR channel_id = ? "  # noqa: S608
    f"ORDER BY thread_id = ? DESC, phase IN ({_RUNNING_SQL}) DESC, created_at DESC LIMIT 1"
)
_WAKEUP_SQL = (
    "SELECT MIN(t) FROM (SELECT MIN(phase_ends_at) AS t FROM jams "  # noqa: S608
    f"WHERE phase IN ({_RUNNING_SQL}) "
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
                f"SELECT 1 FROM jams WHERE channel_id = ? AND phase IN ({_RUNNING_SQL})",  # noqa: S608
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
            _insert_jam(conn, draft, taken, now)
            return _jam(conn.execute(_JAM_SQL, (draft.jam_id,)).fetchone())

        return await self._db.run_in_transaction(work)

    async def open(
        self, jam_id: str, *, thread_id: int, card_message_id: int, now: float, rules: JamDecisions
    ) -> Transition | None:
        def work(conn: sqlite3.Connection) -> Transition | None:
            jam = _get(conn, jam_id)
            if jam is None or jam.phase is not JamPhase.STARTING:
                return None
            conn.execute(
                "UPDATE jams SET thread_id = ?, card_message_id = ? WHERE id = ?",
                (thread_id, card_message_id, jam_id),
            )
            jam = replace(jam, thread_id=thread_id, card_message_id=card_message_id)
            return _apply(conn, jam, rules.first_step(jam.settings, now), now)

        return await self._db.run_in_transaction(work)

    async def get(self, jam_id: str) -> Jam | None:
        row = await self._db.fetchone(_JAM_SQL, (jam_id,))
        return None if row is None else _jam(row)

    async def find(self, channel_id: int) -> Jam | None:
        row = await self._db.fetchone(_FIND_SQL, (channel_id, channel_id, channel_id))
        return None if row is None else _jam(row)

    async def advance(self, jam_id: str, *, now: float, rules: JamDecisions) -> Transition | None:
        def work(conn: sqlite3.Connection) -> Transition | None:
            jam = _get(conn, jam_id)
            if jam is None or jam.phase_ends_at is None or jam.phase_ends_at > now:
                return None
            entries = conn.execute(
                f"SELECT COUNT(*) FROM {_ENTRY_FROM} WHERE e.jam_id = ? AND e.round = ? "  # noqa: S608
                "AND e.state != 'failed' AND r.state IS NOT NULL AND r.state != 'refunded'",
                (jam_id, jam.round),
            ).fetchone()[0]
            step = rules.step_after_deadline(jam, int(entries), now)
            return None if step is None else _apply(conn, jam, step, now)

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
            jam = _get(conn, jam_id)
            if jam is None or not jam.running:
                return None
            step = rules.step_to_end(jam, reason, now)
            return _apply(conn, jam, step, now, by=by)

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
            return _enter(conn, draft, now, blocked_term, reserve_rules, rules)

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
            return _vote(conn, jam_id, number, voter_id, now, rules)

        return await self._batcher.run(work)

    # -- reads -----------------------------------------------------------------------------------

    async def snapshot(self, jam_id: str) -> JamSnapshot | None:
        def work(conn: sqlite3.Connection) -> JamSnapshot | None:
            return _snapshot(conn, jam_id)

        return await self._db.run_in_transaction(work)

    async def due(self, now: float) -> list[str]:
        rows = await self._db.fetchall(
            f"SELECT id FROM jams WHERE phase IN ({_RUNNING_SQL}) "  # noqa: S608
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


# -- inside a transaction, on the database thread ------------------------------------------------


def _insert_jam(conn: sqlite3.Connection, draft: JamDraft, taken: BudgetTaken, now: float) -> None:
    s = draft.settings
    conn.execute(
        "INSERT INTO jams (id, guild_id, channel_id, host_id, theme, style, negative_prompt, "
        "rounds, round_seconds, vote_seconds, entries_per_round, budget, pool_period, phase, "
        "round, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'starting', 1, ?, ?)",
        (
            draft.jam_id,
            draft.guild_id,
            draft.channel_id,
            draft.host_id,
            s.theme,
            s.style,
            s.negative_prompt,
            s.rounds,
            s.round_seconds,
            s.vote_seconds,
            s.entries_per_round,
            s.budget,
            taken.pool_period,
            now,
            now,
        ),
    )
    bump_counter(conn, GUILD_SCOPE, draft.guild_id, taken.pool_period, taken.amount)


def _apply(
    conn: sqlite3.Connection, jam: Jam, step: Step, now: float, *, by: int | None = None
) -> Transition | None:
    """Take `step` if the jam is still where it was read (guarded), with its rounds, posts and,
    when it ends, the budget's settlement."""
    changed = conn.execute(
        "UPDATE jams SET phase = ?, round = ?, phase_ends_at = ?, updated_at = ?, "
        "end_reason = COALESCE(?, end_reason), ended_at = ?, ended_by = ? "
        "WHERE id = ? AND phase = ? AND round = ?",
        (
            step.phase.value,
            step.round,
            step.ends_at,
            now,
            step.end_reason.value if step.end_reason else None,
            now if step.end_reason else None,
            by,
            jam.id,
            jam.phase.value,
            jam.round,
        ),
    ).rowcount
    if changed != 1:
        return None
    if step.voting_opens:
        conn.execute(
            "UPDATE jam_rounds SET voting_opened_at = ?, vote_ends_at = ? "
            "WHERE jam_id = ? AND number = ?",
            (now, step.ends_at, jam.id, jam.round),
        )
    if step.closes_round:
        conn.execute(
            "UPDATE jam_rounds SET closed_at = ? WHERE jam_id = ? AND number = ? "
            "AND closed_at IS NULL",
            (now, jam.id, jam.round),
        )
    if step.opens_round:
        conn.execute(
            "INSERT INTO jam_rounds (jam_id, number, opened_at, submit_ends_at) "
            "VALUES (?, ?, ?, ?)",
            (jam.id, step.round, now, step.ends_at),
        )
    for kind in step.posts:
        post_round = step.round if kind is PostKind.OPEN else jam.round
        conn.execute(
            "INSERT INTO jam_posts (jam_id, kind, round, position, due_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (jam_id, kind, round) DO NOTHING",
            (jam.id, kind.value, post_round, POST_ORDER[kind], now),
        )
    spent = returned = None
    if step.end_reason is not None:
        spent, returned = _settle(conn, jam)
    after = _get(conn, jam.id)
    assert after is not None
    return Transition(after, step, spent, returned)


def _settle(conn: sqlite3.Connection, jam: Jam) -> tuple[int, int]:
    """Give the unspent budget back to the pool period it came from; (spent, returned)."""
    spent = int(conn.execute(_SPENT_SQL, (jam.id,)).fetchone()[0])
    rest = max(jam.settings.budget - spent, 0)
    bump_counter(conn, GUILD_SCOPE, jam.guild_id, jam.pool_period, -rest)
    conn.execute("UPDATE jams SET settled = 1, returned = ? WHERE id = ?", (rest, jam.id))
    return spent, rest


def _enter(
    conn: sqlite3.Connection,
    draft: EntryDraft,
    now: float,
    blocked_term: BlockedTerm | None,
    reserve_rules: ReserveRules,
    rules: JamDecisions,
) -> Accepted | EntryRefusal | Refusal:
    jam = _get(conn, draft.jam_id)
    if jam is None:
        raise LookupError(f"no jam {draft.jam_id}")
    already = _entry_by(conn, "e.job_id = ?", (draft.job_id,))
    if already is not None:  # a retry of an entry already written
        return Accepted(already, _budget_left(conn, jam), 0)
    current = _round(conn, jam.id, jam.round)
    used = int(
        conn.execute(
            f"SELECT COUNT(*) FROM {_ENTRY_FROM} WHERE e.jam_id = ? AND e.round = ? "  # noqa: S608
            "AND e.user_id = ? AND r.state IS NOT NULL AND r.state != 'refunded'",
            (jam.id, jam.round, draft.requester.user_id),
        ).fetchone()[0]
    )
    target = None
    if draft.riff_of is not None:
        target = _entry_by(conn, "e.job_id = ? AND e.jam_id = ?", (draft.riff_of, jam.id))
    ctx = EntryContext(jam, current, now, used, draft.riff_of is not None, target)
    refusal = rules.entry_refusal(ctx)
    if refusal is not None:
        return refusal
    funds = JamFunds(jam.id, _budget_left(conn, jam))
    decision = reserve_in_transaction(
        conn, draft.requester, draft.job_id, now, blocked_term, reserve_rules, funds
    )
    if isinstance(decision.outcome, Refusal):
        return decision.outcome
    assert isinstance(decision.outcome, Grant) and decision.reservation is not None
    number = int(
        conn.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM jam_entries WHERE jam_id = ?", (jam.id,)
        ).fetchone()[0]
    )
    conn.execute(
        "INSERT INTO jam_entries (job_id, jam_id, round, number, user_id, display_name, prompt, "
        "final_prompt, negative_prompt, seed, riff_of, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            draft.job_id,
            jam.id,
            jam.round,
            number,
            draft.requester.user_id,
            draft.display_name,
            draft.prompt,
            draft.final_prompt,
            draft.negative_prompt,
            draft.seed,
            draft.riff_of,
            now,
        ),
    )
    entry = _entry_by(conn, "e.job_id = ?", (draft.job_id,))
    assert entry is not None
    left = max(jam.settings.entries_per_round - used - 1, 0)
    return Accepted(entry, funds.left - 1, left, target)


def _vote(
    conn: sqlite3.Connection,
    jam_id: str,
    number: int,
    voter_id: int,
    now: float,
    rules: JamDecisions,
) -> VoteOutcome:
    jam = _get(conn, jam_id)
    entry = _entry_by(conn, "e.jam_id = ? AND e.number = ?", (jam_id, number))
    barred = False
    previous: int | None = None
    if jam is not None:
        barred = member_record(conn, jam.guild_id, voter_id).barred
        row = conn.execute(
            "SELECT entry FROM jam_votes WHERE jam_id = ? AND round = ? AND voter_id = ?",
            (jam_id, jam.round, voter_id),
        ).fetchone()
        previous = None if row is None else int(row[0])
    problem = rules.vote_problem(VoteContext(jam, entry, voter_id, barred, previous, now))
    if problem is not None:
        return VoteOutcome(problem)
    assert jam is not None
    conn.execute(
        "INSERT INTO jam_votes (jam_id, round, voter_id, entry, voted_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (jam_id, round, voter_id) DO UPDATE SET entry = excluded.entry, "
        "voted_at = excluded.voted_at",
        (jam_id, jam.round, voter_id, number, now),
    )
    if previous is None:
        change = VoteChange.CAST
    elif previous == number:
        change = VoteChange.UNCHANGED
    else:
        change = VoteChange.MOVED
    return VoteOutcome(None, change, number, previous, jam.round, jam.phase_ends_at)


def _snapshot(conn: sqlite3.Connection, jam_id: str) -> JamSnapshot | None:
    jam = _get(conn, jam_id)
    if jam is None:
        return None
    rounds = tuple(
        _round_record(r)
        for r in conn.execute(
            "SELECT * FROM jam_rounds WHERE jam_id = ? ORDER BY number", (jam_id,)
        ).fetchall()
    )
    closed = {r.number for r in rounds if r.closed_at is not None}
    votes = {
        (int(r[0]), int(r[1])): int(r[2])
        for r in conn.execute(
            "SELECT round, entry, COUNT(*) FROM jam_votes WHERE jam_id = ? GROUP BY round, entry",
            (jam_id,),
        ).fetchall()
    }
    voters = {
        int(r[0]): int(r[1])
        for r in conn.execute(
            "SELECT round, COUNT(*) FROM jam_votes WHERE jam_id = ? GROUP BY round", (jam_id,)
        ).fetchall()
    }
    rows = conn.execute(
        f"SELECT {_ENTRY_COLUMNS}, j.model, j.result_message_id, j.result_channel_id, "  # noqa: S608
        "j.audio_url, j.delivered_at, j.audio_duration_seconds "
        f"FROM {_ENTRY_FROM} LEFT JOIN jobs j ON j.id = e.job_id "
        "WHERE e.jam_id = ? ORDER BY e.number",
        (jam_id,),
    ).fetchall()
    entries = []
    for row in rows:
        entry = _entry(row)
        shown = votes.get((entry.round, entry.number), 0) if entry.round in closed else 0
        entries.append(
            replace(
                entry,
                votes=shown,
                model=row["model"],
                result_message_id=row["result_message_id"],
                result_channel_id=row["result_channel_id"],
                audio_url=row["audio_url"],
                delivered_at=row["delivered_at"],
                duration_seconds=row["audio_duration_seconds"],
            )
        )
    spent = int(conn.execute(_SPENT_SQL, (jam_id,)).fetchone()[0])
    shown_voters = {number: n for number, n in voters.items() if number in closed}
    return JamSnapshot(jam, rounds, tuple(entries), spent, shown_voters)


def _budget_left(conn: sqlite3.Connection, jam: Jam) -> int:
    spent = int(conn.execute(_SPENT_SQL, (jam.id,)).fetchone()[0])
    return max(jam.settings.budget - spent, 0)


def _get(conn: sqlite3.Connection, jam_id: str) -> Jam | None:
    row = conn.execute(_JAM_SQL, (jam_id,)).fetchone()
    return None if row is None else _jam(row)


def _round(conn: sqlite3.Connection, jam_id: str, number: int) -> Round | None:
    row = conn.execute(
        "SELECT * FROM jam_rounds WHERE jam_id = ? AND number = ?", (jam_id, number)
    ).fetchone()
    return None if row is None else _round_record(row)


def _entry_by(conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> Entry | None:
    row = conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM {_ENTRY_FROM} WHERE {where}",  # noqa: S608
        tuple(params),
    ).fetchone()
    return None if row is None else _entry(row)


# -- rows to records ------------------------------------------------------------------------------


def _jam(row: sqlite3.Row) -> Jam:
    return Jam(
        id=str(row["id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        thread_id=row["thread_id"],
        card_message_id=row["card_message_id"],
        host_id=int(row["host_id"]),
        settings=JamSettings(
            theme=str(row["theme"]),
            rounds=int(row["rounds"]),
            round_seconds=int(row["round_seconds"]),
            vote_seconds=int(row["vote_seconds"]),
            entries_per_round=int(row["entries_per_round"]),
            budget=int(row["budget"]),
            style=row["style"],
            negative_prompt=row["negative_prompt"],
        ),
        pool_period=int(row["pool_period"]),
        phase=JamPhase(row["phase"]),
        round=int(row["round"]),
        phase_ends_at=row["phase_ends_at"],
        settled=bool(row["settled"]),
        returned=int(row["returned"]),
        end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
    )


def _round_record(row: sqlite3.Row) -> Round:
    return Round(
        number=int(row["number"]),
        opened_at=float(row["opened_at"]),
        submit_ends_at=float(row["submit_ends_at"]),
        voting_opened_at=row["voting_opened_at"],
        vote_ends_at=row["vote_ends_at"],
        closed_at=row["closed_at"],
    )


def _entry(row: sqlite3.Row) -> Entry:
    reservation = row["reservation_state"]
    return Entry(
        job_id=str(row["job_id"]),
        jam_id=str(row["jam_id"]),
        round=int(row["round"]),
        number=int(row["number"]),
        user_id=int(row["user_id"]),
        display_name=str(row["display_name"]),
        prompt=str(row["prompt"]),
        final_prompt=str(row["final_prompt"]),
        negative_prompt=row["negative_prompt"],
        seed=row["seed"],
        riff_of=row["riff_of"],
        state=EntryState(row["state"]),
        audio_path=row["audio_path"],
        created_at=float(row["created_at"]),
        counted=reservation is not None and reservation != "refunded",
    )
