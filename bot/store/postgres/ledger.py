"""The quota ledger's calls (reserve, commit, refund, finish), many at a time, set-based.

`LedgerBatch.run(conn, calls)` runs in a transaction that holds the quota lock (see
`batching`). The calls are cut into segments, in arrival order, so that no segment holds two
reservations for one member or one job, nor a reservation for a job something before it in
the segment touches, nor two different kinds of call for one job. Inside a segment:

1. every reservation's context is read in one statement, the rules plan each, the counts the
   plans ask for are read in one statement, then the rules decide each in turn, the server
   pools and the bot-wide cap counting the grants decided before it in the segment;
2. every grant is written in one statement (rows, pool and cap counters, extra credit);
3. the commits, refunds and finishes follow, one statement each kind.

So a segment of 50 calls costs a handful of round trips instead of a hundred. Reservations are
decided before the commits, refunds and finishes of their segment, which can only make them
stricter (more still counted), never grant what another took.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.quota.models import (
    BlockedTerm,
    GenerationNote,
    Requester,
    Reservation,
    ReserveContext,
    ReserveDecision,
    Usage,
    UsageQuery,
)
from bot.store.base import ReserveRules
from bot.store.postgres.database import Connection
from bot.store.rows import (
    guild_from_row,
    member_from_row,
    reservation_from_row,
    role_overrides_from_rows,
)


@dataclass(frozen=True)
class Reserve:
    requester: Requester
    job_id: str
    now: float
    blocked_term: BlockedTerm | None
    rules: ReserveRules


@dataclass(frozen=True)
class Commit:
    job_id: str
    now: float


@dataclass(frozen=True)
class Refund:
    job_id: str
    now: float


@dataclass(frozen=True)
class Finish:
    job_id: str
    now: float
    note: GenerationNote | None


Call = Reserve | Commit | Refund | Finish
# What each call gets back: (True, value) or (False, the exception its caller raises).
Outcome = tuple[bool, Any]


def segments(calls: Sequence[Call]) -> list[list[int]]:
    """Indexes of `calls`, cut where running a segment set-wise could differ from arrival
    order (see the module's docstring)."""
    found: list[list[int]] = []
    current: list[int] = []
    members: set[tuple[int, int]] = set()
    reserving: set[str] = set()
    others: dict[str, type] = {}
    for index, call in enumerate(calls):
        if isinstance(call, Reserve):
            member = (call.requester.scope_id, call.requester.user_id)
            clash = member in members or call.job_id in reserving or call.job_id in others
        else:
            clash = others.get(call.job_id, type(call)) is not type(call)
        if clash and current:
            found.append(current)
            current, members, reserving, others = [], set(), set(), {}
        current.append(index)
        if isinstance(call, Reserve):
            members.add((call.requester.scope_id, call.requester.user_id))
            reserving.add(call.job_id)
        else:
            others[call.job_id] = type(call)
    if current:
        found.append(current)
    return found


async def run(conn: Connection, calls: Sequence[Call]) -> list[Outcome]:
    """Run `calls` in the open, locked transaction; one outcome per call, in order."""
    outcomes: list[Outcome | None] = [None] * len(calls)
    for segment in segments(calls):
        await _run_segment(conn, [(i, calls[i]) for i in segment], outcomes)
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


async def _run_segment(
    conn: Connection, items: list[tuple[int, Call]], outcomes: list[Outcome | None]
) -> None:
    reserves = [(i, c) for i, c in items if isinstance(c, Reserve)]
    if reserves:
        for i, outcome in zip(
            [i for i, _ in reserves], await _reserve(conn, [c for _, c in reserves]), strict=True
        ):
            outcomes[i] = outcome
    commits = [(i, c) for i, c in items if isinstance(c, Commit)]
    if commits:
        done = await _changed(conn, _COMMIT_SQL, [(c.job_id, c.now) for _, c in commits])
        for (i, _), changed in zip(commits, done, strict=True):
            outcomes[i] = (True, changed)
    refunds = [(i, c) for i, c in items if isinstance(c, Refund)]
    if refunds:
        done = await _changed(conn, _REFUND_SQL, [(c.job_id, c.now) for _, c in refunds])
        for (i, _), changed in zip(refunds, done, strict=True):
            outcomes[i] = (True, changed)
    finishes = [(i, c) for i, c in items if isinstance(c, Finish)]
    if finishes:
        await _finish(conn, [c for _, c in finishes])
        for i, _ in finishes:
            outcomes[i] = (True, None)


# -- reservations --------------------------------------------------------------------------------


async def _reserve(conn: Connection, calls: list[Reserve]) -> list[Outcome]:
    contexts = await contexts_of(conn, calls)
    outcomes: list[Outcome | None] = [None] * len(calls)
    plans: list[tuple[int, UsageQuery]] = []
    for n, (call, ctx) in enumerate(zip(calls, contexts, strict=True)):
        try:
            planned = call.rules.plan(ctx)
        except Exception as error:  # e.g. the job id is someone else's: nothing written
            outcomes[n] = (False, error)
            continue
        if isinstance(planned, ReserveDecision):
            outcomes[n] = (True, planned)
        else:
            plans.append((n, planned))
    usages = await usages_of(
        conn, [(calls[n].requester.scope_id, calls[n].requester.user_id, q) for n, q in plans]
    )
    pools: dict[tuple[int, int], int] = {}  # granted in this segment, per pool period
    caps: dict[int, int] = {}  # and per UTC day
    granted: list[Reservation] = []
    for (n, query), usage in zip(plans, usages, strict=True):
        call = calls[n]
        pool = (call.requester.scope_id, query.pool_period or 0)
        usage = replace(
            usage,
            pool_used=usage.pool_used + pools.get(pool, 0),
            bot_used=usage.bot_used + caps.get(query.bot_day, 0),
        )
        try:
            decision = call.rules.decide(contexts[n], query, usage)
        except Exception as error:
            outcomes[n] = (False, error)
            continue
        outcomes[n] = (True, decision)
        if decision.reservation is not None:
            granted.append(decision.reservation)
            if query.pool_period is not None:
                pools[pool] = pools.get(pool, 0) + 1
            caps[query.bot_day] = caps.get(query.bot_day, 0) + 1
    if granted:
        await take(conn, granted)
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


# Everything reservations are decided on, one row per call (rows as JSON text).
_CONTEXT_SQL = """
SELECT
    (SELECT row_to_json(r)::text FROM quota_reservations r WHERE r.job_id = i.job_id)
        AS existing,
    (SELECT row_to_json(g)::text FROM quota_guild_settings g
        WHERE g.guild_id = i.gid AND i.in_guild) AS guild,
    EXISTS (SELECT 1 FROM quota_allowed_channels c
        WHERE c.guild_id = i.gid AND c.channel_id = i.channel) AS channel_listed,
    (SELECT json_agg(o ORDER BY o.role_id)::text FROM quota_role_overrides o
        WHERE o.guild_id = i.gid AND i.roles) AS overrides,
    (SELECT row_to_json(m)::text FROM quota_members m
        WHERE m.guild_id = i.gid AND m.user_id = i.uid) AS member
FROM unnest($1::text[], $2::bigint[], $3::bool[], $4::bigint[], $5::bool[], $6::bigint[])
    WITH ORDINALITY AS i (job_id, gid, in_guild, channel, roles, uid, n)
ORDER BY i.n
"""


async def contexts_of(conn: Connection, calls: Sequence[Reserve]) -> list[ReserveContext]:
    in_guild = [c.requester.guild_id is not None for c in calls]
    rows = await conn.fetch(
        _CONTEXT_SQL,
        [c.job_id for c in calls],
        [c.requester.scope_id for c in calls],
        in_guild,
        [c.requester.channel_id for c in calls],
        [g and bool(c.requester.role_ids) for c, g in zip(calls, in_guild, strict=True)],
        [c.requester.user_id for c in calls],
    )
    contexts: list[ReserveContext] = []
    for call, row in zip(calls, rows, strict=True):
        existing = _json(row["existing"])
        guild_row = _json(row["guild"])
        guild = None if guild_row is None else guild_from_row(guild_row)
        restricted = guild is not None and guild.channels_restricted
        contexts.append(
            ReserveContext(
                requester=call.requester,
                job_id=call.job_id,
                now=call.now,
                existing=None if existing is None else reservation_from_row(existing),
                guild=guild,
                member=member_from_row(_json(row["member"])),
                channel_allowed=restricted
                and call.requester.channel_id is not None
                and bool(row["channel_listed"]),
                overrides=tuple(role_overrides_from_rows(_json(row["overrides"]) or [])),
                blocked_term=call.blocked_term,
            )
        )
    return contexts


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# The counts UsageQueries ask for, one row per query; a NULL bound means "not asked".
_USAGE_SQL = """
SELECT
    CASE WHEN i.in_flight_since IS NULL THEN 0 ELSE (
        SELECT COUNT(*) FROM quota_reservations q
        WHERE q.guild_id = i.gid AND q.user_id = i.uid AND q.in_flight
            AND q.created_at > i.in_flight_since
    ) END AS in_flight,
    CASE WHEN i.window_since IS NULL THEN '{}'::float8[] ELSE ARRAY(
        SELECT q.created_at FROM quota_reservations q
        WHERE q.guild_id = i.gid AND q.user_id = i.uid AND q.created_at > i.window_since
            AND q.counts_member AND NOT q.used_extra AND q.state <> 'refunded'
        ORDER BY q.created_at
    ) END AS window_times,
    CASE WHEN i.pool_period IS NULL THEN 0 ELSE COALESCE((
        SELECT c.used FROM quota_counters c
        WHERE c.scope = 'guild' AND c.scope_id = i.gid AND c.period = i.pool_period
    ), 0) END AS pool_used,
    COALESCE((
        SELECT c.used FROM quota_counters c
        WHERE c.scope = 'bot' AND c.scope_id = 0 AND c.period = i.bot_day
    ), 0) AS bot_used
FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[], $5::bigint[], $6::bigint[])
    WITH ORDINALITY AS i (gid, uid, in_flight_since, window_since, pool_period, bot_day, n)
ORDER BY i.n
"""


async def usages_of(
    conn: Connection, queries: Sequence[tuple[int, int, UsageQuery]]
) -> list[Usage]:
    """The counts for each (server, member, query)."""
    if not queries:
        return []
    rows = await conn.fetch(
        _USAGE_SQL,
        [gid for gid, _, _ in queries],
        [uid for _, uid, _ in queries],
        [q.in_flight_since for _, _, q in queries],
        [q.window_since for _, _, q in queries],
        [q.pool_period for _, _, q in queries],
        [q.bot_day for _, _, q in queries],
    )
    return [
        Usage(
            in_flight=int(row["in_flight"]),
            window_times=tuple(float(t) for t in row["window_times"]),
            pool_used=int(row["pool_used"]),
            bot_used=int(row["bot_used"]),
        )
        for row in rows
    ]


_TAKE_SQL = """
WITH r AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
        $6::bool[], $7::bool[], $8::bool[], $9::bigint[], $10::int[], $11::int[], $12::int[],
        $13::float8[], $14::float8[], $15::text[])
    AS t (job_id, guild_id, user_id, channel_id, state, in_flight, counts_member, used_extra,
        pool_period, bot_day, member_remaining, pool_remaining, created_at, updated_at, jam_id)
), reservations AS (
    INSERT INTO quota_reservations (job_id, guild_id, user_id, channel_id, state, in_flight,
        counts_member, used_extra, pool_period, bot_day, member_remaining, pool_remaining,
        created_at, updated_at, jam_id)
    SELECT job_id, guild_id, user_id, channel_id, state, in_flight, counts_member, used_extra,
        pool_period, bot_day, member_remaining, pool_remaining, created_at, updated_at, jam_id
    FROM r
), pools AS (
    INSERT INTO quota_counters (scope, scope_id, period, used)
    SELECT 'guild', guild_id, pool_period, COUNT(*) FROM r WHERE pool_period IS NOT NULL
    GROUP BY guild_id, pool_period
    ON CONFLICT (scope, scope_id, period)
    DO UPDATE SET used = quota_counters.used + excluded.used
), caps AS (
    INSERT INTO quota_counters (scope, scope_id, period, used)
    SELECT 'bot', 0, bot_day, COUNT(*) FROM r GROUP BY bot_day
    ON CONFLICT (scope, scope_id, period)
    DO UPDATE SET used = quota_counters.used + excluded.used
)
UPDATE quota_members m SET extra_credit = GREATEST(m.extra_credit - 1, 0)
FROM r WHERE r.used_extra AND m.guild_id = r.guild_id AND m.user_id = r.user_id
"""


async def take(conn: Connection, granted: list[Reservation]) -> None:
    """Insert the granted reservations and take what they count, in one statement."""
    await conn.execute(
        _TAKE_SQL,
        [r.job_id for r in granted],
        [r.guild_id for r in granted],
        [r.user_id for r in granted],
        [r.channel_id for r in granted],
        [r.state.value for r in granted],
        [r.in_flight for r in granted],
        [r.counts_member for r in granted],
        [r.used_extra for r in granted],
        [r.pool_period for r in granted],
        [r.bot_day for r in granted],
        [r.member_remaining for r in granted],
        [r.pool_remaining for r in granted],
        [r.created_at for r in granted],
        [r.updated_at for r in granted],
        [r.jam_id for r in granted],
    )


# -- commits, refunds, finishes ----------------------------------------------------------------

_COMMIT_SQL = """
UPDATE quota_reservations q SET state = 'committed', updated_at = t.now
FROM unnest($1::text[], $2::float8[]) AS t (job_id, now)
WHERE q.job_id = t.job_id AND q.state = 'reserved'
RETURNING q.job_id
"""

# reserved -> refunded, giving back everything a grant took. A jam-paid piece (`jam_id`) goes
# back to its jam's budget: nothing to write while the jam holds it (what a jam spent is counted
# from these rows); once the jam has given its rest back (`settled`), to the pool period the
# budget came from. The pool counters are updated once per row (one UPDATE per statement).
_REFUND_SQL = """
WITH refunded AS (
    UPDATE quota_reservations q SET state = 'refunded', in_flight = FALSE, updated_at = t.now
    FROM unnest($1::text[], $2::float8[]) AS t (job_id, now)
    WHERE q.job_id = t.job_id AND q.state = 'reserved'
    RETURNING q.job_id, q.guild_id, q.user_id, q.pool_period, q.bot_day, q.used_extra, q.jam_id
), to_jams AS (
    SELECT j.id, j.guild_id, j.pool_period, COUNT(*)::int AS n
    FROM refunded r JOIN jams j ON j.id = r.jam_id
    WHERE j.settled <> 0 GROUP BY j.id, j.guild_id, j.pool_period
), pools AS (
    UPDATE quota_counters c SET used = GREATEST(c.used - d.n, 0)
    FROM (SELECT guild_id, pool_period, SUM(n)::int AS n FROM (
            SELECT guild_id, pool_period, 1 AS n FROM refunded WHERE pool_period IS NOT NULL
            UNION ALL SELECT guild_id, pool_period, n FROM to_jams
        ) AS back GROUP BY guild_id, pool_period) AS d
    WHERE c.scope = 'guild' AND c.scope_id = d.guild_id AND c.period = d.pool_period
), jams_back AS (
    UPDATE jams j SET returned = j.returned + t.n FROM to_jams t WHERE j.id = t.id
), caps AS (
    UPDATE quota_counters c SET used = GREATEST(c.used - d.n, 0)
    FROM (SELECT bot_day, COUNT(*) AS n FROM refunded GROUP BY bot_day) AS d
    WHERE c.scope = 'bot' AND c.scope_id = 0 AND c.period = d.bot_day
), extra AS (
    INSERT INTO quota_members (guild_id, user_id, extra_credit)
    SELECT guild_id, user_id, COUNT(*) FROM refunded WHERE used_extra
    GROUP BY guild_id, user_id
    ON CONFLICT (guild_id, user_id)
    DO UPDATE SET extra_credit = quota_members.extra_credit + excluded.extra_credit
)
SELECT job_id FROM refunded
"""


async def _changed(conn: Connection, sql: str, calls: list[tuple[str, float]]) -> list[bool]:
    """Run a set-wise commit or refund; for each call, whether it changed its reservation
    (a job asked twice: the first call did, as one after the other)."""
    first: dict[str, float] = {}
    for job_id, now in calls:
        first.setdefault(job_id, now)
    rows = await conn.fetch(sql, list(first), list(first.values()))
    changed = {row[0] for row in rows}
    answers: list[bool] = []
    for job_id, _ in calls:
        answers.append(job_id in changed)
        changed.discard(job_id)
    return answers


async def refund_jobs(conn: Connection, job_ids: Sequence[str], now: float) -> int:
    """Refund these jobs' reservations (those still reserved); how many were."""
    if not job_ids:
        return 0
    return len(await conn.fetch(_REFUND_SQL, list(job_ids), [now] * len(job_ids)))


async def _finish(conn: Connection, calls: list[Finish]) -> None:
    first: dict[str, float] = {}
    notes: dict[str, tuple[GenerationNote, float]] = {}
    for call in calls:
        first.setdefault(call.job_id, call.now)
        if call.note is not None:
            notes[call.note.job_id] = (call.note, call.now)  # the last note of a job stands
    await conn.execute(
        "UPDATE quota_reservations q SET in_flight = FALSE, updated_at = t.now "
        "FROM unnest($1::text[], $2::float8[]) AS t (job_id, now) "
        "WHERE q.job_id = t.job_id AND q.in_flight",
        list(first),
        list(first.values()),
    )
    if notes:
        listed = list(notes.values())
        await conn.execute(
            "INSERT INTO quota_generation_log (job_id, guild_id, user_id, prompt, outcome, "
            "link, noted_at) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], "
            "$4::text[], $5::text[], $6::text[], $7::float8[]) "
            "ON CONFLICT (job_id) DO UPDATE SET outcome = excluded.outcome, "
            "link = excluded.link, noted_at = excluded.noted_at",
            [n.job_id for n, _ in listed],
            [n.guild_id for n, _ in listed],
            [n.user_id for n, _ in listed],
            [n.prompt for n, _ in listed],
            [n.outcome for n, _ in listed],
            [n.link for n, _ in listed],
            [now for _, now in listed],
        )
