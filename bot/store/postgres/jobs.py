"""PostgreSQL: the `jobs` rows and the generation-time history, as `Job` values.

The same guarded writes as SQLite's (`UPDATE ... WHERE id = $1 AND state = ANY(expected)`),
each one statement that returns the row it wrote, so a stale actor changes nothing and is told
(None). Guards stay on state alone, even with several processes: a lease (`leases.py`) says who
should work on a job, while the state guard is what makes a late writer after a takeover
harmless (a job taken over in `submitting` becomes `submit_unknown`, never submitted again).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Unpack

import asyncpg

from bot.jobs.models import (
    FAILED_STATES,
    UNFINISHED_STATES,
    Delivery,
    Job,
    JobChanges,
    JobState,
    Observation,
    Origin,
)
from bot.store.postgres.database import Connection, PostgresDatabase
from bot.store.postgres.leases import PostgresLeases
from bot.store.rows import (
    JOB_COLUMNS,
    check_job_changes,
    encode_job_value,
    job_from_row,
    observation_from_row,
    observation_values,
)

DEFAULT_HISTORY_LIMIT = 200


class PostgresJobRepository(PostgresLeases):
    """Reads and writes `jobs` rows as `Job` values (leases: `PostgresLeases`)."""

    def __init__(self, db: PostgresDatabase, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self._db = db
        self._history_limit = history_limit

    async def insert(self, job: Job, *, lease: tuple[str, float] | None = None) -> None:
        columns = [*JOB_COLUMNS, "lease_owner", "lease_expires_at"]
        values = [encode_job_value(name, getattr(job, name)) for name in JOB_COLUMNS]
        values.extend(lease or (None, None))
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await self._db.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            *values,
        )

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        return None if row is None else job_from_row(row)

    async def transition(
        self,
        job_id: str,
        expected: JobState | Collection[JobState],
        new_state: JobState,
        *,
        now: float,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        """Move the job to `new_state` (setting `changes`) only if it is in `expected`."""
        return await self._guarded_update(job_id, _states(expected), now, dict(changes), new_state)

    async def update(
        self,
        job_id: str,
        *,
        expected: JobState | Collection[JobState] | None = None,
        now: float,
        learn: Observation | None = None,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        """Set `changes` (guarded by `expected`); `learn` (what polling saw of the finished
        generation) joins the history in the same transaction, only when the update applied."""
        allowed = None if expected is None else _states(expected)
        return await self._guarded_update(job_id, allowed, now, dict(changes), None, learn=learn)

    async def deliver(self, job_id: str, delivery: Delivery, *, now: float) -> Job | None:
        """completed → delivered with its delivery record; the row afterwards (None: no job)."""
        row = await self._db.fetchrow(
            "UPDATE jobs SET state = $1, delivered_at = $2, updated_at = $2, delivered_via = $3, "
            "result_message_id = $4, result_channel_id = $5, saved_to = $6, delivered_files = $7 "
            "WHERE id = $8 AND state = $9 RETURNING *",
            JobState.DELIVERED.value,
            now,
            delivery.via.value,
            delivery.message_id,
            delivery.channel_id,
            delivery.saved_to,
            json.dumps(list(delivery.files)),
            job_id,
            JobState.COMPLETED.value,
        )
        if row is None:  # not completed (or unknown): the row as it is
            row = await self._db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        return None if row is None else job_from_row(row)

    async def save_poll_counts(self, counts: Collection[tuple[str, int, str | None]]) -> None:
        """Persist (job id, poll count, provider status) kept in memory, for submitted jobs."""
        if not counts:
            return
        ids, polls, statuses = zip(*counts, strict=True)
        await self._db.execute(
            "UPDATE jobs SET poll_count = GREATEST(jobs.poll_count, c.polls), "
            "provider_status = COALESCE(c.status, jobs.provider_status) "
            "FROM unnest($1::text[], $2::int[], $3::text[]) AS c (id, polls, status) "
            "WHERE jobs.id = c.id AND jobs.state = $4",
            list(ids),
            list(polls),
            list(statuses),
            JobState.SUBMITTED.value,
        )

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]:
        """Jobs that still need work or delivery, oldest first."""
        if origins is not None and not origins:
            return []
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE state = ANY($1::text[]) "
            "AND ($2::text[] IS NULL OR origin = ANY($2::text[])) ORDER BY created_at, id",
            [state.value for state in UNFINISHED_STATES],
            None if origins is None else [str(origin) for origin in origins],
        )
        return [job_from_row(row) for row in rows]

    async def unreported_failures(
        self, origins: Collection[Origin] | None, *, since: float
    ) -> list[Job]:
        if origins is not None and not origins:
            return []
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE state = ANY($1::text[]) AND failure_reported_at IS NULL "
            "AND updated_at >= $2 AND ($3::text[] IS NULL OR origin = ANY($3::text[])) "
            "ORDER BY updated_at, id",
            [state.value for state in FAILED_STATES],
            since,
            None if origins is None else [str(origin) for origin in origins],
        )
        return [job_from_row(row) for row in rows]

    async def history(
        self, requester_id: str, guild_id: str | None, *, limit: int, offset: int = 0
    ) -> list[Job]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE requester_id = $1 AND guild_id IS NOT DISTINCT FROM $2 "
            "AND state = $3 ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
            requester_id,
            guild_id,
            JobState.DELIVERED.value,
            limit,
            offset,
        )
        return [job_from_row(row) for row in rows]

    async def count_by_state(self) -> dict[JobState, int]:
        rows = await self._db.fetch("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {JobState(row[0]): int(row[1]) for row in rows}

    # -- retention -----------------------------------------------------------------------------

    async def audio_to_prune(self, *, finished_before: float, limit: int) -> list[Job]:
        """Jobs whose audio file is still kept and whose result went out (or that ended) before
        `finished_before`, oldest first; never a terminal job's (that file is its result)."""
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE audio_path IS NOT NULL AND audio_pruned_at IS NULL "
            "AND origin <> $1 AND ((state = $2 AND delivered_at < $3) "
            "OR (state = ANY($4::text[]) AND updated_at < $3)) "
            "ORDER BY COALESCE(delivered_at, updated_at), id LIMIT $5",
            Origin.TERMINAL.value,
            JobState.DELIVERED.value,
            finished_before,
            [s.value for s in JobState if s.is_final and s is not JobState.DELIVERED],
            limit,
        )
        return [job_from_row(row) for row in rows]

    async def mark_audio_pruned(self, job_ids: Collection[str], *, now: float) -> int:
        """Record that these jobs' audio files are gone; returns how many rows changed."""
        if not job_ids:
            return 0
        return await self._db.execute(
            "UPDATE jobs SET audio_pruned_at = $1 "
            "WHERE audio_pruned_at IS NULL AND id = ANY($2::text[])",
            now,
            list(job_ids),
        )

    async def delete_finished(self, *, updated_before: float, limit: int) -> int:
        """Delete up to `limit` rows of jobs that ended before `updated_before`, keeping any
        whose audio file is still kept (a terminal job's file is its owner's, not ours) and any
        whose credit is still reserved (deleting it would let start-up refund it)."""
        return await self._db.execute(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = ANY($1::text[]) "
            "AND updated_at < $2 "
            "AND (audio_path IS NULL OR audio_pruned_at IS NOT NULL OR origin = $3) "
            "AND NOT EXISTS (SELECT 1 FROM quota_reservations r "
            "WHERE r.job_id = jobs.id AND r.state = 'reserved') "
            "ORDER BY updated_at LIMIT $4)",
            [s.value for s in JobState if s.is_final],
            updated_before,
            Origin.TERMINAL.value,
            limit,
        )

    # -- generation-time history ----------------------------------------------------------------

    async def record_generation_time(self, job_id: str, seconds: float, *, now: float) -> None:
        """Append one duration known as a single number (drops all but the newest
        `history_limit`)."""
        await self.record_observation(job_id, Observation.exact(now - seconds, seconds), now=now)

    async def record_observation(
        self, job_id: str, observation: Observation, *, now: float
    ) -> None:
        """Append what polling saw of one finished generation (drops all but the newest
        `history_limit`)."""
        values = observation_values(observation)

        async def work(conn: Connection) -> None:
            await _append_observation(conn, job_id, values, now, self._history_limit)

        await self._db.run_in_transaction(work)

    async def generation_times(self) -> list[float]:
        """The kept upper bounds (completion seen by then), oldest first."""
        rows = await self._db.fetch("SELECT seconds FROM generation_times ORDER BY id")
        return [float(row[0]) for row in rows]

    async def generation_observations(self) -> list[Observation]:
        """The kept observations, oldest first (rows from before intervals read as exact)."""
        rows = await self._db.fetch("SELECT * FROM generation_times ORDER BY id")
        return [observation_from_row(row) for row in rows]

    # -- internals ------------------------------------------------------------------------------

    async def _guarded_update(
        self,
        job_id: str,
        allowed: list[JobState] | None,
        now: float,
        changes: dict[str, Any],
        new_state: JobState | None,
        *,
        learn: Observation | None = None,
    ) -> Job | None:
        check_job_changes(changes)
        learnt = None if learn is None else observation_values(learn)
        if new_state is not None:
            changes = {"state": new_state, **changes}
        values: list[Any] = [encode_job_value(name, value) for name, value in changes.items()]
        assignments = [f"{name} = ${i}" for i, name in enumerate(changes, start=1)]
        values.append(now)
        assignments.append(f"updated_at = ${len(values)}")
        guard, guard_values = _guard(job_id, allowed, first=len(values) + 1)
        sql = f"UPDATE jobs SET {', '.join(assignments)} WHERE {guard} RETURNING *"  # noqa: S608
        values.extend(guard_values)

        async def work(conn: Connection) -> asyncpg.Record | None:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *values)
            if row is not None and learnt is not None:
                await _append_observation(conn, job_id, learnt, now, self._history_limit)
            return row

        if learnt is None:
            row = await self._db.fetchrow(sql, *values)  # one statement: no transaction needed
        else:
            row = await self._db.run_in_transaction(work)
        return None if row is None else job_from_row(row)


def _guard(job_id: str, allowed: list[JobState] | None, *, first: int) -> tuple[str, list[Any]]:
    """The WHERE clause of a guarded write, its parameters numbered from `first`."""
    if allowed is None:
        return f"id = ${first}", [job_id]
    return f"id = ${first} AND state = ANY(${first + 1}::text[])", [
        job_id,
        [state.value for state in allowed],
    ]


def _states(expected: JobState | Collection[JobState]) -> list[JobState]:
    return [expected] if isinstance(expected, JobState) else list(expected)


_INSERT_OBSERVATION = (
    "INSERT INTO generation_times (job_id, recorded_at, seconds, submitted_at, lower_seconds, "
    "started_after, started_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


async def _append_observation(
    conn: Connection, job_id: str, values: tuple[float | None, ...], now: float, limit: int
) -> None:
    """Append one observation (`rows.observation_values`) and drop all but the newest `limit`
    (inside a transaction)."""
    await conn.execute(_INSERT_OBSERVATION, job_id, now, *values)
    await conn.execute(
        "DELETE FROM generation_times WHERE id <= "
        "(SELECT id FROM generation_times ORDER BY id DESC OFFSET $1 LIMIT 1)",
        limit,
    )
