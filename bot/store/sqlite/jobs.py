"""SQLite: the `jobs` rows and the generation-time history, as `Job` values.

Every state change is a guarded UPDATE (`... WHERE id = ? AND state IN (expected)`), so an actor
holding a stale view of a job cannot clobber a newer state: the update simply changes nothing
and the caller is told (None).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import Any, Unpack

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
from bot.store.rows import (
    JOB_COLUMNS,
    check_job_changes,
    encode_job_value,
    job_from_row,
    observation_from_row,
    observation_values,
)
from bot.store.sqlite.database import SqliteDatabase
from bot.store.sqlite.leases import SqliteLeases

DEFAULT_HISTORY_LIMIT = 200
_FINAL_STATES = tuple(state for state in JobState if state.is_final)
_ENDED_WITHOUT_DELIVERY = tuple(
    state.value for state in _FINAL_STATES if state is not JobState.DELIVERED
)


class SqliteJobRepository(SqliteLeases):
    """Reads and writes `jobs` rows as `Job` values (leases: `SqliteLeases`)."""

    def __init__(self, db: SqliteDatabase, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self._db = db
        self._history_limit = history_limit

    async def insert(self, job: Job, *, lease: tuple[str, float] | None = None) -> None:
        columns = [*JOB_COLUMNS, "lease_owner", "lease_expires_at"]
        values = [encode_job_value(name, getattr(job, name)) for name in JOB_COLUMNS]
        values.extend(lease or (None, None))
        placeholders = ", ".join("?" for _ in columns)
        await self._db.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
            values,
        )

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
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
        """Move the job to `new_state` (setting `changes`) only if it is in `expected`.

        Returns the updated job, or None when the job is missing or in another state.
        """
        allowed = [expected] if isinstance(expected, JobState) else list(expected)
        return await self._guarded_update(job_id, allowed, now, dict(changes), new_state)

    async def update(
        self,
        job_id: str,
        *,
        expected: JobState | Collection[JobState] | None = None,
        now: float,
        learn: Observation | None = None,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        """Set `changes` without a state change (guarded by `expected` when given).

        `learn`: also append what polling saw of this generation to the history, in the same
        transaction (only when the update applied)."""
        allowed: list[JobState] | None
        if expected is None:
            allowed = None
        else:
            allowed = [expected] if isinstance(expected, JobState) else list(expected)
        return await self._guarded_update(job_id, allowed, now, dict(changes), None, learn=learn)

    async def deliver(self, job_id: str, delivery: Delivery, *, now: float) -> Job | None:
        """Record the delivery and move a completed job to delivered, in one statement.

        Returns the row afterwards (None when the job is missing); the caller checks its state:
        a job that was not completed keeps its state and its delivery record."""

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            conn.execute(
                "UPDATE jobs SET state = ?, delivered_at = ?, updated_at = ?, delivered_via = ?, "
                "result_message_id = ?, result_channel_id = ?, saved_to = ?, "
                "delivered_files = ? WHERE id = ? AND state = ?",
                (
                    JobState.DELIVERED.value,
                    now,
                    now,
                    delivery.via.value,
                    delivery.message_id,
                    delivery.channel_id,
                    delivery.saved_to,
                    json.dumps(list(delivery.files)),
                    job_id,
                    JobState.COMPLETED.value,
                ),
            ).close()
            return _select_row(conn, job_id)

        row = await self._db.run_in_transaction(work)
        return None if row is None else job_from_row(row)

    async def save_poll_counts(self, counts: Collection[tuple[str, int, str | None]]) -> None:
        """Persist (job id, poll count, provider status) kept in memory, for submitted jobs."""
        await self._db.executemany(
            "UPDATE jobs SET poll_count = MAX(poll_count, ?), "
            "provider_status = COALESCE(?, provider_status) WHERE id = ? AND state = ?",
            [(count, status, job_id, JobState.SUBMITTED.value) for job_id, count, status in counts],
        )

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]:
        """Jobs that still need work or delivery, oldest first."""
        states = [state.value for state in UNFINISHED_STATES]
        sql = f"SELECT * FROM jobs WHERE state IN ({', '.join('?' for _ in states)})"  # noqa: S608
        params: list[Any] = list(states)
        if origins is not None:
            if not origins:
                return []
            sql += f" AND origin IN ({', '.join('?' for _ in origins)})"
            params.extend(str(origin) for origin in origins)
        rows = await self._db.fetchall(sql + " ORDER BY created_at, rowid", params)
        return [job_from_row(row) for row in rows]

    async def unreported_failures(
        self, origins: Collection[Origin] | None, *, since: float
    ) -> list[Job]:
        states = [state.value for state in FAILED_STATES]
        sql = (
            f"SELECT * FROM jobs WHERE state IN ({', '.join('?' for _ in states)}) "  # noqa: S608
            "AND failure_reported_at IS NULL AND updated_at >= ?"
        )
        params: list[Any] = [*states, since]
        if origins is not None:
            if not origins:
                return []
            sql += f" AND origin IN ({', '.join('?' for _ in origins)})"
            params.extend(str(origin) for origin in origins)
        rows = await self._db.fetchall(sql + " ORDER BY updated_at, rowid", params)
        return [job_from_row(row) for row in rows]

    async def history(
        self, requester_id: str, guild_id: str | None, *, limit: int, offset: int = 0
    ) -> list[Job]:
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE requester_id = ? AND guild_id IS ? AND state = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (requester_id, guild_id, JobState.DELIVERED.value, limit, offset),
        )
        return [job_from_row(row) for row in rows]

    async def count_by_state(self) -> dict[JobState, int]:
        rows = await self._db.fetchall("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {JobState(row[0]): int(row[1]) for row in rows}

    # -- retention -----------------------------------------------------------------------------

    async def audio_to_prune(self, *, finished_before: float, limit: int) -> list[Job]:
        """Jobs whose audio file is still kept and whose result went out (or that ended) before
        `finished_before`, oldest first; never a terminal job's (that file is its result)."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE audio_path IS NOT NULL AND audio_pruned_at IS NULL "
            "AND origin <> ? AND ("
            "(state = ? AND delivered_at < ?) OR (state IN (?, ?, ?, ?) AND updated_at < ?)"
            ") ORDER BY COALESCE(delivered_at, updated_at), id LIMIT ?",
            (
                Origin.TERMINAL.value,
                JobState.DELIVERED.value,
                finished_before,
                *_ENDED_WITHOUT_DELIVERY,
                finished_before,
                limit,
            ),
        )
        return [job_from_row(row) for row in rows]

    async def mark_audio_pruned(self, job_ids: Collection[str], *, now: float) -> int:
        """Record that these jobs' audio files are gone; returns how many rows changed."""
        if not job_ids:
            return 0
        ids = list(job_ids)
        marks = ", ".join("?" for _ in ids)
        return await self._db.execute(
            f"UPDATE jobs SET audio_pruned_at = ? WHERE audio_pruned_at IS NULL "  # noqa: S608
            f"AND id IN ({marks})",
            [now, *ids],
        )

    async def delete_finished(self, *, updated_before: float, limit: int) -> int:
        """Delete up to `limit` rows of jobs that ended before `updated_before`, keeping any
        whose audio file is still kept (a terminal job's file is its owner's, not ours) and any
        whose credit is still reserved (deleting it would let start-up refund it)."""
        finals = [state.value for state in _FINAL_STATES]
        marks = ", ".join("?" for _ in finals)
        return await self._db.execute(
            f"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ({marks}) "  # noqa: S608
            "AND updated_at < ? "
            "AND (audio_path IS NULL OR audio_pruned_at IS NOT NULL OR origin = ?) "
            "AND NOT EXISTS (SELECT 1 FROM quota_reservations r "
            "WHERE r.job_id = jobs.id AND r.state = 'reserved') "
            "ORDER BY updated_at LIMIT ?)",
            [*finals, updated_before, Origin.TERMINAL.value, limit],
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
        limit = self._history_limit
        await self._db.run_in_transaction(
            lambda conn: _append_observation(conn, job_id, values, now, limit)
        )

    async def generation_times(self) -> list[float]:
        """The kept upper bounds (completion seen by then), oldest first."""
        rows = await self._db.fetchall("SELECT seconds FROM generation_times ORDER BY id")
        return [float(row[0]) for row in rows]

    async def generation_observations(self) -> list[Observation]:
        """The kept observations, oldest first (rows from before intervals read as exact)."""
        rows = await self._db.fetchall("SELECT * FROM generation_times ORDER BY id")
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
        assignments = [f"{name} = ?" for name in changes]
        values: list[Any] = [encode_job_value(name, value) for name, value in changes.items()]
        assignments.append("updated_at = ?")
        values.append(now)
        sql = f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ?"  # noqa: S608
        values.append(job_id)
        if allowed is not None:
            sql += f" AND state IN ({', '.join('?' for _ in allowed)})"
            values.extend(state.value for state in allowed)

        limit = self._history_limit

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            if conn.execute(sql, values).rowcount != 1:
                return None
            if learnt is not None:
                _append_observation(conn, job_id, learnt, now, limit)
            return _select_row(conn, job_id)

        row = await self._db.run_in_transaction(work)
        return None if row is None else job_from_row(row)


_INSERT_OBSERVATION = (
    "INSERT INTO generation_times (job_id, recorded_at, seconds, submitted_at, lower_seconds, "
    "started_after, started_by) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _append_observation(
    conn: sqlite3.Connection,
    job_id: str,
    values: tuple[float | None, ...],
    now: float,
    limit: int,
) -> None:
    """Append one observation (`rows.observation_values`) and drop all but the newest `limit`
    (inside a transaction)."""
    conn.execute(_INSERT_OBSERVATION, (job_id, now, *values))
    conn.execute(
        "DELETE FROM generation_times WHERE id NOT IN "
        "(SELECT id FROM generation_times ORDER BY id DESC LIMIT ?)",
        (limit,),
    )


def _select_row(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row
