"""Jam rows to the domain's records, and the SQL both backends share for them.

The jam tables (migration 0005) have the same columns in both dialects, so the mapping and the
placeholder-free fragments live here once; each backend keeps its own statements (`?` or `$n`)
and its own transactions.
"""

from __future__ import annotations

from dataclasses import replace

from bot.jams.models import (
    RUNNING_PHASES,
    EndReason,
    Entry,
    EntryState,
    Jam,
    JamPhase,
    JamSettings,
    Round,
    VoteChange,
)
from bot.store.rows import Row

RUNNING_SQL = ", ".join(f"'{p.value}'" for p in RUNNING_PHASES)
ENTRY_COLUMNS = (
    "e.job_id, e.jam_id, e.round, e.number, e.user_id, e.display_name, e.prompt, "
    "e.final_prompt, e.negative_prompt, e.seed, e.riff_of, e.state, e.audio_path, e.created_at, "
    "r.state AS reservation_state"
)
ENTRY_FROM = "jam_entries e LEFT JOIN quota_reservations r ON r.job_id = e.job_id"
# What a snapshot adds to each entry from its job (the message that carries the piece).
SNAPSHOT_ENTRY_SQL = (
    f"SELECT {ENTRY_COLUMNS}, j.model, j.result_message_id, j.result_channel_id, "  # noqa: S608
    "j.audio_url, j.delivered_at, j.audio_duration_seconds "
    f"FROM {ENTRY_FROM} LEFT JOIN jobs j ON j.id = e.job_id "
)
# A reservation that still counts: an entry's, toward the member and the jam's spending.
COUNTED = "r.state IS NOT NULL AND r.state <> 'refunded'"


def jam_from_row(row: Row) -> Jam:
    return Jam(
        id=str(row["id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        thread_id=row["thread_id"],
        card_message_id=row["card_message_id"],
        host_id=int(row["host_id"]),
        settings=JamSettings(
            theme=str(row["theme"]),
            rounds=int(row["rounds"]),
            round_seconds=int(row["round_seconds"]),
            vote_seconds=int(row["vote_seconds"]),
            entries_per_round=int(row["entries_per_round"]),
            budget=int(row["budget"]),
            style=row["style"],
            negative_prompt=row["negative_prompt"],
        ),
        pool_period=int(row["pool_period"]),
        phase=JamPhase(row["phase"]),
        round=int(row["round"]),
        phase_ends_at=row["phase_ends_at"],
        settled=bool(row["settled"]),
        returned=int(row["returned"]),
        end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
    )


def round_from_row(row: Row) -> Round:
    return Round(
        number=int(row["number"]),
        opened_at=float(row["opened_at"]),
        submit_ends_at=float(row["submit_ends_at"]),
        voting_opened_at=row["voting_opened_at"],
        vote_ends_at=row["vote_ends_at"],
        closed_at=row["closed_at"],
    )


def entry_from_row(row: Row) -> Entry:
    """An entry from `ENTRY_COLUMNS`: it counts while its reservation is not refunded."""
    reservation = row["reservation_state"]
    return Entry(
        job_id=str(row["job_id"]),
        jam_id=str(row["jam_id"]),
        round=int(row["round"]),
        number=int(row["number"]),
        user_id=int(row["user_id"]),
        display_name=str(row["display_name"]),
        prompt=str(row["prompt"]),
        final_prompt=str(row["final_prompt"]),
        negative_prompt=row["negative_prompt"],
        seed=row["seed"],
        riff_of=row["riff_of"],
        state=EntryState(row["state"]),
        audio_path=row["audio_path"],
        created_at=float(row["created_at"]),
        counted=reservation is not None and reservation != "refunded",
    )


def snapshot_entry(row: Row, votes: dict[tuple[int, int], int], closed: set[int]) -> Entry:
    """An entry from `SNAPSHOT_ENTRY_SQL`, its votes shown only once its round has closed."""
    entry = entry_from_row(row)
    shown = votes.get((entry.round, entry.number), 0) if entry.round in closed else 0
    return replace(
        entry,
        votes=shown,
        model=row["model"],
        result_message_id=row["result_message_id"],
        result_channel_id=row["result_channel_id"],
        audio_url=row["audio_url"],
        delivered_at=row["delivered_at"],
        duration_seconds=row["audio_duration_seconds"],
    )


def vote_change(previous: int | None, number: int) -> VoteChange:
    if previous is None:
        return VoteChange.CAST
    return VoteChange.UNCHANGED if previous == number else VoteChange.MOVED


# -- a jam's budget (the store may not import the jam's rules: these are the rows' arithmetic) --


def budget_left(budget: int, spent: int) -> int:
    """What a jam may still spend: its budget minus what its counted entries hold."""
    return max(budget - spent, 0)


def entries_left(allowance: int, used: int) -> int:
    return max(allowance - used, 0)
