"""The one status message a `/compose` keeps editing while its job runs.

The text is deliberately stable: elapsed time is rounded to 5 s steps and the estimate to
10 s steps, so the Discord layer (which edits only when the text changes, at most every 3 s)
is not made to edit on every progress tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.jobs.models import Phase, Progress
from bot.presentation.text import format_seconds, safe_text

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


def status_text(
    *,
    prompt: str,
    phase: str,
    progress: Progress | None = None,
    elapsed: float | None = None,
    credit: Credit | None = None,
    note: str | None = None,
) -> str:
    """The status message body (well under Discord's 2000 characters)."""
    lines = [_phase_line(phase, progress)]
    lines.append(f"> {safe_text(prompt, PROMPT_PREVIEW_CHARS)}")
    timing: list[str] = []
    seconds = elapsed if elapsed is not None else (progress.elapsed if progress else None)
    if seconds is not None and seconds >= 5:
        timing.append(f"elapsed {format_seconds(seconds // 5 * 5)}")
    remaining = progress.estimate_remaining if progress else None
    if remaining is not None and remaining > 0:
        timing.append(f"about {format_seconds(max(10.0, round(remaining / 10) * 10))} to go")
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
