"""The one status message a `/compose` keeps editing while its job runs.

The text is deliberately stable: times are Discord timestamps the client keeps current, and
the expected-ready time is rounded, so the Discord layer (which edits only when the text
changes, at most every 3 s) is not made to edit on every progress tick.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bot.jobs.models import Phase, Progress
from bot.text.format import format_seconds, relative_time, safe_text

PROMPT_PREVIEW_CHARS = 300

UPLOADING = "uploading"  # a phase of the Discord layer, after the engine's `completed`


@dataclass(frozen=True)
class Credit:
    """What the member has left, as the quota service reported at reservation time."""

    member_remaining: int | None = None
    pool_remaining: int | None = None


def _phase_line(phase: str, progress: Progress | None) -> str:
    if phase == Phase.QUEUED:
        position = progress.queue_position if progress else None
        where = f" (position {position})" if position else ""
        return f"⏳ **Waiting in the queue**{where}"
    if phase == Phase.SUBMITTING:
        return "📨 **Sending your prompt to Lyria 2**"
    if phase == Phase.GENERATING:
        status = (progress.provider_status or "") if progress else ""
        if status in ("", "queued"):
            return "📬 **Submitted** — Lyria 2 has it in its queue"
        return "🎶 **Generating**"
    if phase == Phase.DOWNLOADING:
        return "⬇️ **Downloading the audio**"
    if phase in (Phase.COMPLETED, UPLOADING):
        return "📤 **Uploading to Discord**"
    return f"**{safe_text(str(phase), 40)}**"


def credit_line(credit: Credit) -> str | None:
    """'You have 4 left · server pool: 49 left today', or None when both are unlimited."""
    parts: list[str] = []
    if credit.member_remaining is not None:
        noun = "generation" if credit.member_remaining == 1 else "generations"
        parts.append(f"You have {credit.member_remaining} {noun} left")
    if credit.pool_remaining is not None:
        parts.append(f"server pool: {credit.pool_remaining} left today")
    if not parts:
        return None
    text = " · ".join(parts)
    return text[0].upper() + text[1:]


ETA_STEP_SECONDS = 15  # the expected-ready time is shown rounded to this, so it rarely changes


def status_text(
    *,
    prompt: str,
    phase: str,
    progress: Progress | None = None,
    started_at: float | None = None,
    now: float | None = None,
    credit: Credit | None = None,
    note: str | None = None,
) -> str:
    """The status message body (well under Discord's 2000 characters).

    Times are Discord timestamps (`<t:…:R>`), which every client renders and keeps current by
    itself ("started 25 seconds ago", "expected in 30 seconds"): the text stays the same while
    a job simply runs, so the message is edited only when something actually changes.
    """
    lines = [_phase_line(phase, progress)]
    lines.append(f"> {safe_text(prompt, PROMPT_PREVIEW_CHARS)}")
    timing: list[str] = []
    if started_at is not None:
        timing.append(f"started {relative_time(started_at)}")
    remaining = progress.estimate_remaining if progress else None
    if remaining is not None and remaining > 0:
        current = time.time() if now is None else now
        eta = math.ceil((current + remaining) / ETA_STEP_SECONDS) * ETA_STEP_SECONDS
        timing.append(f"expected {relative_time(eta)}")
    if timing:
        lines.append("⏱️ " + " · ".join(timing))
    if credit is not None:
        line = credit_line(credit)
        if line:
            lines.append(line)
    if note:
        lines.append(note)
    return "\n".join(lines)


def finished_status_text(*, prompt: str, elapsed: float, where: str = "below") -> str:
    """What the status message says once the result has been posted."""
    return (
        f"✅ **Done** in {format_seconds(elapsed)} — the result is {where}.\n"
        f"> {safe_text(prompt, PROMPT_PREVIEW_CHARS)}"
    )


EXPIRY_NOTE = (
    "ℹ️ This is taking longer than Discord lets me keep this message updated; "
    "I'll post the result in this channel when it is ready."
)
