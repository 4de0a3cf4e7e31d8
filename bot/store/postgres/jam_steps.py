"""PostgreSQL: a jam's changes inside one transaction (the repository in `jams.py` opens it).

Several processes write at once (READ COMMITTED), so each change reads the jam with
`FOR UPDATE` (entries, steps) or `FOR SHARE` (votes) before deciding: whoever comes second
waits, then decides on what the first wrote. Changes that move quota counts (a budget taken or
given back, an entry's reservation) run in transactions holding the quota lock, like the
ledger's own, and take it before the jam's row: one lock order, no deadlock with a refund.
"""

from __future__ import annotations

from dataclasses import replace

import bot.store.postgres.ledger as ledger
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
from bot.quota.models import (
    BlockedTerm,
    BudgetContext,
    BudgetTaken,
    Grant,
    JamFunds,
    Refusal,
    ReserveDecision,
)
from bot.store import jam_rows
from bot.store.base import BudgetRules, JamDecisions, ReserveRules
from bot.store.postgres.database import Connection
from bot.store.rows import guild_from_row, member_from_row

GUILD_SCOPE = "guild"
JAM_SQL = "SELECT * FROM jams WHERE id = $1"
_SPENT_SQL = "SELECT COUNT(*) FROM quota_reservations WHERE jam_id = $1 AND state <> 'refunded'"
_MEMBER_SQL = (
    "SELECT extra_credit, window_reset_at, barred FROM quota_members "
    "WHERE guild_id = $1 AND user_id = $2"
)
# Two votes of one member in one jam at once decide one after the other (namespace "LJV").
_VOTER_LOCK = f"SELECT pg_advisory_xact_lock({0x4C4A56}, hashtext($1 || ':' || $2::text))"


async def get(conn: Connection, jam_id: str, *, lock: str = "") -> Jam | None:
    """The jam; `lock` "FOR UPDATE" or "FOR SHARE" to hold its row until the end."""
    row = await conn.fetchrow(f"{JAM_SQL} {lock}", jam_id)
    return None if row is None else jam_rows.jam_from_row(row)


# -- a jam's life ------------------------------------------------------------------------------


async def create(
    conn: Connection, draft: JamDraft, now: float, rules: BudgetRules
) -> Jam | Refusal | None:
    """In a transaction holding the quota lock: the budget leaves the pool as the jam starts."""
    busy = await conn.fetchval(
        f"SELECT 1 FROM jams WHERE channel_id = $1 AND phase IN ({jam_rows.RUNNING_SQL})",  # noqa: S608
        draft.channel_id,
    )
    if busy is not None:
        return None
    guild = await conn.fetchrow(
        "SELECT * FROM quota_guild_settings WHERE guild_id = $1", draft.guild_id
    )
    ctx = BudgetContext(
        guild=None if guild is None else guild_from_row(guild),
        host=member_from_row(await conn.fetchrow(_MEMBER_SQL, draft.guild_id, draft.host_id)),
        amount=draft.settings.budget,
        now=now,
    )
    period = rules.plan_budget(ctx)
    if isinstance(period, Refusal):
        return period
    used = await conn.fetchval(
        "SELECT used FROM quota_counters WHERE scope = $1 AND scope_id = $2 AND period = $3",
        GUILD_SCOPE,
        draft.guild_id,
        period,
    )
    taken = rules.take_budget(ctx, period, int(used or 0))
    if isinstance(taken, Refusal):
        return taken
    await _insert_jam(conn, draft, taken, now)
    return await get(conn, draft.jam_id)


async def _insert_jam(conn: Connection, draft: JamDraft, taken: BudgetTaken, now: float) -> None:
    s = draft.settings
    await conn.execute(
        "INSERT INTO jams (id, guild_id, channel_id, host_id, theme, style, negative_prompt, "
        "rounds, round_seconds, vote_seconds, entries_per_round, budget, pool_period, phase, "
        "round, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'starting', 1, $14, $14)",
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
    )
    await _bump_pool(conn, draft.guild_id, taken.pool_period, taken.amount)


async def _bump_pool(conn: Connection, guild_id: int, period: int, delta: int) -> None:
    await conn.execute(
        "INSERT INTO quota_counters (scope, scope_id, period, used) "
        "VALUES ($1, $2, $3, GREATEST($4::int, 0)) ON CONFLICT (scope, scope_id, period) "
        "DO UPDATE SET used = GREATEST(quota_counters.used + $4::int, 0)",
        GUILD_SCOPE,
        guild_id,
        period,
        delta,
    )


async def counted_in_round(conn: Connection, jam: Jam) -> int:
    """The round's entries still in the running (counted, not failed)."""
    value = await conn.fetchval(
        f"SELECT COUNT(*) FROM {jam_rows.ENTRY_FROM} WHERE e.jam_id = $1 AND e.round = $2 "  # noqa: S608
        f"AND e.state <> 'failed' AND {jam_rows.COUNTED}",
        jam.id,
        jam.round,
    )
    return int(value)


async def apply(
    conn: Connection, jam: Jam, step: Step, now: float, *, by: int | None = None
) -> Transition | None:
    """Take `step` if the jam is still where it was read (guarded), with its rounds, posts and,
    when it ends, the budget's settlement (the caller holds the quota lock then)."""
    status = await conn.execute(
        "UPDATE jams SET phase = $1, round = $2, phase_ends_at = $3, updated_at = $4, "
        "end_reason = COALESCE($5, end_reason), ended_at = $6, ended_by = $7 "
        "WHERE id = $8 AND phase = $9 AND round = $10",
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
    )
    if status != "UPDATE 1":
        return None
    if step.voting_opens:
        await conn.execute(
            "UPDATE jam_rounds SET voting_opened_at = $1, vote_ends_at = $2 "
            "WHERE jam_id = $3 AND number = $4",
            now,
            step.ends_at,
            jam.id,
            jam.round,
        )
    if step.closes_round:
        await conn.execute(
            "UPDATE jam_rounds SET closed_at = $1 WHERE jam_id = $2 AND number = $3 "
            "AND closed_at IS NULL",
            now,
            jam.id,
            jam.round,
        )
    if step.opens_round:
        await conn.execute(
            "INSERT INTO jam_rounds (jam_id, number, opened_at, submit_ends_at) "
            "VALUES ($1, $2, $3, $4)",
            jam.id,
            step.round,
            now,
            step.ends_at,
        )
    if step.posts:
        await conn.executemany(
            "INSERT INTO jam_posts (jam_id, kind, round, position, due_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jam_id, kind, round) DO NOTHING",
            [
                (
                    jam.id,
                    kind.value,
                    step.round if kind is PostKind.OPEN else jam.round,
                    POST_ORDER[kind],
                    now,
                )
                for kind in step.posts
            ],
        )
    spent = returned = None
    if step.end_reason is not None:
        spent, returned = await _settle(conn, jam)
    after = await get(conn, jam.id)
    assert after is not None
    return Transition(after, step, spent, returned)


async def _settle(conn: Connection, jam: Jam) -> tuple[int, int]:
    """Give the unspent budget back to the pool period it came from; (spent, returned)."""
    spent = int(await conn.fetchval(_SPENT_SQL, jam.id))
    rest = jam_rows.budget_left(jam.settings.budget, spent)
    await _bump_pool(conn, jam.guild_id, jam.pool_period, -rest)
    await conn.execute("UPDATE jams SET settled = 1, returned = $1 WHERE id = $2", rest, jam.id)
    return spent, rest


# -- entries and votes -------------------------------------------------------------------------


async def enter(
    conn: Connection,
    draft: EntryDraft,
    now: float,
    blocked_term: BlockedTerm | None,
    reserve_rules: ReserveRules,
    rules: JamDecisions,
) -> Accepted | EntryRefusal | Refusal:
    """In a transaction holding the quota lock: decide, reserve from the jam's budget, write."""
    jam = await get(conn, draft.jam_id, lock="FOR UPDATE")
    if jam is None:
        raise LookupError(f"no jam {draft.jam_id}")
    already = await _entry_by(conn, "e.job_id = $1", draft.job_id)
    if already is not None:  # a retry of an entry already written
        return Accepted(already, await _budget_left(conn, jam), 0)
    used = int(
        await conn.fetchval(
            f"SELECT COUNT(*) FROM {jam_rows.ENTRY_FROM} WHERE e.jam_id = $1 AND e.round = $2 "  # noqa: S608
            f"AND e.user_id = $3 AND {jam_rows.COUNTED}",
            jam.id,
            jam.round,
            draft.requester.user_id,
        )
    )
    target = None
    if draft.riff_of is not None:
        target = await _entry_by(conn, "e.job_id = $1 AND e.jam_id = $2", draft.riff_of, jam.id)
    current = await _round(conn, jam.id, jam.round)
    refusal = rules.entry_refusal(
        EntryContext(jam, current, now, used, draft.riff_of is not None, target)
    )
    if refusal is not None:
        return refusal
    funds = JamFunds(jam.id, await _budget_left(conn, jam))
    call = ledger.Reserve(draft.requester, draft.job_id, now, blocked_term, reserve_rules)
    decision = await _reserve(conn, call, funds)
    if isinstance(decision.outcome, Refusal):
        return decision.outcome
    assert isinstance(decision.outcome, Grant) and decision.reservation is not None
    entry = await _insert_entry(conn, draft, jam, now)
    left = jam_rows.entries_left(jam.settings.entries_per_round, used + 1)
    return Accepted(entry, funds.left - 1, left, target)


async def _reserve(conn: Connection, call: ledger.Reserve, funds: JamFunds) -> ReserveDecision:
    """The quota's rules on the ledger's reads and writes, paid by the jam's `funds`."""
    (ctx,) = await ledger.contexts_of(conn, [call])
    ctx = replace(ctx, funds=funds)
    planned = call.rules.plan(ctx)
    if isinstance(planned, ReserveDecision):
        return planned
    requester = call.requester
    (usage,) = await ledger.usages_of(conn, [(requester.scope_id, requester.user_id, planned)])
    decision = call.rules.decide(ctx, planned, usage)
    if decision.reservation is not None:
        await ledger.take(conn, [decision.reservation])
    return decision


async def _insert_entry(conn: Connection, draft: EntryDraft, jam: Jam, now: float) -> Entry:
    await conn.execute(
        "INSERT INTO jam_entries (job_id, jam_id, round, number, user_id, display_name, prompt, "
        "final_prompt, negative_prompt, seed, riff_of, created_at) "
        "SELECT $1, $2, $3, COALESCE(MAX(number), 0) + 1, $4, $5, $6, $7, $8, $9, $10, $11 "
        "FROM jam_entries WHERE jam_id = $2",
        draft.job_id,
        jam.id,
        jam.round,
        draft.requester.user_id,
        draft.display_name,
        draft.prompt,
        draft.final_prompt,
        draft.negative_prompt,
        draft.seed,
        draft.riff_of,
        now,
    )
    entry = await _entry_by(conn, "e.job_id = $1", draft.job_id)
    assert entry is not None
    return entry


async def vote(
    conn: Connection, jam_id: str, number: int, voter_id: int, now: float, rules: JamDecisions
) -> VoteOutcome:
    """Votes move no count: no quota lock, the jam's row shared (a deadline waits for them)."""
    await conn.execute(_VOTER_LOCK, jam_id, str(voter_id))
    jam = await get(conn, jam_id, lock="FOR SHARE")
    entry = await _entry_by(conn, "e.jam_id = $1 AND e.number = $2", jam_id, number)
    barred = False
    previous: int | None = None
    if jam is not None:
        barred = member_from_row(await conn.fetchrow(_MEMBER_SQL, jam.guild_id, voter_id)).barred
        value = await conn.fetchval(
            "SELECT entry FROM jam_votes WHERE jam_id = $1 AND round = $2 AND voter_id = $3",
            jam_id,
            jam.round,
            voter_id,
        )
        previous = None if value is None else int(value)
    problem = rules.vote_problem(VoteContext(jam, entry, voter_id, barred, previous, now))
    if problem is not None:
        return VoteOutcome(problem)
    assert jam is not None
    await conn.execute(
        "INSERT INTO jam_votes (jam_id, round, voter_id, entry, voted_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jam_id, round, voter_id) DO UPDATE SET "
        "entry = excluded.entry, voted_at = excluded.voted_at",
        jam_id,
        jam.round,
        voter_id,
        number,
        now,
    )
    change = jam_rows.vote_change(previous, number)
    return VoteOutcome(None, change, number, previous, jam.round, jam.phase_ends_at)


# -- reads -------------------------------------------------------------------------------------


async def snapshot(conn: Connection, jam_id: str) -> JamSnapshot | None:
    """Everything about a jam, read in one (repeatable-read) transaction."""
    jam = await get(conn, jam_id)
    if jam is None:
        return None
    rounds = tuple(
        jam_rows.round_from_row(r)
        for r in await conn.fetch(
            "SELECT * FROM jam_rounds WHERE jam_id = $1 ORDER BY number", jam_id
        )
    )
    closed = {r.number for r in rounds if r.closed_at is not None}
    votes = {
        (int(r[0]), int(r[1])): int(r[2])
        for r in await conn.fetch(
            "SELECT round, entry, COUNT(*) FROM jam_votes WHERE jam_id = $1 GROUP BY round, entry",
            jam_id,
        )
    }
    voters = {
        int(r[0]): int(r[1])
        for r in await conn.fetch(
            "SELECT round, COUNT(*) FROM jam_votes WHERE jam_id = $1 GROUP BY round", jam_id
        )
    }
    rows = await conn.fetch(
        f"{jam_rows.SNAPSHOT_ENTRY_SQL} WHERE e.jam_id = $1 ORDER BY e.number", jam_id
    )
    entries = tuple(jam_rows.snapshot_entry(row, votes, closed) for row in rows)
    spent = int(await conn.fetchval(_SPENT_SQL, jam_id))
    shown_voters = {n: count for n, count in voters.items() if n in closed}
    return JamSnapshot(jam, rounds, entries, spent, shown_voters)


async def _budget_left(conn: Connection, jam: Jam) -> int:
    return jam_rows.budget_left(jam.settings.budget, int(await conn.fetchval(_SPENT_SQL, jam.id)))


async def _round(conn: Connection, jam_id: str, number: int) -> Round | None:
    row = await conn.fetchrow(
        "SELECT * FROM jam_rounds WHERE jam_id = $1 AND number = $2", jam_id, number
    )
    return None if row is None else jam_rows.round_from_row(row)


async def _entry_by(conn: Connection, where: str, *args: object) -> Entry | None:
    row = await conn.fetchrow(
        f"SELECT {jam_rows.ENTRY_COLUMNS} FROM {jam_rows.ENTRY_FROM} WHERE {where}",  # noqa: S608
        *args,
    )
    return None if row is None else jam_rows.entry_from_row(row)
