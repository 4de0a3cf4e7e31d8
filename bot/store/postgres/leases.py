"""PostgreSQL: job leases (who works on an unfinished job, until when), for the job repository.

Several processes claim from one table: batches are picked with `FOR UPDATE SKIP LOCKED`, so two
claimers never wait on (or take) the same rows. A global limit on active jobs (submitting or
submitted, and queued ones leased to run) is counted under one transaction-scoped advisory lock,
so two processes claiming at once cannot both take the last place.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg

from bot.jobs.models import UNFINISHED_STATES, Job, JobState, Origin
from bot.store.postgres.database import Connection, PostgresDatabase
from bot.store.rows import job_from_row

_UNFINISHED = [state.value for state in UNFINISHED_STATES]
_IN_FLIGHT = [JobState.SUBMITTING.value, JobState.SUBMITTED.value, JobState.COMPLETED.value]
_ACTIVE_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('lyria-jam-bot active jobs ' || current_schema()))"
)
# Jobs counted by a global limit ($1: the job being claimed, excluded; $2: now).
_ACTIVE_COUNT = (
    "SELECT COUNT(*) FROM jobs WHERE id <> $1 AND (state IN ('submitting', 'submitted') "
    "OR (state = 'queued' AND lease_owner IS NOT NULL AND lease_expires_at >= $2))"
)
# Fairness between requesters when claiming queued jobs: fewest running first, then oldest.
_FAIR_ORDER = (
    "(SELECT COUNT(*) FROM jobs r WHERE r.requester_id = j.requester_id "
    "AND r.state IN ('submitting', 'submitted')) + "
    "(SELECT COUNT(*) FROM jobs q WHERE q.requester_id = j.requester_id AND q.state = 'queued' "
    "AND (q.created_at, q.id) < (j.created_at, j.id)), j.created_at, j.id"
)


class PostgresLeases:
    _db: PostgresDatabase

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
        update = (
            "UPDATE jobs SET lease_owner = $2, lease_expires_at = $3 "
            "WHERE id = $1 AND state = ANY($5::text[]) "
            "AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < $4) RETURNING *"
        )
        values = (job_id, owner, until, now, _UNFINISHED)
        if active_limit is None:
            row = await self._db.fetchrow(update, *values)
            return None if row is None else job_from_row(row)

        async def work(conn: Connection) -> asyncpg.Record | None:
            state = await conn.fetchval("SELECT state FROM jobs WHERE id = $1", job_id)
            if state == JobState.QUEUED.value:
                await conn.execute(_ACTIVE_LOCK)
                if await conn.fetchval(_ACTIVE_COUNT, job_id, now) >= active_limit:
                    return None
            row: asyncpg.Record | None = await conn.fetchrow(update, *values)
            return row

        found = await self._db.run_in_transaction(work)
        return None if found is None else job_from_row(found)

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
        return await self._claim_where(
            "j.state = ANY($4::text[])",
            [_IN_FLIGHT],
            "j.created_at, j.id",
            owner,
            until,
            now,
            limit,
            origins,
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
        return await self._claim_where(
            "j.state = 'queued' AND j.created_at <= $4",
            [created_before],
            _FAIR_ORDER,
            owner,
            until,
            now,
            limit,
            origins,
            active_limit,
        )

    async def renew_leases(self, owner: str, *, until: float, now: float) -> list[str]:
        """Extend every lease `owner` holds on an unfinished job; the ids renewed."""
        rows = await self._db.fetch(
            "UPDATE jobs SET lease_expires_at = $1 WHERE lease_owner = $2 "
            "AND state = ANY($3::text[]) RETURNING id",
            until,
            owner,
            _UNFINISHED,
        )
        return [row[0] for row in rows]

    async def release_leases(self, owner: str, job_ids: Collection[str] | None = None) -> int:
        """Give up `owner`'s leases (on `job_ids` only, when given); how many were released."""
        if job_ids is not None and not job_ids:
            return 0
        return await self._db.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1 "
            "AND ($2::text[] IS NULL OR id = ANY($2::text[]))",
            owner,
            None if job_ids is None else list(job_ids),
        )

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
        if limit <= 0 or (origins is not None and not origins):
            return []
        # $1 origins (NULL: any), $2 now, $3 how many, $4.. the caller's values.
        pick = (
            f"SELECT j.id FROM jobs j WHERE {where} "  # noqa: S608
            "AND (j.lease_owner IS NULL OR j.lease_expires_at < $2) "
            "AND ($1::text[] IS NULL OR j.origin = ANY($1::text[])) "
            f"ORDER BY {order} LIMIT $3 FOR UPDATE OF j SKIP LOCKED"
        )
        wanted_origins = None if origins is None else [str(origin) for origin in origins]

        async def work(conn: Connection) -> list[asyncpg.Record]:
            wanted = limit
            if active_limit is not None:
                await conn.execute(_ACTIVE_LOCK)
                active = await conn.fetchval(_ACTIVE_COUNT, "", now)
                wanted = min(wanted, active_limit - active)
                if wanted <= 0:
                    return []
            ids = [row[0] for row in await conn.fetch(pick, wanted_origins, now, wanted, *values)]
            if not ids:
                return []
            rows = await conn.fetch(
                "UPDATE jobs SET lease_owner = $1, lease_expires_at = $2 "
                "WHERE id = ANY($3::text[]) RETURNING *",
                owner,
                until,
                ids,
            )
            order_of = {job_id: index for index, job_id in enumerate(ids)}
            return sorted(rows, key=lambda row: order_of[row["id"]])

        rows = await self._db.run_in_transaction(work)
        return [job_from_row(row) for row in rows]
