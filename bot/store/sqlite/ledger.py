"""SQLite: the quota's reads and writes inside one transaction, on the database thread.

The quota repository (quota.py) and the jam repository (jams.py) call these inside their
transactions, so a reservation, a refund or a jam's budget change is decided and written at once.
"""

from __future__ import annotations

import sqlite3

from bot.quota.models import (
    BlockedTerm,
    GuildQuotaRecord,
    JamFunds,
    MemberQuotaRecord,
    Requester,
    Reservation,
    ReservationState,
    ReserveContext,
    ReserveDecision,
    RoleOverride,
    Usage,
    UsageQuery,
)
from bot.store.base import ReserveRules
from bot.store.rows import (
    guild_from_row,
    member_from_row,
    reservation_from_row,
    role_overrides_from_rows,
)

GUILD_SCOPE = "guild"
BOT_SCOPE = "bot"

# -- inside a transaction, on the database thread ------------------------------------------------

MEMBER_SQL = (
    "SELECT extra_credit, window_reset_at, barred FROM quota_members "
    "WHERE guild_id = ? AND user_id = ?"
)
OVERRIDES_SQL = (
    "SELECT role_id, member_limit, max_in_flight, exempt FROM quota_role_overrides "
    "WHERE guild_id = ? ORDER BY role_id"
)
COUNTER_SQL = "SELECT used FROM quota_counters WHERE scope = ? AND scope_id = ? AND period = ?"
RESERVATION_SQL = "SELECT * FROM quota_reservations WHERE job_id = ?"


def reserve_in_transaction(
    conn: sqlite3.Connection,
    requester: Requester,
    job_id: str,
    now: float,
    blocked_term: BlockedTerm | None,
    rules: ReserveRules,
    funds: JamFunds | None = None,
) -> ReserveDecision:
    """Decide with `rules` and take what a grant counts, inside the caller's transaction (the
    jam repository calls it with `funds` to reserve an entry and write it in one go)."""
    ctx = _reserve_context(conn, requester, job_id, now, blocked_term, funds)
    planned = rules.plan(ctx)
    if isinstance(planned, ReserveDecision):
        return planned
    usage = usage_in(conn, requester.scope_id, requester.user_id, planned)
    decision = rules.decide(ctx, planned, usage)
    if decision.reservation is not None:
        _take(conn, decision.reservation)
    return decision


def _reserve_context(
    conn: sqlite3.Connection,
    requester: Requester,
    job_id: str,
    now: float,
    blocked_term: BlockedTerm | None,
    funds: JamFunds | None,
) -> ReserveContext:
    gid, uid = requester.scope_id, requester.user_id
    existing = conn.execute(RESERVATION_SQL, (job_id,)).fetchone()
    guild = None
    channel_allowed = False
    overrides: list[RoleOverride] = []
    if requester.guild_id is not None:
        row = conn.execute("SELECT * FROM quota_guild_settings WHERE guild_id = ?", (gid,))
        found = row.fetchone()
        guild = None if found is None else guild_from_row(found)
        if guild is not None and guild.channels_restricted and requester.channel_id is not None:
            channel_allowed = (
                conn.execute(
                    "SELECT 1 FROM quota_allowed_channels WHERE guild_id = ? AND channel_id = ?",
                    (gid, requester.channel_id),
                ).fetchone()
                is not None
            )
        if requester.role_ids:
            overrides = role_overrides_from_rows(conn.execute(OVERRIDES_SQL, (gid,)).fetchall())
    return ReserveContext(
        requester=requester,
        job_id=job_id,
        now=now,
        existing=None if existing is None else reservation_from_row(existing),
        guild=guild,
        member=member_from_row(conn.execute(MEMBER_SQL, (gid, uid)).fetchone()),
        channel_allowed=channel_allowed,
        overrides=tuple(overrides),
        blocked_term=blocked_term,
        funds=funds,
    )


def usage_in(conn: sqlite3.Connection, guild_id: int, user_id: int, query: UsageQuery) -> Usage:
    in_flight = 0
    if query.in_flight_since is not None:
        in_flight = int(
            conn.execute(
                "SELECT COUNT(*) FROM quota_reservations "
                "WHERE guild_id = ? AND user_id = ? AND in_flight = 1 AND created_at > ?",
                (guild_id, user_id, query.in_flight_since),
            ).fetchone()[0]
        )
    times: tuple[float, ...] = ()
    if query.window_since is not None:
        times = tuple(
            float(r[0])
            for r in conn.execute(
                "SELECT created_at FROM quota_reservations "
                "WHERE guild_id = ? AND user_id = ? AND created_at > ? "
                "AND counts_member = 1 AND used_extra = 0 AND state != 'refunded' "
                "ORDER BY created_at",
                (guild_id, user_id, query.window_since),
            ).fetchall()
        )
    pool_used = 0
    if query.pool_period is not None:
        pool_used = counter(conn, GUILD_SCOPE, guild_id, query.pool_period)
    return Usage(
        in_flight=in_flight,
        window_times=times,
        pool_used=pool_used,
        bot_used=counter(conn, BOT_SCOPE, 0, query.bot_day),
    )


def counter(conn: sqlite3.Connection, scope: str, scope_id: int, period: int) -> int:
    row = conn.execute(COUNTER_SQL, (scope, scope_id, period)).fetchone()
    return 0 if row is None else int(row[0])


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


def _take(conn: sqlite3.Connection, r: Reservation) -> None:
    """Insert a granted reservation and take what it counts: pool, bot cap, extra credit."""
    conn.execute(
        "INSERT INTO quota_reservations (job_id, guild_id, user_id, channel_id, state, in_flight, "
        "counts_member, used_extra, pool_period, bot_day, member_remaining, pool_remaining, "
        "created_at, updated_at, jam_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.job_id,
            r.guild_id,
            r.user_id,
            r.channel_id,
            r.state.value,
            int(r.in_flight),
            int(r.counts_member),
            int(r.used_extra),
            r.pool_period,
            r.bot_day,
            r.member_remaining,
            r.pool_remaining,
            r.created_at,
            r.updated_at,
            r.jam_id,
        ),
    )
    if r.pool_period is not None:
        bump_counter(conn, GUILD_SCOPE, r.guild_id, r.pool_period, 1)
    bump_counter(conn, BOT_SCOPE, 0, r.bot_day, 1)
    if r.used_extra:
        add_extra_credit(conn, r.guild_id, r.user_id, -1)


def refund_job(conn: sqlite3.Connection, job_id: str, now: float) -> bool:
    """reserved -> refunded, giving back everything `_take` took; False when nothing to do."""
    row = conn.execute(RESERVATION_SQL, (job_id,)).fetchone()
    if row is None:
        return False
    r = reservation_from_row(row)
    if r.state is not ReservationState.RESERVED:
        return False
    conn.execute(
        "UPDATE quota_reservations SET state = 'refunded', in_flight = 0, updated_at = ? "
        "WHERE job_id = ?",
        (now, job_id),
    )
    if r.pool_period is not None:
        bump_counter(conn, GUILD_SCOPE, r.guild_id, r.pool_period, -1)
    if r.jam_id is not None:
        _refund_to_jam(conn, r.jam_id)
    bump_counter(conn, BOT_SCOPE, 0, r.bot_day, -1)
    if r.used_extra:
        add_extra_credit(conn, r.guild_id, r.user_id, 1)
    return True


def _refund_to_jam(conn: sqlite3.Connection, jam_id: str) -> None:
    """A jam-paid piece's credit goes back to the jam's budget: nothing to write while the jam
    holds its budget (what it spent is counted from these rows). Once the jam has given its
    rest back to the pool, the credit goes to the pool period the budget came from."""
    row = conn.execute(
        "SELECT guild_id, pool_period FROM jams WHERE id = ? AND settled = 1", (jam_id,)
    ).fetchone()
    if row is not None:
        bump_counter(conn, GUILD_SCOPE, int(row[0]), int(row[1]), -1)
        conn.execute("UPDATE jams SET returned = returned + 1 WHERE id = ?", (jam_id,))


def finish_job(conn: sqlite3.Connection, job_id: str, now: float) -> None:
    conn.execute(
        "UPDATE quota_reservations SET in_flight = 0, updated_at = ? "
        "WHERE job_id = ? AND in_flight = 1",
        (now, job_id),
    )


def guild_record(conn: sqlite3.Connection, guild_id: int) -> GuildQuotaRecord | None:
    row = conn.execute("SELECT * FROM quota_guild_settings WHERE guild_id = ?", (guild_id,))
    found = row.fetchone()
    return None if found is None else guild_from_row(found)


def member_record(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberQuotaRecord:
    return member_from_row(conn.execute(MEMBER_SQL, (guild_id, user_id)).fetchone())
