"""PostgreSQL: the quota tables (migration 0002) as the domain's records, exact across processes.

A reservation is one transaction that the rules (`ReserveRules`) decide, as on SQLite. Several
processes may reserve at once, so every transaction that changes the counts (reserve, refund)
holds the quota lock (`batching.QUOTA_LOCK`, a transaction-scoped advisory lock) from its first
statement: the counts it reads — the member's in-flight and window, the server's pool, the
bot-wide cap — are then the truth, and the decision cannot be overtaken by another process.
What a process asks for meanwhile waits and goes into its next transaction together (see
`batching`), so the lock costs one commit per burst rather than one per call.

Moderator writes (settings, bars, extra credit) do not take the lock: each changes one row in
a way that can only make a concurrent reservation stricter, or is itself atomic
(`extra_credit = extra_credit + n`).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

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
    TermKind,
    Usage,
    UsageQuery,
)
from bot.store.base import GuildChanges, ReserveRules
from bot.store.postgres.batching import LockedBatcher
from bot.store.postgres.database import Connection, PostgresDatabase, affected
from bot.store.rows import (
    guild_from_row,
    member_from_row,
    reservation_from_row,
    role_overrides_from_rows,
)

GUILD_SCOPE = "guild"
BOT_SCOPE = "bot"
_GUILD_COLUMNS = frozenset(GuildChanges.__annotations__)


class PostgresQuotaRepository:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._batcher = LockedBatcher(db)

    # -- the ledger ------------------------------------------------------------------------------

    async def reserve(
        self,
        requester: Requester,
        job_id: str,
        *,
        now: float,
        blocked_term: BlockedTerm | None,
        rules: ReserveRules,
    ) -> ReserveDecision:
        gid, uid = requester.scope_id, requester.user_id

        async def work(conn: Connection) -> ReserveDecision:
            ctx = await _reserve_context(conn, requester, job_id, now, blocked_term)
            planned = rules.plan(ctx)  # may raise: before anything is written
            if isinstance(planned, ReserveDecision):
                return planned
            usage = await _usage(conn, gid, uid, planned)
            decision = rules.decide(ctx, planned, usage)
            if decision.reservation is not None:
                await _take(conn, decision.reservation)
            return decision

        return await self._batcher.run(work)

    async def commit(self, job_id: str, *, now: float) -> bool:
        async def work(conn: Connection) -> bool:
            status = await conn.execute(
                "UPDATE quota_reservations SET state = 'committed', updated_at = $2 "
                "WHERE job_id = $1 AND state = 'reserved'",
                job_id,
                now,
            )
            return affected(status) > 0

        return await self._batcher.run(work)

    async def refund(self, job_id: str, *, now: float) -> bool:
        async def work(conn: Connection) -> bool:
            return await _refund(conn, job_id, now)

        return await self._batcher.run(work)

    async def finish(self, job_id: str, *, now: float, note: GenerationNote | None = None) -> None:
        finish_sql = (
            "UPDATE quota_reservations SET in_flight = FALSE, updated_at = $2 "
            "WHERE job_id = $1 AND in_flight"
        )

        async def work(conn: Connection) -> None:
            await conn.execute(finish_sql, job_id, now)
            if note is None:
                return
            await conn.execute(
                "INSERT INTO quota_generation_log (job_id, guild_id, user_id, prompt, outcome, "
                "link, noted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (job_id) DO UPDATE SET outcome = excluded.outcome, "
                "link = excluded.link, noted_at = excluded.noted_at",
                note.job_id,
                note.guild_id,
                note.user_id,
                note.prompt,
                note.outcome,
                note.link,
                now,
            )

        await self._batcher.run(work)

    async def release_orphans(self, *, created_before: float, now: float) -> int:
        """Each orphan is refunded like any refund (under the quota lock)."""
        orphan = "NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = quota_reservations.job_id)"
        candidates = await self._db.fetch(
            f"SELECT job_id FROM quota_reservations WHERE state = 'reserved' "  # noqa: S608
            f"AND created_at < $1 AND {orphan}",
            created_before,
        )
        refunded = 0
        for (job_id,) in candidates:

            async def work(conn: Connection, job_id: str = str(job_id)) -> bool:
                # Still an orphan? A job row may have arrived meanwhile.
                if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id):
                    return False
                return await _refund(conn, job_id, now)

            refunded += await self._batcher.run(work)
        await self._db.execute(
            f"UPDATE quota_reservations SET in_flight = FALSE, updated_at = $1 "  # noqa: S608
            f"WHERE in_flight AND created_at < $2 AND {orphan}",
            now,
            created_before,
        )
        return refunded

    # -- reads -----------------------------------------------------------------------------------

    async def guild(self, guild_id: int) -> GuildQuotaRecord | None:
        row = await self._db.fetchrow(
            "SELECT * FROM quota_guild_settings WHERE guild_id = $1", guild_id
        )
        return None if row is None else guild_from_row(row)

    async def member(self, guild_id: int, user_id: int) -> MemberQuotaRecord:
        return member_from_row(await self._db.fetchrow(_MEMBER_SQL, guild_id, user_id))

    async def role_overrides(self, guild_id: int) -> list[RoleOverride]:
        return role_overrides_from_rows(await self._db.fetch(_OVERRIDES_SQL, guild_id))

    async def allowed_channels(self, guild_id: int) -> frozenset[int]:
        rows = await self._db.fetch(
            "SELECT channel_id FROM quota_allowed_channels WHERE guild_id = $1", guild_id
        )
        return frozenset(int(r[0]) for r in rows)

    async def usage(self, guild_id: int, user_id: int, query: UsageQuery) -> Usage:
        async with self._db.connection() as conn:
            return await _usage(conn, guild_id, user_id, query)

    async def pool_used(self, guild_id: int, period: int) -> int:
        value = await self._db.fetchval(_COUNTER_SQL, GUILD_SCOPE, guild_id, period)
        return 0 if value is None else int(value)

    async def leaderboard(self, guild_id: int, since: float, limit: int) -> list[tuple[int, int]]:
        """(user id, pieces) for charged or still reserved credit since `since`."""
        rows = await self._db.fetch(
            "SELECT user_id, COUNT(*) AS n FROM quota_reservations "
            "WHERE guild_id = $1 AND created_at >= $2 AND state <> 'refunded' "
            "GROUP BY user_id ORDER BY n DESC, user_id LIMIT $3",
            guild_id,
            since,
            limit,
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def barred_members(self, guild_id: int) -> list[int]:
        rows = await self._db.fetch(
            "SELECT user_id FROM quota_members WHERE guild_id = $1 AND barred ORDER BY user_id",
            guild_id,
        )
        return [int(r[0]) for r in rows]

    async def blocked_terms(self, guild_id: int) -> list[BlockedTerm]:
        rows = await self._db.fetch(
            "SELECT kind, pattern FROM quota_blocked_terms WHERE guild_id = $1 "
            "ORDER BY kind, pattern",
            guild_id,
        )
        return [BlockedTerm(TermKind(r[0]), str(r[1])) for r in rows]

    async def reservation(self, job_id: str) -> Reservation | None:
        row = await self._db.fetchrow(_RESERVATION_SQL, job_id)
        return None if row is None else reservation_from_row(row)

    # -- moderator writes ----------------------------------------------------------------------

    async def set_guild(self, guild_id: int, changes: GuildChanges, *, now: float) -> None:
        """Set settings columns (None = back to the default) for a server."""
        values: dict[str, Any] = dict(changes)
        unknown = set(values) - _GUILD_COLUMNS
        if unknown:
            raise ValueError(f"unknown settings columns {sorted(unknown)}")
        if not values:
            return
        names = sorted(values)
        marks = ", ".join(f"${i}" for i in range(2, len(names) + 2))
        updates = ", ".join(f"{name} = excluded.{name}" for name in names)
        await self._db.execute(
            f"INSERT INTO quota_guild_settings (guild_id, {', '.join(names)}, updated_at) "  # noqa: S608
            f"VALUES ($1, {marks}, ${len(names) + 2}) ON CONFLICT (guild_id) DO UPDATE SET "
            f"{updates}, updated_at = excluded.updated_at",
            guild_id,
            *(values[name] for name in names),
            now,
        )

    async def set_allowed_channels(
        self, guild_id: int, channel_ids: Collection[int], *, now: float
    ) -> None:
        chosen = sorted(set(channel_ids))

        async def work(conn: Connection) -> None:
            await conn.execute("DELETE FROM quota_allowed_channels WHERE guild_id = $1", guild_id)
            await conn.execute(
                "INSERT INTO quota_allowed_channels (guild_id, channel_id) "
                "SELECT $1, unnest($2::bigint[])",
                guild_id,
                chosen,
            )
            await conn.execute(
                "INSERT INTO quota_guild_settings (guild_id, channels_restricted, updated_at) "
                "VALUES ($1, $2, $3) ON CONFLICT (guild_id) DO UPDATE SET "
                "channels_restricted = excluded.channels_restricted, "
                "updated_at = excluded.updated_at",
                guild_id,
                bool(chosen),
                now,
            )

        await self._db.run_in_transaction(work)

    async def set_role_override(self, guild_id: int, override: RoleOverride) -> None:
        await self._db.execute(
            "INSERT INTO quota_role_overrides (guild_id, role_id, member_limit, max_in_flight, "
            "exempt) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, role_id) DO UPDATE SET "
            "member_limit = excluded.member_limit, max_in_flight = excluded.max_in_flight, "
            "exempt = excluded.exempt",
            guild_id,
            override.role_id,
            override.member_limit,
            override.max_in_flight,
            override.exempt,
        )

    async def clear_role_override(self, guild_id: int, role_id: int) -> bool:
        changed = await self._db.execute(
            "DELETE FROM quota_role_overrides WHERE guild_id = $1 AND role_id = $2",
            guild_id,
            role_id,
        )
        return changed > 0

    async def add_extra_credit(self, guild_id: int, user_id: int, amount: int) -> int:
        async def work(conn: Connection) -> int:
            await _add_extra_credit(conn, guild_id, user_id, amount)
            return member_from_row(await conn.fetchrow(_MEMBER_SQL, guild_id, user_id)).extra_credit

        return await self._db.run_in_transaction(work)

    async def reset_member_window(self, guild_id: int, user_id: int, *, now: float) -> None:
        await self._db.execute(
            "INSERT INTO quota_members (guild_id, user_id, window_reset_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "window_reset_at = excluded.window_reset_at",
            guild_id,
            user_id,
            now,
        )

    async def set_barred(self, guild_id: int, user_id: int, barred: bool) -> bool:
        """Returns whether anything changed."""

        async def work(conn: Connection) -> bool:
            row = await conn.fetchrow(_MEMBER_SQL + " FOR UPDATE", guild_id, user_id)
            if member_from_row(row).barred == barred:
                return False
            await conn.execute(
                "INSERT INTO quota_members (guild_id, user_id, barred) VALUES ($1, $2, $3) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET barred = excluded.barred",
                guild_id,
                user_id,
                barred,
            )
            return True

        return await self._db.run_in_transaction(work)

    async def add_blocked_term(
        self, guild_id: int, term: BlockedTerm, *, added_by: int | None, now: float
    ) -> bool:
        changed = await self._db.execute(
            "INSERT INTO quota_blocked_terms (guild_id, kind, pattern, added_by, added_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            guild_id,
            term.kind.value,
            term.pattern,
            added_by,
            now,
        )
        return changed > 0

    async def remove_blocked_term(self, guild_id: int, term: BlockedTerm) -> bool:
        changed = await self._db.execute(
            "DELETE FROM quota_blocked_terms WHERE guild_id = $1 AND kind = $2 AND pattern = $3",
            guild_id,
            term.kind.value,
            term.pattern,
        )
        return changed > 0

    async def forget_modlog_channel(self, guild_id: int, channel_id: int, *, now: float) -> bool:
        """Turn the mod log off if it still points at `channel_id`; returns whether it did."""
        changed = await self._db.execute(
            "UPDATE quota_guild_settings SET modlog_channel_id = NULL, updated_at = $1 "
            "WHERE guild_id = $2 AND modlog_channel_id = $3",
            now,
            guild_id,
            channel_id,
        )
        return changed > 0


# -- inside a transaction ----------------------------------------------------------------------

_MEMBER_SQL = (
    "SELECT extra_credit, window_reset_at, barred FROM quota_members "
    "WHERE guild_id = $1 AND user_id = $2"
)
_OVERRIDES_SQL = (
    "SELECT role_id, member_limit, max_in_flight, exempt FROM quota_role_overrides "
    "WHERE guild_id = $1 ORDER BY role_id"
)
_COUNTER_SQL = "SELECT used FROM quota_counters WHERE scope = $1 AND scope_id = $2 AND period = $3"
_RESERVATION_SQL = "SELECT * FROM quota_reservations WHERE job_id = $1"

# Everything a reservation is decided on, in one round trip (rows as JSON text).
_CONTEXT_SQL = """
SELECT
    (SELECT row_to_json(r)::text FROM quota_reservations r WHERE r.job_id = $1) AS existing,
    (SELECT row_to_json(g)::text FROM quota_guild_settings g WHERE g.guild_id = $2 AND $3)
        AS guild,
    EXISTS (SELECT 1 FROM quota_allowed_channels c WHERE c.guild_id = $2 AND c.channel_id = $4)
        AS channel_listed,
    (SELECT json_agg(o ORDER BY o.role_id)::text FROM quota_role_overrides o
        WHERE o.guild_id = $2 AND $5) AS overrides,
    (SELECT row_to_json(m)::text FROM quota_members m WHERE m.guild_id = $2 AND m.user_id = $6)
        AS member
"""

# The counts a UsageQuery asks for; a NULL bound means "not asked" (0 / none).
_USAGE_SQL = """
SELECT
    CASE WHEN $3::float8 IS NULL THEN 0 ELSE (
        SELECT COUNT(*) FROM quota_reservations
        WHERE guild_id = $1 AND user_id = $2 AND in_flight AND created_at > $3
    ) END AS in_flight,
    CASE WHEN $4::float8 IS NULL THEN '{}'::float8[] ELSE ARRAY(
        SELECT created_at FROM quota_reservations
        WHERE guild_id = $1 AND user_id = $2 AND created_at > $4
            AND counts_member AND NOT used_extra AND state <> 'refunded'
        ORDER BY created_at
    ) END AS window_times,
    CASE WHEN $5::bigint IS NULL THEN 0 ELSE COALESCE((
        SELECT used FROM quota_counters WHERE scope = 'guild' AND scope_id = $1 AND period = $5
    ), 0) END AS pool_used,
    COALESCE((
        SELECT used FROM quota_counters WHERE scope = 'bot' AND scope_id = 0 AND period = $6
    ), 0) AS bot_used
"""


async def _reserve_context(
    conn: Connection,
    requester: Requester,
    job_id: str,
    now: float,
    blocked_term: BlockedTerm | None,
) -> ReserveContext:
    in_guild = requester.guild_id is not None
    row = await conn.fetchrow(
        _CONTEXT_SQL,
        job_id,
        requester.scope_id,
        in_guild,
        requester.channel_id,
        in_guild and bool(requester.role_ids),
        requester.user_id,
    )
    assert row is not None
    existing = _json(row["existing"])
    guild_row = _json(row["guild"])
    guild = None if guild_row is None else guild_from_row(guild_row)
    restricted = guild is not None and guild.channels_restricted
    return ReserveContext(
        requester=requester,
        job_id=job_id,
        now=now,
        existing=None if existing is None else reservation_from_row(existing),
        guild=guild,
        member=member_from_row(_json(row["member"])),
        channel_allowed=restricted
        and requester.channel_id is not None
        and bool(row["channel_listed"]),
        overrides=tuple(role_overrides_from_rows(_json(row["overrides"]) or [])),
        blocked_term=blocked_term,
    )


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


async def _usage(conn: Connection, guild_id: int, user_id: int, query: UsageQuery) -> Usage:
    row = await conn.fetchrow(
        _USAGE_SQL,
        guild_id,
        user_id,
        query.in_flight_since,
        query.window_since,
        query.pool_period,
        query.bot_day,
    )
    assert row is not None
    return Usage(
        in_flight=int(row["in_flight"]),
        window_times=tuple(float(t) for t in row["window_times"]),
        pool_used=int(row["pool_used"]),
        bot_used=int(row["bot_used"]),
    )


async def _add_extra_credit(conn: Connection, guild_id: int, user_id: int, delta: int) -> None:
    await conn.execute(
        "INSERT INTO quota_members (guild_id, user_id, extra_credit) "
        "VALUES ($1, $2, GREATEST($3::int, 0)) ON CONFLICT (guild_id, user_id) DO UPDATE "
        "SET extra_credit = GREATEST(quota_members.extra_credit + $3::int, 0)",
        guild_id,
        user_id,
        delta,
    )


async def _take(conn: Connection, r: Reservation) -> None:
    """Insert a granted reservation and take what it counts (pool, cap, extra credit), in one
    statement."""
    await conn.execute(
        """
        WITH reservation AS (
            INSERT INTO quota_reservations (job_id, guild_id, user_id, channel_id, state,
                in_flight, counts_member, used_extra, pool_period, bot_day, member_remaining,
                pool_remaining, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ), pool AS (
            INSERT INTO quota_counters (scope, scope_id, period, used)
            SELECT 'guild', $2, $9, 1 WHERE $9::bigint IS NOT NULL
            ON CONFLICT (scope, scope_id, period) DO UPDATE SET used = quota_counters.used + 1
        ), cap AS (
            INSERT INTO quota_counters (scope, scope_id, period, used) VALUES ('bot', 0, $10, 1)
            ON CONFLICT (scope, scope_id, period) DO UPDATE SET used = quota_counters.used + 1
        )
        UPDATE quota_members SET extra_credit = GREATEST(extra_credit - 1, 0)
        WHERE $8 AND guild_id = $2 AND user_id = $3
        """,
        r.job_id,
        r.guild_id,
        r.user_id,
        r.channel_id,
        r.state.value,
        r.in_flight,
        r.counts_member,
        r.used_extra,
        r.pool_period,
        r.bot_day,
        r.member_remaining,
        r.pool_remaining,
        r.created_at,
        r.updated_at,
    )


async def _refund(conn: Connection, job_id: str, now: float) -> bool:
    """reserved -> refunded, giving back everything `_take` took; False when nothing to do."""
    refunded = await conn.fetchval(
        """
        WITH refunded AS (
            UPDATE quota_reservations SET state = 'refunded', in_flight = FALSE, updated_at = $2
            WHERE job_id = $1 AND state = 'reserved'
            RETURNING guild_id, user_id, pool_period, bot_day, used_extra
        ), pool AS (
            UPDATE quota_counters c SET used = GREATEST(c.used - 1, 0) FROM refunded r
            WHERE c.scope = 'guild' AND c.scope_id = r.guild_id AND c.period = r.pool_period
        ), cap AS (
            UPDATE quota_counters c SET used = GREATEST(c.used - 1, 0) FROM refunded r
            WHERE c.scope = 'bot' AND c.scope_id = 0 AND c.period = r.bot_day
        ), extra AS (
            INSERT INTO quota_members (guild_id, user_id, extra_credit)
            SELECT guild_id, user_id, 1 FROM refunded WHERE used_extra
            ON CONFLICT (guild_id, user_id) DO UPDATE
            SET extra_credit = quota_members.extra_credit + 1
        )
        SELECT COUNT(*) FROM refunded
        """,
        job_id,
        now,
    )
    return bool(refunded)
