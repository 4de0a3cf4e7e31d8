"""Jobs, their states, how they ended and the progress events the engine emits. No I/O here.

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
from dataclasses import dataclass, field
from typing import Any, TypedDict


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
# Ended without a result: the requester must be told (once).
FAILED_STATES: tuple[JobState, ...] = (
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.TIMED_OUT,
    JobState.SUBMIT_UNKNOWN,
)
UNFINISHED_STATES: tuple[JobState, ...] = (
    JobState.QUEUED,
    JobState.SUBMITTING,
    JobState.SUBMITTED,
    JobState.COMPLETED,
)


class ErrorKind(enum.StrEnum):
    """Why a job failed (or was delivered as a link only), as the job row records it.

    The values are the names earlier versions stored (the failing exception's class name), so
    old rows still read; anything else reads as OTHER.
    """

    PROVIDER_FAILED = "GenerationFailed"  # the provider reported status "error"
    BAD_REQUEST = "BadRequest"  # 400: prompt or parameters refused
    UNAUTHORIZED = "Unauthorized"  # 401: the API key
    OUT_OF_CREDITS = "OutOfCredits"  # 403: the account
    NOT_FOUND = "NotFound"  # the provider no longer knows the generation
    RATE_LIMITED = "RateLimited"
    SERVER_ERROR = "ServerError"
    UNREACHABLE = "ConnectionFailed"
    UPSTREAM_TIMEOUT = "UpstreamTimeout"
    MALFORMED = "MalformedResponse"
    AMBIGUOUS = "AmbiguousSubmission"  # may or may not have been accepted: never resubmitted
    INTERRUPTED = "Interrupted"  # the process stopped mid-submission
    TIMED_OUT = "Timeout"  # our own deadline passed
    DOWNLOAD_FAILED = "DownloadError"  # completed, but only the link could be kept
    REFUSED_URL = "RefusedUrl"  # the audio URL points where the bot never fetches (nor shows)
    OTHER = "Other"

    @classmethod
    def _missing_(cls, value: object) -> ErrorKind:
        return cls.OTHER

    @property
    def account_problem(self) -> bool:
        """The bot's operator must fix it (key, credits); members only hear there is a problem."""
        return self in (ErrorKind.UNAUTHORIZED, ErrorKind.OUT_OF_CREDITS)


class DeliveryVia(enum.StrEnum):
    """Where a finished job's result went."""

    INTERACTION = "interaction"  # a followup through the interaction token
    CHANNEL = "channel"  # a channel message with the bot token
    DM = "dm"  # a direct message to the requester
    TERMINAL = "terminal"  # saved by `python -m bot compose`
    NOTHING = "none"  # there was nothing left to deliver (the member was told)


@dataclass(frozen=True)
class Delivery:
    """The delivery record of a job: the message that carries the result, or the saved file."""

    via: DeliveryVia
    message_id: int | None = None
    channel_id: int | None = None
    saved_to: str | None = None  # the terminal's file, or the link it printed
    files: tuple[str, ...] = ()  # files made for it (tagged/re-encoded audio, waveform)


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


class Origin(enum.StrEnum):
    TERMINAL = "cli"
    DISCORD = "discord"


def new_job_id() -> str:
    """A short, URL- and custom_id-safe job id (12 hex characters)."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class JobRequest:
    """What the caller asks for. `context` belongs to the origin's adapter (the Discord layer
    keeps its interaction there) and is stored with the job; the engine never reads it."""

    prompt: str
    requester_id: str
    negative_prompt: str | None = None
    seed: int | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    origin: Origin = Origin.TERMINAL
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
    origin: Origin
    context: dict[str, Any] = field(repr=False)  # the origin adapter's; may hold a token
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
    error_kind: ErrorKind | None = None
    # The provider's own words (or a download failure's reason code); never our own prose.
    error_detail: str | None = None
    poll_count: int = 0  # counted in memory, written with the next write (a crash loses a few)
    cancelled_by: str | None = None
    delivery: Delivery | None = None
    failure_reported_at: float | None = None  # when the requester was told of a failure
    audio_pruned_at: float | None = None  # when retention deleted the file at audio_path


class JobChanges(TypedDict, total=False):
    """The columns a transition or update may set (`id`, `state`, `created_at` apart)."""

    prompt: str
    negative_prompt: str | None
    seed: int | None
    context: dict[str, Any]
    deadline_at: float
    generation_id: str | None
    provider_status: str | None
    submitted_at: float | None
    provider_completed_at: float | None
    completed_at: float | None
    audio_path: str | None
    audio_url: str | None
    audio_size_bytes: int | None
    audio_duration_seconds: float | None
    audio_content_type: str | None
    credits_used: float | None
    usage_headers: dict[str, str]
    error_kind: ErrorKind | None
    error_detail: str | None
    poll_count: int
    cancelled_by: str | None
    failure_reported_at: float | None


@dataclass(frozen=True)
class Progress:
    """One progress event. `estimate_remaining` is seconds, or None when unknown."""

    job_id: str
    phase: Phase
    elapsed: float
    provider_status: str | None = None
    queue_position: int | None = None  # 1 = next to be submitted
    estimate_remaining: float | None = None
    starts_at: float | None = None  # a job held for its cancel window is sent then (unix s)


@dataclass(frozen=True)
class Observation:
    """What polling saw of one generation, in seconds after its submission (the learner in
    `bot.jobs.learning` reads these; the store keeps the finished ones).

    `lower`: the job was still in progress at this poll (0 when no poll said so);
    `upper`: its completion had been seen by this poll (None: still running);
    `started_after` / `started_by`: the provider still said `queued` at the first, and already
    `generating` at the second (None when not seen);
    `submitted_at` (unix seconds) orders observations by recency.
    """

    submitted_at: float
    lower: float
    upper: float | None
    started_after: float | None = None
    started_by: float | None = None

    @classmethod
    def from_polls(
        cls,
        *,
        submitted_at: float,
        seen_at: float | None,
        last_pending_at: float | None = None,
        last_queued_at: float | None = None,
        generating_at: float | None = None,
    ) -> Observation:
        """From absolute poll times (unix seconds): when the completion was seen (None: not
        yet), the last poll that said in progress, the last that said `queued` and the first
        that said `generating` (each None when there was none)."""

        def since(moment: float | None) -> float | None:
            return None if moment is None else max(0.0, moment - submitted_at)

        lower = since(last_pending_at) or 0.0
        upper = since(seen_at)
        if upper is not None and upper < lower:
            lower = upper
        started_by = since(generating_at)
        started_after = since(last_queued_at) if started_by is not None else None
        if started_by is not None and started_after is not None and started_after > started_by:
            started_after = None
        return cls(submitted_at, lower, upper, started_after, started_by)

    @classmethod
    def exact(cls, submitted_at: float, seconds: float) -> Observation:
        """A generation time known as one number (history recorded before intervals)."""
        value = max(0.0, seconds)
        return cls(submitted_at, value, value)

    @property
    def finished(self) -> bool:
        return self.upper is not None

    @property
    def is_exact(self) -> bool:
        """Known as one number only: no in-progress poll and no start of work recorded."""
        return self.lower == self.upper and self.started_by is None


@dataclass(frozen=True)
class Signal:
    """A note from one process to the others sharing the database: `work` (a queued job
    nobody started is claimable), `released` (a stopping process gave its leases up: its jobs
    in flight are claimable) or `taken` (these queued jobs left the table's pool: claimed to
    run, or cancelled)."""

    sender: str
    kind: str
    job_ids: tuple[str, ...] = ()
