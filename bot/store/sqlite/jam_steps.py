"""SQLite: a jam's changes inside one transaction, on the database thread (the repository in
`jams.py` opens it). SQLite runs one write transaction at a time (BEGIN IMMEDIATE), which makes
every read-check-write here exact; PostgreSQL's twin (`bot/store/postgres/jam_steps.py`) takes
row and quota locks instead."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.jams.models import (
    POST_ORDER,
    Accepted,
    Entry,
    EntryContext,
    EntryDraft,
    EntryRefusal,
    Jam,
    JamDraft,
    JamSnapshot,
    PostKind,
    Round,
    Step,
    Transition,
    VoteContext,
    VoteOutcome,
)
from bot.quota.models import BlockedTerm, BudgetTaken, Grant, JamFunds, Refusal
from bot.store import jam_rows
from bot.store.base import JamDecisions, ReserveRules
from bot.store.sqlite.ledger import (
    GUILD_SCOPE,
    bump_counter,
    member_record,
    reserve_in_transaction,
)

JAM_SQL = "SELECT * FROM jams WHERE id = ?"
_SPENT_SQL = "SELECT COUNT(*) FROM quota_reservations WHERE jam_id = ? AND state != 'refunded'"


def insert_jam(conn: sqlite3.Connection, draft: JamDraft, taken: BudgetTaken, now: float) -> None:
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


def apply(
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
    after = get(conn, jam.id)
    assert after is not None
    return Transition(after, step, spent, returned)


def _settle(conn: sqlite3.Connection, jam: Jam) -> tuple[int, int]:
    """Give the unspent budget back to the pool period it came from; (spent, returned)."""
    spent = int(conn.execute(_SPENT_SQL, (jam.id,)).fetchone()[0])
    rest = jam_rows.budget_left(jam.settings.budget, spent)
    bump_counter(conn, GUILD_SCOPE, jam.guild_id, jam.pool_period, -rest)
    conn.execute("UPDATE jams SET settled = 1, returned = ? WHERE id = ?", (rest, jam.id))
    return spent, rest


def enter(
    conn: sqlite3.Connection,
    draft: EntryDraft,
    now: float,
    blocked_term: BlockedTerm | None,
    reserve_rules: ReserveRules,
    rules: JamDecisions,
) -> Accepted | EntryRefusal | Refusal:
    jam = get(conn, draft.jam_id)
    if jam is None:
        raise LookupError(f"no jam {draft.jam_id}")
    already = _entry_by(conn, "e.job_id = ?", (draft.job_id,))
    if already is not None:  # a retry of an entry already written
        return Accepted(already, _budget_left(conn, jam), 0)
    current = _round(conn, jam.id, jam.round)
    used = int(
        conn.execute(
            f"SELECT COUNT(*) FROM {jam_rows.ENTRY_FROM} WHERE e.jam_id = ? AND e.round = ? "  # noqa: S608
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
    left = jam_rows.entries_left(jam.settings.entries_per_round, used + 1)
    return Accepted(entry, funds.left - 1, left, target)


def vote(
    conn: sqlite3.Connection,
    jam_id: str,
    number: int,
    voter_id: int,
    now: float,
    rules: JamDecisions,
) -> VoteOutcome:
    jam = get(conn, jam_id)
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
    change = jam_rows.vote_change(previous, number)
    return VoteOutcome(None, change, number, previous, jam.round, jam.phase_ends_at)


def snapshot(conn: sqlite3.Connection, jam_id: str) -> JamSnapshot | None:
    jam = get(conn, jam_id)
    if jam is None:
        return None
    rounds = tuple(
        jam_rows.round_from_row(r)
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
        f"{jam_rows.SNAPSHOT_ENTRY_SQL} WHERE e.jam_id = ? ORDER BY e.number", (jam_id,)
    ).fetchall()
    entries = [jam_rows.snapshot_entry(row, votes, closed) for row in rows]
    spent = int(conn.execute(_SPENT_SQL, (jam_id,)).fetchone()[0])
    shown_voters = {number: n for number, n in voters.items() if number in closed}
    return JamSnapshot(jam, rounds, tuple(entries), spent, shown_voters)


def _budget_left(conn: sqlite3.Connection, jam: Jam) -> int:
    spent = int(conn.execute(_SPENT_SQL, (jam.id,)).fetchone()[0])
    return jam_rows.budget_left(jam.settings.budget, spent)


def get(conn: sqlite3.Connection, jam_id: str) -> Jam | None:
    row = conn.execute(JAM_SQL, (jam_id,)).fetchone()
    return None if row is None else jam_rows.jam_from_row(row)


def _round(conn: sqlite3.Connection, jam_id: str, number: int) -> Round | None:
    row = conn.execute(
        "SELECT * FROM jam_rounds WHERE jam_id = ? AND number = ?", (jam_id, number)
    ).fetchone()
    return None if row is None else jam_rows.round_from_row(row)


def _entry_by(conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> Entry | None:
    row = conn.execute(
        f"SELECT {jam_rows.ENTRY_COLUMNS} FROM {jam_rows.ENTRY_FROM} WHERE {where}",  # noqa: S608
        tuple(params),
    ).fetchone()
    return None if row is None else jam_rows.entry_from_row(row)
