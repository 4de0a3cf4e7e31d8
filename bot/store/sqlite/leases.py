"""SQLite: job leases (who works on an unfinished job, until when), for `SqliteJobRepository`.

One process owns an SQLite file in practice, so these calls mostly find their own leases; each
claim is still one IMMEDIATE transaction, so the file could be shared safely. "Active" jobs (what
a global limit counts) are those submitting or submitted, and queued ones leased to run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

from bot.jobs.models import UNFINISHED_STATES, Job, JobState, Origin
from bot.store.rows import job_from_row
from bot.store.sqlite.database import SqliteDatabase

_UNFINISHED = tuple(state.value for state in UNFINISHED_STATES)
_IN_FLIGHT = (JobState.SUBMITTING.value, JobState.SUBMITTED.value, JobState.COMPLETED.value)
_UNFINISHED_SQL = f"state IN ({', '.join(repr(s) for s in _UNFINISHED)})"
# Jobs counted by a global limit (the job being claimed excluded).
_ACTIVE_COUNT = (
    "SELECT COUNT(*) FROM jobs WHERE id <> :id AND (state IN ('submitting', 'submitted') "
    "OR (state = 'queued' AND lease_owner IS NOT NULL AND lease_expires_at >= :now))"
)
# Fairness between requesters when claiming queued jobs: fewest running first, then oldest.
_FAIR_ORDER = (
    "(SELECT COUNT(*) FROM jobs r WHERE r.requester_id = j.requester_id "
    "AND r.state IN ('submitting', 'submitted')) + "
    "(SELECT COUNT(*) FROM jobs q WHERE q.requester_id = j.requester_id AND q.state = 'queued' "
    "AND (q.created_at, q.id) < (j.created_at, j.id)), j.created_at, j.id"
)


class SqliteLeases:
    _db: SqliteDatabase

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        until: float,
        now: float,
        active_limit: int | None = None,
    ) -> Job | None:
        """Lease an unfinished job to `owner` until `until` if its lease is free, expired or
        already `owner`'s (a queued one only while fewer than `active_limit` jobs are active);
        the row, or None."""
        params = {"id": job_id, "owner": owner, "until": until, "now": now}

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            if active_limit is not None:
                state = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if state is not None and state[0] == JobState.QUEUED.value:
                    active = conn.execute(_ACTIVE_COUNT, params).fetchone()[0]
                    if active >= active_limit:
                        return None
            row: sqlite3.Row | None = conn.execute(
                "UPDATE jobs SET lease_owner = :owner, lease_expires_at = :until "  # noqa: S608
                f"WHERE id = :id AND {_UNFINISHED_SQL} "
                "AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires_at < :now) "
                "RETURNING *",
                params,
            ).fetchone()
            return row

        row = await self._db.run_in_transaction(work)
        return None if row is None else job_from_row(row)

    async def claim_in_flight(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        origins: Collection[Origin] | None = None,
    ) -> list[Job]:
        """Lease up to `limit` jobs submitting, submitted or completed whose lease is free or
        expired (a dead process's), oldest first."""
        if origins is not None and not origins:
            return []
        where = f"state IN ({', '.join('?' for _ in _IN_FLIGHT)})"
        values: list[Any] = list(_IN_FLIGHT)
        return await self._claim_where(
            where, values, "created_at, id", owner, until, now, limit, origins
        )

    async def claim_queued(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        created_before: float,
        origins: Collection[Origin] | None = None,
        active_limit: int | None = None,
    ) -> list[Job]:
        """Lease up to `limit` queued jobs (created before `created_before`: past their cancel
        window) whose lease is free or expired, fairly: the requester with the fewest running
        jobs first, then the oldest; never more than `active_limit` active jobs in all."""
        if origins is not None and not origins:
            return []
        where = "state = ? AND created_at <= ?"
        values: list[Any] = [JobState.QUEUED.value, created_before]
        return await self._claim_where(
            where, values, _FAIR_ORDER, owner, until, now, limit, origins, active_limit
        )

    async def renew_leases(self, owner: str, *, until: float, now: float) -> list[str]:
        """Extend every lease `owner` holds on an unfinished job; the ids renewed."""
        rows = await self._db.fetchall(
            f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND {_UNFINISHED_SQL} "  # noqa: S608
            "RETURNING id",
            (until, owner),
        )
        return [row[0] for row in rows]

    async def release_leases(self, owner: str, job_ids: Collection[str] | None = None) -> int:
        """Give up `owner`'s leases (on `job_ids` only, when given); how many were released."""
        sql = "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?"
        values: list[Any] = [owner]
        if job_ids is not None:
            if not job_ids:
                return 0
            ids = list(job_ids)
            sql += f" AND id IN ({', '.join('?' for _ in ids)})"
            values.extend(ids)
        return await self._db.execute(sql, values)

    async def _claim_where(
        self,
        where: str,
        values: list[Any],
        order: str,
        owner: str,
        until: float,
        now: float,
        limit: int,
        origins: Collection[Origin] | None,
        active_limit: int | None = None,
    ) -> list[Job]:
        if limit <= 0:
            return []
        sql = (
            f"SELECT j.id FROM jobs j WHERE {where} "  # noqa: S608
            "AND (lease_owner IS NULL OR lease_expires_at < ?)"
        )
        params = [*values, now]
        if origins is not None:
            sql += f" AND origin IN ({', '.join('?' for _ in origins)})"
            params.extend(str(origin) for origin in origins)
        sql += f" ORDER BY {order} LIMIT ?"

        def work(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            wanted = limit
            if active_limit is not None:
                active = conn.execute(_ACTIVE_COUNT, {"id": "", "now": now}).fetchone()[0]
                wanted = min(wanted, active_limit - active)
                if wanted <= 0:
                    return []
            ids = [row[0] for row in conn.execute(sql, [*params, wanted]).fetchall()]
            if not ids:
                return []
            marks = ", ".join("?" for _ in ids)
            rows = conn.execute(
                f"UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id IN ({marks}) "  # noqa: S608
                "RETURNING *",
                [owner, until, *ids],
            ).fetchall()
            order_of = {job_id: index for index, job_id in enumerate(ids)}
            return sorted(rows, key=lambda row: order_of[row["id"]])

        rows = await self._db.run_in_transaction(work)
        return [job_from_row(row) for row in rows]
