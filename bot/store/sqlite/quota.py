"""SQLite: the quota tables (migration 0002) as the domain's records.

The ledger's calls (reserve, commit, refund, finish) are small transactions on the hot path:
they go through a `TransactionBatcher`, so a burst of them shares one hop to the database
thread and one COMMIT. Moderator settings are rare and single-statement.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

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
from bot.store.rows import (
    guild_from_row,
    member_from_row,
    reservation_from_row,
    role_overrides_from_rows,
)
from bot.store.sqlite.batching import TransactionBatcher
from bot.store.sqlite.database import SqliteDatabase
from bot.store.sqlite.ledger import (
    COUNTER_SQL,
    GUILD_SCOPE,
    MEMBER_SQL,
    OVERRIDES_SQL,
    RESERVATION_SQL,
    add_extra_credit,
    bump_counter,
    counter,
    finish_job,
    refund_job,
    reserve_in_transaction,
    usage_in,
)

_GUILD_COLUMNS = frozenset(GuildChanges.__annotations__)


class SqliteQuotaRepository:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._batcher = TransactionBatcher(db)

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
        def work(conn: sqlite3.Connection) -> ReserveDecision:
            return reserve_in_transaction(conn, requester, job_id, now, blocked_term, rules)

        return await self._batcher.run(work)

    async def commit(self, job_id: str, *, now: float) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE quota_reservations SET state = 'committed', updated_at = ? "
                "WHERE job_id = ? AND state = 'reserved'",
                (now, job_id),
            )
            return cursor.rowcount > 0

        return await self._batcher.run(work)

    async def refund(self, job_id: str, *, now: float) -> bool:
        return await self._batcher.run(lambda conn: refund_job(conn, job_id, now))

    async def finish(self, job_id: str, *, now: float, note: GenerationNote | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            finish_job(conn, job_id, now)
            if note is not None:
                conn.execute(
                    "INSERT INTO quota_generation_log (job_id, guild_id, user_id, prompt, "
                    "outcome, link, noted_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (job_id) DO UPDATE SET outcome = excluded.outcome, "
                    "link = excluded.link, noted_at = excluded.noted_at",
                    (
                        note.job_id,
                        note.guild_id,
                        note.user_id,
                        note.prompt,
                        note.outcome,
                        note.link,
                        now,
                    ),
                )

        await self._batcher.run(work)

    async def release_orphans(self, *, created_before: float, now: float) -> int:
        def work(conn: sqlite3.Connection) -> int:
            orphan = "NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = quota_reservations.job_id)"
            refunded = 0
            for (job_id,) in conn.execute(
                f"SELECT job_id FROM quota_reservations WHERE state = 'reserved' "  # noqa: S608
                f"AND created_at < ? AND {orphan}",
                (created_before,),
            ).fetchall():
                refunded += refund_job(conn, str(job_id), now)
            conn.execute(
                f"UPDATE quota_reservations SET in_flight = 0, updated_at = ? "  # noqa: S608
                f"WHERE in_flight = 1 AND created_at < ? AND {orphan}",
                (now, created_before),
            )
            return refunded

        return await self._db.run_in_transaction(work)

    async def finish_ended(self, *, now: float) -> int:
        ended = [state.value for state in (*FAILED_STATES, JobState.DELIVERED)]
        marks = ", ".join("?" for _ in ended)
        return await self._db.execute(
            "UPDATE quota_reservations SET in_flight = 0, updated_at = ? "  # noqa: S608
            f"WHERE in_flight = 1 AND job_id IN (SELECT id FROM jobs WHERE state IN ({marks}))",
            (now, *ended),
        )

    # -- reads -----------------------------------------------------------------------------------

    async def guild(self, guild_id: int) -> GuildQuotaRecord | None:
        row = await self._db.fetchone(
            "SELECT * FROM quota_guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return None if row is None else guild_from_row(row)

    async def member(self, guild_id: int, user_id: int) -> MemberQuotaRecord:
        row = await self._db.fetchone(MEMBER_SQL, (guild_id, user_id))
        return member_from_row(row)

    async def role_overrides(self, guild_id: int) -> list[RoleOverride]:
        return role_overrides_from_rows(await self._db.fetchall(OVERRIDES_SQL, (guild_id,)))

    async def allowed_channels(self, guild_id: int) -> frozenset[int]:
        rows = await self._db.fetchall(
            "SELECT channel_id FROM quota_allowed_channels WHERE guild_id = ?", (guild_id,)
        )
        return frozenset(int(r[0]) for r in rows)

    async def usage(self, guild_id: int, user_id: int, query: UsageQuery) -> Usage:
        def work(conn: sqlite3.Connection) -> Usage:
            return usage_in(conn, guild_id, user_id, query)

        return await self._db.run_in_transaction(work)

    async def pool_used(self, guild_id: int, period: int) -> int:
        row = await self._db.fetchone(COUNTER_SQL, (GUILD_SCOPE, guild_id, period))
        return 0 if row is None else int(row[0])

    async def leaderboard(self, guild_id: int, since: float, limit: int) -> list[tuple[int, int]]:
        """(user id, pieces) for charged or still reserved credit since `since`."""
        rows = await self._db.fetchall(
            "SELECT user_id, COUNT(*) AS n FROM quota_reservations "
            "WHERE guild_id = ? AND created_at >= ? AND state != 'refunded' "
            "GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?",
            (guild_id, since, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def barred_members(self, guild_id: int) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM quota_members WHERE guild_id = ? AND barred = 1 ORDER BY user_id",
            (guild_id,),
        )
        return [int(r[0]) for r in rows]

    async def blocked_terms(self, guild_id: int) -> list[BlockedTerm]:
        rows = await self._db.fetchall(
            "SELECT kind, pattern FROM quota_blocked_terms WHERE guild_id = ? "
            "ORDER BY kind, pattern",
            (guild_id,),
        )
        return [BlockedTerm(TermKind(r[0]), str(r[1])) for r in rows]

    async def reservation(self, job_id: str) -> Reservation | None:
        row = await self._db.fetchone(RESERVATION_SQL, (job_id,))
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
        columns = ", ".join(names)
        marks = ", ".join("?" for _ in names)
        updates = ", ".join(f"{name} = excluded.{name}" for name in names)
        await self._db.execute(
            f"INSERT INTO quota_guild_settings (guild_id, {columns}, updated_at) "  # noqa: S608
            f"VALUES (?, {marks}, ?) ON CONFLICT (guild_id) DO UPDATE SET {updates}, "
            "updated_at = excluded.updated_at",
            (guild_id, *(_bit(values[name]) for name in names), now),
        )

    async def set_allowed_channels(
        self, guild_id: int, channel_ids: Collection[int], *, now: float
    ) -> None:
        chosen = sorted(set(channel_ids))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM quota_allowed_channels WHERE guild_id = ?", (guild_id,))
            conn.executemany(
                "INSERT INTO quota_allowed_channels (guild_id, channel_id) VALUES (?, ?)",
                [(guild_id, c) for c in chosen],
            )
            conn.execute(
                "INSERT INTO quota_guild_settings (guild_id, channels_restricted, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "channels_restricted = excluded.channels_restricted, "
                "updated_at = excluded.updated_at",
                (guild_id, int(bool(chosen)), now),
            )

        await self._db.run_in_transaction(work)

    async def move_pool_period(
        self, guild_id: int, reset_minute: int, *, old_period: int, new_period: int, now: float
    ) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO quota_guild_settings (guild_id, reset_minute, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "reset_minute = excluded.reset_minute, updated_at = excluded.updated_at",
                (guild_id, reset_minute, now),
            )
            if old_period == new_period:
                return 0
            used = counter(conn, GUILD_SCOPE, guild_id, old_period)
            if used:
                bump_counter(conn, GUILD_SCOPE, guild_id, new_period, used)
                bump_counter(conn, GUILD_SCOPE, guild_id, old_period, -used)
            conn.execute(
                "UPDATE quota_reservations SET pool_period = ? "
                "WHERE guild_id = ? AND pool_period = ?",
                (new_period, guild_id, old_period),
            )
            return used

        return await self._db.run_in_transaction(work)

    async def set_role_override(self, guild_id: int, override: RoleOverride) -> None:
        await self._db.execute(
            "INSERT INTO quota_role_overrides (guild_id, role_id, member_limit, max_in_flight, "
            "exempt) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, role_id) DO UPDATE SET "
            "member_limit = excluded.member_limit, max_in_flight = excluded.max_in_flight, "
            "exempt = excluded.exempt",
            (
                guild_id,
                override.role_id,
                override.member_limit,
                override.max_in_flight,
                int(override.exempt),
            ),
        )

    async def clear_role_override(self, guild_id: int, role_id: int) -> bool:
        changed = await self._db.execute(
            "DELETE FROM quota_role_overrides WHERE guild_id = ? AND role_id = ?",
            (guild_id, role_id),
        )
        return changed > 0

    async def add_extra_credit(self, guild_id: int, user_id: int, amount: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            add_extra_credit(conn, guild_id, user_id, amount)
            return member_from_row(
                conn.execute(MEMBER_SQL, (guild_id, user_id)).fetchone()
            ).extra_credit

        return await self._db.run_in_transaction(work)

    async def reset_member_window(self, guild_id: int, user_id: int, *, now: float) -> None:
        await self._db.execute(
            "INSERT INTO quota_members (guild_id, user_id, window_reset_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "window_reset_at = excluded.window_reset_at",
            (guild_id, user_id, now),
        )

    async def set_barred(self, guild_id: int, user_id: int, barred: bool) -> bool:
        """Returns whether anything changed."""

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(MEMBER_SQL, (guild_id, user_id)).fetchone()
            if member_from_row(row).barred == barred:
                return False
            conn.execute(
                "INSERT INTO quota_members (guild_id, user_id, barred) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET barred = excluded.barred",
                (guild_id, user_id, int(barred)),
            )
            return True

        return await self._db.run_in_transaction(work)

    async def add_blocked_term(
        self, guild_id: int, term: BlockedTerm, *, added_by: int | None, now: float
    ) -> bool:
        changed = await self._db.execute(
            "INSERT OR IGNORE INTO quota_blocked_terms (guild_id, kind, pattern, added_by, "
            "added_at) VALUES (?, ?, ?, ?, ?)",
            (guild_id, term.kind.value, term.pattern, added_by, now),
        )
        return changed > 0

    async def remove_blocked_term(self, guild_id: int, term: BlockedTerm) -> bool:
        changed = await self._db.execute(
            "DELETE FROM quota_blocked_terms WHERE guild_id = ? AND kind = ? AND pattern = ?",
            (guild_id, term.kind.value, term.pattern),
        )
        return changed > 0

    async def forget_modlog_channel(self, guild_id: int, channel_id: int, *, now: float) -> bool:
        """Turn the mod log off if it still points at `channel_id`; returns whether it did."""
        changed = await self._db.execute(
            "UPDATE quota_guild_settings SET modlog_channel_id = NULL, updated_at = ? "
            "WHERE guild_id = ? AND modlog_channel_id = ?",
            (now, guild_id, channel_id),
        )
        return changed > 0


def _bit(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value
