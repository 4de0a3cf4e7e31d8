"""PostgreSQL: the quota tables (migration 0002) as the domain's records, exact across processes.

A reservation is one transaction that the rules (`ReserveRules`) decide, as on SQLite. Several
processes may reserve at once, so every transaction that changes the counts (reserve, refund)
holds the quota lock (`batching.QUOTA_LOCK`, a transaction-scoped advisory lock) from its first
statement: the counts it reads — the member's in-flight and window, the server's pool, the
bot-wide cap — are then the truth, and the decision cannot be overtaken by another process.
What a process asks for meanwhile waits and goes into its next transaction together (see
`batching`), so the lock costs one commit per burst rather than one per call.

Moderator writes (settings, bars, channels, extra credit) do not take the lock: none of them
changes a count, and a reservation reads them in one statement, so it sees each either before
or after the change, as if the two had run one after the other; extra credit is added and
spent atomically (`extra_credit = extra_credit + n`).

The block list a reservation is given (`blocked_term`) comes from a per-process cache,
invalidated by the moderator command that changes it. Every interaction of a server reaches
the one process that runs its shard, so the change and the reads meet in one process. Credit
itself is never cached.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import bot.store.postgres.ledger as ledger
from bot.jobs.models import FAILED_STATES, JobState
from bot.quota.models import (
    BlockedTerm,
    GenerationNote,
    GuildQuotaRecord,
    MemberQuotaRecord,
    Requester,
    Reservation,
    ReserveDecision,
    RoleOverride,
    TermKind,
    Usage,
    UsageQuery,
)
from bot.store.base import GuildChanges, ReserveRules
from bot.store.postgres.batching import LedgerBatcher, locked_transaction
from bot.store.postgres.database import Connection, PostgresDatabase
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
        self._batcher = LedgerBatcher(db)

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
        decision: ReserveDecision = await self._batcher.run(
            ledger.Reserve(requester, job_id, now, blocked_term, rules)
        )
        return decision

    async def commit(self, job_id: str, *, now: float) -> bool:
        return bool(await self._batcher.run(ledger.Commit(job_id, now)))

    async def refund(self, job_id: str, *, now: float) -> bool:
        """reserved → refunded, giving back every count it took; False when nothing to do."""
        return bool(await self._batcher.run(ledger.Refund(job_id, now)))

    async def finish(self, job_id: str, *, now: float, note: GenerationNote | None = None) -> None:
        await self._batcher.run(ledger.Finish(job_id, now, note))

    async def release_orphans(self, *, created_before: float, now: float) -> int:
        orphan = "NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = quota_reservations.job_id)"
        async with locked_transaction(self._db) as conn:
            rows = await conn.fetch(
                f"SELECT job_id FROM quota_reservations WHERE state = 'reserved' "  # noqa: S608
                f"AND created_at < $1 AND {orphan}",
                created_before,
            )
            refunded = await ledger.refund_jobs(conn, [str(row[0]) for row in rows], now)
            await conn.execute(
                f"UPDATE quota_reservations SET in_flight = FALSE, updated_at = $1 "  # noqa: S608
                f"WHERE in_flight AND created_at < $2 AND {orphan}",
                now,
                created_before,
            )
        return refunded

    async def finish_ended(self, *, now: float) -> int:
        return await self._db.execute(
            "UPDATE quota_reservations SET in_flight = FALSE, updated_at = $1 "
            "WHERE in_flight AND job_id IN (SELECT id FROM jobs WHERE state = ANY($2::text[]))",
            now,
            [state.value for state in (*FAILED_STATES, JobState.DELIVERED)],
        )

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
            (usage,) = await ledger.usages_of(conn, [(guild_id, user_id, query)])
            return usage

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

    async def move_pool_period(
        self, guild_id: int, reset_minute: int, *, old_period: int, new_period: int, now: float
    ) -> int:
        async with locked_transaction(self._db) as conn:  # it changes a count
            await conn.execute(
                "INSERT INTO quota_guild_settings (guild_id, reset_minute, updated_at) "
                "VALUES ($1, $2, $3) ON CONFLICT (guild_id) DO UPDATE SET "
                "reset_minute = excluded.reset_minute, updated_at = excluded.updated_at",
                guild_id,
                reset_minute,
                now,
            )
            if old_period == new_period:
                return 0
            used = int(await conn.fetchval(_COUNTER_SQL, GUILD_SCOPE, guild_id, old_period) or 0)
            if used:
                await conn.execute(
                    "INSERT INTO quota_counters (scope, scope_id, period, used) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (scope, scope_id, period) "
                    "DO UPDATE SET used = quota_counters.used + excluded.used",
                    GUILD_SCOPE,
                    guild_id,
                    new_period,
                    used,
                )
                await conn.execute(
                    "UPDATE quota_counters SET used = 0 "
                    "WHERE scope = $1 AND scope_id = $2 AND period = $3",
                    GUILD_SCOPE,
                    guild_id,
                    old_period,
                )
            await conn.execute(
                "UPDATE quota_reservations SET pool_period = $1 "
                "WHERE guild_id = $2 AND pool_period = $3",
                new_period,
                guild_id,
                old_period,
            )
            return used

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


async def _add_extra_credit(conn: Connection, guild_id: int, user_id: int, delta: int) -> None:
    await conn.execute(
        "INSERT INTO quota_members (guild_id, user_id, extra_credit) "
        "VALUES ($1, $2, GREATEST($3::int, 0)) ON CONFLICT (guild_id, user_id) DO UPDATE "
        "SET extra_credit = GREATEST(quota_members.extra_credit + $3::int, 0)",
        guild_id,
        user_id,
        delta,
    )
