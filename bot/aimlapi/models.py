"""Plain data exchanged with the Lyria 2 client. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# Statuses the provider documents, plus `waiting` which it sends but does not document.
# Any status not terminal ("completed", "error") means "still in progress".
TERMINAL_STATUSES = frozenset({"completed", "error"})


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Usage:
    """Usage the provider reported (response `meta.usage` or `x-aimlapi-*` headers)."""

    credits_used: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    generation_id: str
    status: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class PollResult:
    generation_id: str
    status: str  # raw provider status, e.g. "queued", "generating", "waiting", "completed"
    state: Literal["pending", "completed"]
    audio_url: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class DownloadedAudio:
    path: Path
    size_bytes: int
    duration_seconds: float | None
    content_type: str  # e.g. "audio/wav"
    source_url: str
