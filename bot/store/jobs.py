"""All SQL for jobs and the generation-time history.

Every state change is a guarded UPDATE (`... WHERE id = ? AND state IN (expected)`), so an actor
holding a stale view of a job cannot clobber a newer state: the update simply changes nothing
and the caller is told (None).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import fields
from typing import Any

from bot.jobs.models import Job, JobState
from bot.store.database import Database

_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Job))
_JSON_COLUMNS = frozenset({"context", "usage_headers"})
# Columns a transition or update may set; `id`, `created_at` and `state` are handled apart.
_WRITABLE = frozenset(_COLUMNS) - {"id", "created_at", "state"}
UNFINISHED_STATES: tuple[JobState, ...] = (
    JobState.QUEUED,
    JobState.SUBMITTING,
    JobState.SUBMITTED,
    JobState.COMPLETED,
)
DEFAULT_HISTORY_LIMIT = 200


class JobStore:
    """Reads and writes `jobs` rows as `Job` values."""

    def __init__(self, db: Database, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self._db = db
        self._history_limit = history_limit

    @property
    def db(self) -> Database:
        return self._db

    async def insert(self, job: Job) -> None:
        values = [_encode(name, getattr(job, name)) for name in _COLUMNS]
        placeholders = ", ".join("?" for _ in _COLUMNS)
        await self._db.execute(
            f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
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
        **changes: Any,
    ) -> Job | None:
        """Move the job to `new_state` (setting `changes`) only if it is in `expected`.

        Returns the updated job, or None when the job is missing or in another state.
        """
        allowed = [expected] if isinstance(expected, JobState) else list(expected)
        return await self._guarded_update(job_id, allowed, now, {"state": new_state, **changes})

    async def update(
        self,
        job_id: str,
        *,
        expected: JobState | Collection[JobState] | None = None,
        now: float,
        increment_polls: bool = False,
        learn_seconds: float | None = None,
        **changes: Any,
    ) -> Job | None:
        """Set `changes` without a state change (guarded by `expected` when given).

        `learn_seconds`: also append this generation time to the history, in the same
        transaction (only when the update applied)."""
        allowed: list[JobState] | None
        if expected is None:
            allowed = None
        else:
            allowed = [expected] if isinstance(expected, JobState) else list(expected)
        return await self._guarded_update(
            job_id,
            allowed,
            now,
            changes,
            increment_polls=increment_polls,
            learn_seconds=learn_seconds,
        )

    async def merge_context(
        self, job_id: str, updates: dict[str, Any], *, now: float
    ) -> Job | None:
        """Merge `updates` into the job's context in one transaction (read, merge, write)."""

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row = conn.execute("SELECT context FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            _write_merged_context(conn, job_id, row[0], updates, now)
            return _select_row(conn, job_id)

        row = await self._db.run_in_transaction(work)
        return None if row is None else job_from_row(row)

    async def deliver(
        self, job_id: str, context_updates: dict[str, Any], *, now: float
    ) -> Job | None:
        """Merge `context_updates` and move a completed job to delivered, in one transaction.

        Returns the row afterwards (None when the job is missing); the caller checks its state:
        a job that was not completed keeps its state (the context is merged all the same)."""

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row = conn.execute("SELECT state, context FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if context_updates:
                _write_merged_context(conn, job_id, row[1], context_updates, now)
            if row[0] == JobState.COMPLETED.value:
                conn.execute(
                    "UPDATE jobs SET state = ?, delivered_at = ?, updated_at = ? "
                    "WHERE id = ? AND state = ?",
                    (JobState.DELIVERED.value, now, now, job_id, JobState.COMPLETED.value),
                )
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

    async def unfinished(self, origins: Collection[str] | None = None) -> list[Job]:
        """Jobs that still need work or delivery, oldest first."""
        states = [state.value for state in UNFINISHED_STATES]
        sql = f"SELECT * FROM jobs WHERE state IN ({', '.join('?' for _ in states)})"  # noqa: S608
        params: list[Any] = list(states)
        if origins is not None:
            if not origins:
                return []
            sql += f" AND origin IN ({', '.join('?' for _ in origins)})"
            params.extend(origins)
        rows = await self._db.fetchall(sql + " ORDER BY created_at, rowid", params)
        return [job_from_row(row) for row in rows]

    async def all_ids(self) -> list[str]:
        """Every job id in the table (for quota.release_orphans after a crash)."""
        rows = await self._db.fetchall("SELECT id FROM jobs")
        return [str(row[0]) for row in rows]

    async def count_by_state(self) -> dict[JobState, int]:
        rows = await self._db.fetchall("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {JobState(row[0]): int(row[1]) for row in rows}

    async def recent_for_requester(self, requester_id: str, *, limit: int = 10) -> list[Job]:
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE requester_id = ? ORDER BY created_at DESC, rowid DESC "
            "LIMIT ?",
            (requester_id, limit),
        )
        return [job_from_row(row) for row in rows]

    # -- generation-time history ----------------------------------------------------------------

    async def record_generation_time(self, job_id: str, seconds: float, *, now: float) -> None:
        """Append one duration and drop all but the newest `history_limit`."""
        limit = self._history_limit
        await self._db.run_in_transaction(
            lambda conn: _append_generation_time(conn, job_id, seconds, now, limit)
        )

    async def generation_times(self) -> list[float]:
        """The kept durations, oldest first."""
        rows = await self._db.fetchall("SELECT seconds FROM generation_times ORDER BY id")
        return [float(row[0]) for row in rows]

    # -- internals ------------------------------------------------------------------------------

    async def _guarded_update(
        self,
        job_id: str,
        allowed: list[JobState] | None,
        now: float,
        changes: dict[str, Any],
        *,
        increment_polls: bool = False,
        learn_seconds: float | None = None,
    ) -> Job | None:
        unknown = set(changes) - _WRITABLE - {"state"}
        if unknown:
            raise ValueError(f"not job columns: {sorted(unknown)}")
        assignments = [f"{name} = ?" for name in changes]
        values: list[Any] = [_encode(name, value) for name, value in changes.items()]
        assignments.append("updated_at = ?")
        values.append(now)
        if increment_polls:
            assignments.append("poll_count = poll_count + 1")
        sql = f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ?"  # noqa: S608
        values.append(job_id)
        if allowed is not None:
            sql += f" AND state IN ({', '.join('?' for _ in allowed)})"
            values.extend(state.value for state in allowed)

        limit = self._history_limit

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            if conn.execute(sql, values).rowcount != 1:
                return None
            if learn_seconds is not None:
                _append_generation_time(conn, job_id, learn_seconds, now, limit)
            result: sqlite3.Row | None = conn.execute(
                "SELECT * FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            return result

        row = await self._db.run_in_transaction(work)
        return None if row is None else job_from_row(row)


def _append_generation_time(
    conn: sqlite3.Connection, job_id: str, seconds: float, now: float, limit: int
) -> None:
    """Append one duration and drop all but the newest `limit` (inside a transaction)."""
    conn.execute(
        "INSERT INTO generation_times (job_id, seconds, recorded_at) VALUES (?, ?, ?)",
        (job_id, seconds, now),
    )
    conn.execute(
        "DELETE FROM generation_times WHERE id NOT IN "
        "(SELECT id FROM generation_times ORDER BY id DESC LIMIT ?)",
        (limit,),
    )


def _encode(name: str, value: Any) -> Any:
    if name in _JSON_COLUMNS:
        return json.dumps(value or {}, sort_keys=True)
    if isinstance(value, JobState):
        return value.value
    return value


def job_from_row(row: sqlite3.Row) -> Job:
    data: dict[str, Any] = {name: row[name] for name in _COLUMNS}
    data["state"] = JobState(data["state"])
    for name in _JSON_COLUMNS:
        data[name] = json.loads(data[name] or "{}")
    return Job(**data)


def _write_merged_context(
    conn: sqlite3.Connection, job_id: str, stored: str | None, updates: dict[str, Any], now: float
) -> None:
    """Inside a transaction: write the stored JSON context with `updates` merged over it."""
    merged = {**json.loads(stored or "{}"), **updates}
    conn.execute(
        "UPDATE jobs SET context = ?, updated_at = ? WHERE id = ?",
        (json.dumps(merged, sort_keys=True), now, job_id),
    )


def _select_row(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row
