"""Jobs, their states and the progress events the engine emits. No I/O here.

State machine (every transition is written to the database before it is acted on):

    queued ──▶ submitting ──▶ submitted ──▶ completed ──▶ delivered
      │            │              │             │
      │            │              └──▶ failed / timed_out
      │            ├──▶ failed            (provider refused; credit refunded)
      │            └──▶ submit_unknown    (crashed or ambiguous mid-submission: never resubmitted
      │                                    silently; the caller decides)
      └──▶ cancelled                      (before submission; credit refunded)

`completed` means the audio is downloaded (or only its link is known) and waits for delivery.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class JobState(enum.StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    SUBMIT_UNKNOWN = "submit_unknown"

    @property
    def is_final(self) -> bool:
        """No more work will happen on the job by itself."""
        return self in _FINAL

    @property
    def charged(self) -> bool:
        """The provider accepted the job, so its credit is spent."""
        return self in _CHARGED


_FINAL = frozenset(
    {
        JobState.DELIVERED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMED_OUT,
        JobState.SUBMIT_UNKNOWN,
    }
)
_CHARGED = frozenset({JobState.SUBMITTED, JobState.COMPLETED, JobState.DELIVERED})


class Phase(enum.StrEnum):
    """What a person is told the job is doing."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    GENERATING = "generating"
    DOWNLOADING = "downloading"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


def new_job_id() -> str:
    """A short, URL- and custom_id-safe job id (12 hex characters)."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class JobRequest:
    """What the caller asks for. `context` is opaque to the engine (the Discord layer keeps the
    interaction token, channel and status message there) and is stored with the job."""

    prompt: str
    requester_id: str
    negative_prompt: str | None = None
    seed: int | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    origin: str = "cli"  # "cli" or "discord"
    # Holds the Discord interaction token: never in a repr (logs, tracebacks).
    context: dict[str, Any] = field(default_factory=dict, repr=False)
    job_id: str | None = None  # set when credit was reserved under this id before enqueueing


@dataclass(frozen=True)
class Job:
    """One row of the `jobs` table."""

    id: str
    state: JobState
    prompt: str
    negative_prompt: str | None
    seed: int | None
    model: str
    requester_id: str
    guild_id: str | None
    channel_id: str | None
    origin: str
    context: dict[str, Any] = field(repr=False)  # may hold the interaction token: not in reprs
    created_at: float  # unix seconds
    updated_at: float
    deadline_at: float
    generation_id: str | None = None
    provider_status: str | None = None
    submitted_at: float | None = None
    provider_completed_at: float | None = None  # when the engine noticed completion
    completed_at: float | None = None  # audio downloaded (or link only), ready to deliver
    delivered_at: float | None = None
    audio_path: str | None = None
    audio_url: str | None = None
    audio_size_bytes: int | None = None
    audio_duration_seconds: float | None = None
    audio_content_type: str | None = None
    credits_used: float | None = None
    usage_headers: dict[str, str] = field(default_factory=dict)
    error_kind: str | None = None  # the exception class name, e.g. "GenerationFailed"
    error_message: str | None = None  # safe to show to the requester
    poll_count: int = 0  # counted in memory, written with the next write (a crash loses a few)
    cancelled_by: str | None = None


@dataclass(frozen=True)
class Progress:
    """One progress event. `estimate_remaining` is seconds, or None when unknown."""

    job_id: str
    phase: Phase
    elapsed: float
    provider_status: str | None = None
    queue_position: int | None = None  # 1 = next to be submitted
    estimate_remaining: float | None = None
    message: str | None = None  # a human-readable reason for failed/timed-out/cancelled


ProgressCallback = Callable[[Job, Progress], Awaitable[None]]


class JobListener(Protocol):
    """What the Discord layer (or the terminal) registers with the engine."""

    async def on_progress(self, job: Job, progress: Progress) -> None:
        """Called on every phase change and periodically while a job waits or runs."""

    async def on_finished(self, job: Job) -> None:
        """Called once the job reaches completed/failed/cancelled/timed_out/submit_unknown,
        and again after a restart for jobs that were completed but not yet delivered."""


class CreditLedger(Protocol):
    """Credit reserved under the job id before enqueueing. Both calls are idempotent."""

    async def commit(self, job_id: str) -> None:
        """The provider accepted the job: the reserved credit is spent."""

    async def refund(self, job_id: str) -> None:
        """The job ended before the provider charged: give the credit back."""


class NoCreditLedger:
    """For the terminal: nothing is reserved, so nothing is committed or refunded."""

    async def commit(self, job_id: str) -> None:
        return None

    async def refund(self, job_id: str) -> None:
        return None
