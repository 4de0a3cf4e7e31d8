"""All SQL for the quota (tables from migration 0002).

Two kinds of functions: synchronous ones taking a `sqlite3.Connection`, composed by the quota
service into one `Database.run_in_transaction` call (the hot reserve/commit/refund path), and
the async `QuotaStore` for moderator settings, which are rare and single-statement.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

from bot.quota.models import BlockedTerm, RoleOverride
from bot.store.database import Database

RESERVED = "reserved"
COMMITTED = "committed"
REFUNDED = "refunded"

GUILD_SCOPE = "guild"
BOT_SCOPE = "bot"

SETTING_COLUMNS = frozenset(
    {"daily_pool", "reset_minute", "member_limit", "window_seconds", "max_in_flight"}
)


@dataclass(frozen=True)
class Reservation:
    job_id: str
    guild_id: int
    user_id: int
    channel_id: int | None
    state: str
    in_flight: bool
    counts_member: bool
    used_extra: bool
    pool_period: int | None
    bot_day: int
    member_remaining: int | None
    pool_remaining: int | None
    created_at: float
    updated_at: float


def _reservation(row: sqlite3.Row) -> Reservation:
    return Reservation(
        job_id=row["job_id"],
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        state=row["state"],
        in_flight=bool(row["in_flight"]),
        counts_member=bool(row["counts_member"]),
        used_extra=bool(row["used_extra"]),
        pool_period=row["pool_period"],
        bot_day=row["bot_day"],
        member_remaining=row["member_remaining"],
        pool_remaining=row["pool_remaining"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# -- synchronous helpers for one transaction on the database thread ----------------------------


# One statement each for what both the synchronous helpers and QuotaStore read.
_GUILD_SETTINGS_SQL = "SELECT * FROM quota_guild_settings WHERE guild_id = ?"
_MEMBER_SQL = (
    "SELECT extra_credit, window_reset_at, barred FROM quota_members "
    "WHERE guild_id = ? AND user_id = ?"
)
_ROLE_OVERRIDES_SQL = (
    "SELECT role_id, member_limit, max_in_flight, exempt FROM quota_role_overrides "
    "WHERE guild_id = ? ORDER BY role_id"
)
_COUNTER_SQL = "SELECT used FROM quota_counters WHERE scope = ? AND scope_id = ? AND period = ?"


def _role_overrides(rows: list[sqlite3.Row]) -> list[RoleOverride]:
    return [
        RoleOverride(r["role_id"], r["member_limit"], r["max_in_flight"], bool(r["exempt"]))
        for r in rows
    ]


def _used(row: sqlite3.Row | None) -> int:
    return 0 if row is None else int(row[0])


def get_reservation(conn: sqlite3.Connection, job_id: str) -> Reservation | None:
    row = conn.execute("SELECT * FROM quota_reservations WHERE job_id = ?", (job_id,)).fetchone()
    return None if row is None else _reservation(row)


def guild_settings_row(conn: sqlite3.Connection, guild_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(_GUILD_SETTINGS_SQL, (guild_id,)).fetchone()
    return row


def role_overrides(conn: sqlite3.Connection, guild_id: int) -> list[RoleOverride]:
    return _role_overrides(conn.execute(_ROLE_OVERRIDES_SQL, (guild_id,)).fetchall())


def member_row(conn: sqlite3.Connection, guild_id: int, user_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(_MEMBER_SQL, (guild_id, user_id)).fetchone()
    return row


def channel_allowed(conn: sqlite3.Connection, guild_id: int, channel_id: int | None) -> bool:
    if channel_id is None:
        return False
    row = conn.execute(
        "SELECT 1 FROM quota_allowed_channels WHERE guild_id = ? AND channel_id = ?",
        (guild_id, channel_id),
    ).fetchone()
    return row is not None


def in_flight_count(conn: sqlite3.Connection, guild_id: int, user_id: int, since: float) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM quota_reservations "
        "WHERE guild_id = ? AND user_id = ? AND in_flight = 1 AND created_at > ?",
        (guild_id, user_id, since),
    ).fetchone()
    return int(row[0])


def window_times(
    conn: sqlite3.Connection, guild_id: int, user_id: int, since: float
) -> list[float]:
    """Creation times (ascending) of the reservations counting against the member's window."""
    rows = conn.execute(
        "SELECT created_at FROM quota_reservations "
        "WHERE guild_id = ? AND user_id = ? AND created_at > ? "
        "AND counts_member = 1 AND used_extra = 0 AND state != 'refunded' "
        "ORDER BY created_at",
        (guild_id, user_id, since),
    ).fetchall()
    return [float(r[0]) for r in rows]


def counter(conn: sqlite3.Connection, scope: str, scope_id: int, period: int) -> int:
    return _used(conn.execute(_COUNTER_SQL, (scope, scope_id, period)).fetchone())


def bump_counter(
    conn: sqlite3.Connection, scope: str, scope_id: int, period: int, delta: int
) -> None:
    conn.execute(
        "INSERT INTO quota_counters (scope, scope_id, period, used) VALUES (?, ?, ?, max(?, 0)) "
        "ON CONFLICT (scope, scope_id, period) DO UPDATE SET used = max(used + ?, 0)",
        (scope, scope_id, period, delta, delta),
    )


def add_extra_credit(conn: sqlite3.Connection, guild_id: int, user_id: int, delta: int) -> None:
    conn.execute(
        "INSERT INTO quota_members (guild_id, user_id, extra_credit) VALUES (?, ?, max(?, 0)) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET extra_credit = max(extra_credit + ?, 0)",
        (guild_id, user_id, delta, delta),
    )


def insert_reservation(conn: sqlite3.Connection, r: Reservation) -> None:
    conn.execute(
        "INSERT INTO quota_reservations (job_id, guild_id, user_id, channel_id, state, in_flight, "
        "counts_member, used_extra, pool_period, bot_day, member_remaining, pool_remaining, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.job_id,
            r.guild_id,
            r.user_id,
            r.channel_id,
            r.state,
            int(r.in_flight),
            int(r.counts_member),
            int(r.used_extra),
            r.pool_period,
            r.bot_day,
            r.member_remaining,
            r.pool_remaining,
            r.created_at,
            r.updated_at,
        ),
    )


def commit_reservation(conn: sqlite3.Connection, job_id: str, now: float) -> bool:
    cursor = conn.execute(
        "UPDATE quota_reservations SET state = 'committed', updated_at = ? "
        "WHERE job_id = ? AND state = 'reserved'",
        (now, job_id),
    )
    return cursor.rowcount > 0


def finish_reservation(conn: sqlite3.Connection, job_id: str, now: float) -> bool:
    cursor = conn.execute(
        "UPDATE quota_reservations SET in_flight = 0, updated_at = ? "
        "WHERE job_id = ? AND in_flight = 1",
        (now, job_id),
    )
    return cursor.rowcount > 0


def refund_reservation(conn: sqlite3.Connection, job_id: str, now: float) -> Reservation | None:
    """reserved -> refunded, giving back every counter it took; None when nothing to refund."""
    reservation = get_reservation(conn, job_id)
    if reservation is None or reservation.state != RESERVED:
        return None
    conn.execute(
        "UPDATE quota_reservations SET state = 'refunded', in_flight = 0, updated_at = ? "
        "WHERE job_id = ?",
        (now, job_id),
    )
    if reservation.pool_period is not None:
        bump_counter(conn, GUILD_SCOPE, reservation.guild_id, reservation.pool_period, -1)
    bump_counter(conn, BOT_SCOPE, 0, reservation.bot_day, -1)
    if reservation.used_extra:
        add_extra_credit(conn, reservation.guild_id, reservation.user_id, 1)
    return reservation


def _job_ids_created_before(conn: sqlite3.Connection, condition: str, before: float) -> list[str]:
    rows = conn.execute(
        f"SELECT job_id FROM quota_reservations WHERE {condition} AND created_at < ?",  # noqa: S608
        (before,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def stale_reserved(conn: sqlite3.Connection, before: float) -> list[str]:
    return _job_ids_created_before(conn, "state = 'reserved'", before)


def stale_in_flight(conn: sqlite3.Connection, before: float) -> list[str]:
    return _job_ids_created_before(conn, "in_flight = 1", before)


def log_generation(
    conn: sqlite3.Connection,
    *,
    job_id: str,
    guild_id: int,
    user_id: int,
    prompt: str,
    outcome: str,
    link: str | None,
    now: float,
) -> None:
    """Record (or update) a generation's outcome for the server's records."""
    conn.execute(
        "INSERT INTO quota_generation_log (job_id, guild_id, user_id, prompt, outcome, link, "
        "noted_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
        "outcome = excluded.outcome, link = excluded.link, noted_at = excluded.noted_at",
        (job_id, guild_id, user_id, prompt, outcome, link, now),
    )


# -- moderator settings (async, one statement each) --------------------------------------------


class QuotaStore:
    """Settings, bars, block list and reports: the rarely-written side of the quota."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def guild_row(self, guild_id: int) -> sqlite3.Row | None:
        return await self.db.fetchone(_GUILD_SETTINGS_SQL, (guild_id,))

    async def set_guild_columns(
        self, guild_id: int, values: dict[str, int | None], now: float
    ) -> None:
        """Set settings columns (None = back to the default) for a server."""
        unknown = (
            set(values) - SETTING_COLUMNS - {"paused", "modlog_channel_id", "channels_restricted"}
        )
        if unknown:
            raise ValueError(f"unknown settings columns {sorted(unknown)}")
        if not values:
            return
        names = sorted(values)
        columns = ", ".join(names)
        marks = ", ".join("?" for _ in names)
        updates = ", ".join(f"{name} = excluded.{name}" for name in names)
        await self.db.execute(
            f"INSERT INTO quota_guild_settings (guild_id, {columns}, updated_at) "  # noqa: S608
            f"VALUES (?, {marks}, ?) ON CONFLICT (guild_id) DO UPDATE SET {updates}, "
            "updated_at = excluded.updated_at",
            (guild_id, *(values[name] for name in names), now),
        )

    async def allowed_channels(self, guild_id: int) -> frozenset[int]:
        rows = await self.db.fetchall(
            "SELECT channel_id FROM quota_allowed_channels WHERE guild_id = ?", (guild_id,)
        )
        return frozenset(int(r[0]) for r in rows)

    async def set_allowed_channels(
        self, guild_id: int, channel_ids: Collection[int], now: float
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM quota_allowed_channels WHERE guild_id = ?", (guild_id,))
            await conn.executemany(
                "INSERT INTO quota_allowed_channels (guild_id, channel_id) VALUES (?, ?)",
                [(guild_id, c) for c in sorted(set(channel_ids))],
            )
            await conn.execute(
                "INSERT INTO quota_guild_settings (guild_id, channels_restricted, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "channels_restricted = excluded.channels_restricted, "
                "updated_at = excluded.updated_at",
                (guild_id, int(bool(channel_ids)), now),
            )

    async def role_overrides(self, guild_id: int) -> list[RoleOverride]:
        return _role_overrides(await self.db.fetchall(_ROLE_OVERRIDES_SQL, (guild_id,)))

    async def set_role_override(self, guild_id: int, override: RoleOverride) -> None:
        await self.db.execute(
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
        changed = await self.db.execute(
            "DELETE FROM quota_role_overrides WHERE guild_id = ? AND role_id = ?",
            (guild_id, role_id),
        )
        return changed > 0

    async def member_row(self, guild_id: int, user_id: int) -> sqlite3.Row | None:
        return await self.db.fetchone(_MEMBER_SQL, (guild_id, user_id))

    async def add_extra_credit(self, guild_id: int, user_id: int, extra: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            add_extra_credit(conn, guild_id, user_id, extra)
            row = member_row(conn, guild_id, user_id)
            return 0 if row is None else int(row["extra_credit"])

        return await self.db.run_in_transaction(work)

    async def reset_member_window(self, guild_id: int, user_id: int, now: float) -> None:
        await self.db.execute(
            "INSERT INTO quota_members (guild_id, user_id, window_reset_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "window_reset_at = excluded.window_reset_at",
            (guild_id, user_id, now),
        )

    async def set_barred(self, guild_id: int, user_id: int, barred: bool) -> bool:
        """Returns whether anything changed."""

        def work(conn: sqlite3.Connection) -> bool:
            row = member_row(conn, guild_id, user_id)
            if row is not None and bool(row["barred"]) == barred:
                return False
            if row is None and not barred:
                return False
            conn.execute(
                "INSERT INTO quota_members (guild_id, user_id, barred) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET barred = excluded.barred",
                (guild_id, user_id, int(barred)),
            )
            return True

        return await self.db.run_in_transaction(work)

    async def barred_members(self, guild_id: int) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT user_id FROM quota_members WHERE guild_id = ? AND barred = 1 ORDER BY user_id",
            (guild_id,),
        )
        return [int(r[0]) for r in rows]

    async def blocked_terms(self, guild_id: int) -> list[BlockedTerm]:
        rows = await self.db.fetchall(
            "SELECT kind, pattern FROM quota_blocked_terms WHERE guild_id = ? "
            "ORDER BY kind, pattern",
            (guild_id,),
        )
        return [BlockedTerm(r["kind"], r["pattern"]) for r in rows]

    async def add_blocked_term(
        self, guild_id: int, term: BlockedTerm, added_by: int | None, now: float
    ) -> bool:
        changed = await self.db.execute(
            "INSERT OR IGNORE INTO quota_blocked_terms (guild_id, kind, pattern, added_by, "
            "added_at) VALUES (?, ?, ?, ?, ?)",
            (guild_id, term.kind, term.pattern, added_by, now),
        )
        return changed > 0

    async def remove_blocked_term(self, guild_id: int, term: BlockedTerm) -> bool:
        changed = await self.db.execute(
            "DELETE FROM quota_blocked_terms WHERE guild_id = ? AND kind = ? AND pattern = ?",
            (guild_id, term.kind, term.pattern),
        )
        return changed > 0

    async def counter(self, scope: str, scope_id: int, period: int) -> int:
        return _used(await self.db.fetchone(_COUNTER_SQL, (scope, scope_id, period)))

    async def leaderboard(self, guild_id: int, since: float, limit: int) -> list[tuple[int, int]]:
        """(user id, generations) for charged or still reserved credit since `since`."""
        rows = await self.db.fetchall(
            "SELECT user_id, COUNT(*) AS n FROM quota_reservations "
            "WHERE guild_id = ? AND created_at >= ? AND state != 'refunded' "
            "GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?",
            (guild_id, since, limit),
        )
        return [(int(r["user_id"]), int(r["n"])) for r in rows]

    async def forget_modlog_channel(self, guild_id: int, channel_id: int, now: float) -> bool:
        """Turn the mod log off if it still points at `channel_id` (a moderator may have chosen
        another one meanwhile); returns whether it did."""
        changed = await self.db.execute(
            "UPDATE quota_guild_settings SET modlog_channel_id = NULL, updated_at = ? "
            "WHERE guild_id = ? AND modlog_channel_id = ?",
            (now, guild_id, channel_id),
        )
        return changed > 0
