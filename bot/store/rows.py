"""Rows to the domain's dataclasses and back, shared by every backend.

A row is whatever the driver returns that can be indexed by column name (`sqlite3.Row`,
`asyncpg.Record`, a dict): the columns have the same names and meanings in every backend, and
flags read as `bool()` whether stored as 0/1 (SQLite) or as booleans (PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from bot.jobs.models import (
    Delivery,
    DeliveryVia,
    ErrorKind,
    Job,
    JobChanges,
    JobState,
    Observation,
    Origin,
)
from bot.quota.models import (
    GuildQuotaRecord,
    MemberQuotaRecord,
    Reservation,
    ReservationState,
    RoleOverride,
)


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


# -- jobs ------------------------------------------------------------------------------------------

# Columns that map one-to-one onto a Job field of the same name.
JOB_COLUMNS: tuple[str, ...] = (
    "id",
    "state",
    "prompt",
    "negative_prompt",
    "seed",
    "model",
    "requester_id",
    "guild_id",
    "channel_id",
    "origin",
    "context",
    "created_at",
    "updated_at",
    "deadline_at",
    "generation_id",
    "provider_status",
    "submitted_at",
    "provider_completed_at",
    "completed_at",
    "delivered_at",
    "audio_path",
    "audio_url",
    "audio_size_bytes",
    "audio_duration_seconds",
    "audio_content_type",
    "credits_used",
    "usage_headers",
    "error_kind",
    "error_detail",
    "poll_count",
    "cancelled_by",
    "failure_reported_at",
    "audio_pruned_at",
)
DELIVERY_COLUMNS = (
    "delivered_via",
    "result_message_id",
    "result_channel_id",
    "saved_to",
    "delivered_files",
)
JSON_COLUMNS = frozenset({"context", "usage_headers"})
WRITABLE_JOB_COLUMNS = frozenset(JobChanges.__annotations__)


def check_job_changes(changes: Iterable[str]) -> None:
    """Refuse anything but the writable job columns (names go into SQL text)."""
    unknown = set(changes) - WRITABLE_JOB_COLUMNS
    if unknown:
        raise ValueError(f"not job columns: {sorted(unknown)}")


def encode_job_value(name: str, value: Any) -> Any:
    """A Job field's value as stored: JSON text for the JSON columns, enums by value."""
    if name in JSON_COLUMNS:
        return json.dumps(value or {}, sort_keys=True)
    if isinstance(value, JobState | ErrorKind | Origin):
        return value.value
    return value


def job_from_row(row: Row) -> Job:
    data: dict[str, Any] = {name: row[name] for name in JOB_COLUMNS}
    data["state"] = JobState(data["state"])
    data["origin"] = Origin(data["origin"])
    if data["error_kind"] is not None:
        data["error_kind"] = ErrorKind(data["error_kind"])
    for name in JSON_COLUMNS:
        data[name] = json.loads(data[name] or "{}")
    via = row["delivered_via"]
    if via is not None:
        data["delivery"] = Delivery(
            via=DeliveryVia(via),
            message_id=row["result_message_id"],
            channel_id=row["result_channel_id"],
            saved_to=row["saved_to"],
            files=tuple(json.loads(row["delivered_files"] or "[]")),
        )
    return Job(**data)


# -- generation-time history --------------------------------------------------------------------


def observation_values(observation: Observation) -> tuple[float | None, ...]:
    """A finished observation as the `generation_times` columns (seconds, submitted_at,
    lower_seconds, started_after, started_by): `seconds` is the upper bound, `lower_seconds`
    NULL for a time known as one number."""
    if observation.upper is None:
        raise ValueError("only finished generations are recorded")
    return (
        observation.upper,
        observation.submitted_at,
        None if observation.is_exact else observation.lower,
        observation.started_after,
        observation.started_by,
    )


def observation_from_row(row: Row) -> Observation:
    """A `generation_times` row; one from before intervals (NULL bounds) reads as exact, its
    submission `seconds` before it was recorded."""
    seconds = float(row["seconds"])
    submitted_at = row["submitted_at"]
    if submitted_at is None:
        submitted_at = float(row["recorded_at"]) - seconds
    lower = row["lower_seconds"]
    if lower is None:
        return Observation.exact(float(submitted_at), seconds)
    return Observation(
        float(submitted_at),
        float(lower),
        seconds,
        _optional_float(row["started_after"]),
        _optional_float(row["started_by"]),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# -- quota -----------------------------------------------------------------------------------------


def guild_from_row(row: Row) -> GuildQuotaRecord:
    return GuildQuotaRecord(
        guild_id=int(row["guild_id"]),
        daily_pool=row["daily_pool"],
        reset_minute=row["reset_minute"],
        member_limit=row["member_limit"],
        window_seconds=row["window_seconds"],
        max_in_flight=row["max_in_flight"],
        paused=bool(row["paused"]),
        channels_restricted=bool(row["channels_restricted"]),
        modlog_channel_id=row["modlog_channel_id"],
    )


def member_from_row(row: Row | None) -> MemberQuotaRecord:
    if row is None:
        return MemberQuotaRecord()
    return MemberQuotaRecord(
        extra_credit=int(row["extra_credit"]),
        window_reset_at=float(row["window_reset_at"]),
        barred=bool(row["barred"]),
    )


def role_overrides_from_rows(rows: Iterable[Row]) -> list[RoleOverride]:
    return [
        RoleOverride(
            role_id=int(r["role_id"]),
            member_limit=r["member_limit"],
            max_in_flight=r["max_in_flight"],
            exempt=bool(r["exempt"]),
        )
        for r in rows
    ]


def reservation_from_row(row: Row) -> Reservation:
    return Reservation(
        job_id=row["job_id"],
        guild_id=int(row["guild_id"]),
        user_id=int(row["user_id"]),
        channel_id=row["channel_id"],
        state=ReservationState(row["state"]),
        in_flight=bool(row["in_flight"]),
        counts_member=bool(row["counts_member"]),
        used_extra=bool(row["used_extra"]),
        pool_period=row["pool_period"],
        bot_day=int(row["bot_day"]),
        member_remaining=row["member_remaining"],
        pool_remaining=row["pool_remaining"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        jam_id=row["jam_id"],
    )
