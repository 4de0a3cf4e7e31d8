"""The status message of a running track: what is happening, how far along, roughly how long.

The text changes only when something a member would notice changes: the phase, the queue
position, a step of the progress bar, the remaining time rounded to a few seconds. The Discord
layer edits the message only when the text changes, and at most every few seconds.
"""

from __future__ import annotations

import math

from bot.jobs.models import Phase, Progress
from bot.text.format import plural, relative_time, safe_text

PROMPT_PREVIEW_CHARS = 300
BAR_STEPS = 8
FULL, EMPTY = "▰", "▱"

UPLOADING = "uploading"  # a phase of the Discord layer, after the engine's `completed`


def progress_bar(done: float) -> str:
    """`done` (0..1) as a bar of BAR_STEPS blocks, never full before the end."""
    filled = min(BAR_STEPS - 1, max(0, math.floor(done * BAR_STEPS)))
    return FULL * filled + EMPTY * (BAR_STEPS - filled)


def time_left(seconds: float) -> str:
    """'~25 s left', '~2 min left': rounded so that it changes every few seconds at most."""
    if seconds < 60:
        return f"~{max(5, math.ceil(seconds / 5) * 5)} s left"
    return f"~{math.ceil(seconds / 60)} min left"


def phase_label(phase: str, progress: Progress | None) -> tuple[str, str]:
    """(emoji, words) for what the track is doing: the same words in Discord and the terminal."""
    if phase == Phase.QUEUED:
        position = progress.queue_position if progress else None
        if progress is not None and progress.starts_at is None and position:
            return "⏳", f"Queued (position {position})"
        return "⏳", "Starting"
    if phase == Phase.SUBMITTING:
        return "📨", "Sending it to Lyria 2"
    if phase == Phase.GENERATING:
        status = (progress.provider_status or "") if progress else ""
        if status in ("", "queued"):
            return "📬", "Waiting for Lyria 2 to start"
        return "🎶", "Composing"
    if phase == Phase.DOWNLOADING:
        return "⬇️", "Fetching the audio"
    if phase in (Phase.COMPLETED, UPLOADING):
        return "📤", "Uploading to Discord"
    return "•", str(phase).replace("_", " ").capitalize()


def _phase_line(phase: str, progress: Progress | None) -> str:
    emoji, words = phase_label(phase, progress)
    line = f"{emoji} **{safe_text(words, 60)}**"
    if phase == Phase.QUEUED and progress is not None and progress.starts_at is not None:
        line += f" {relative_time(progress.starts_at)} — **Cancel** stops it for free until then"
    return line


def progress_line(progress: Progress | None) -> str | None:
    """The bar and the time left while the track is being made (None in other phases)."""
    if progress is None or progress.phase not in (Phase.GENERATING, Phase.SUBMITTING):
        return None
    remaining = progress.estimate_remaining
    if remaining is None:
        return f"{progress_bar(0.95)} any moment now"
    total = progress.elapsed + remaining
    done = progress.elapsed / total if total > 0 else 0.0
    return f"{progress_bar(done)} {time_left(remaining)}"


def status_text(
    *,
    prompt: str,
    phase: str,
    progress: Progress | None = None,
    seed: int | None = None,
    pool_remaining: int | None = None,
) -> str:
    """The status message body (well under Discord's 2000 characters). Public: it shows the
    server's pool, never the member's own numbers."""
    lines = [_phase_line(phase, progress)]
    bar = progress_line(progress)
    if bar:
        lines.append(bar)
    lines.append(f"> {safe_text(prompt, PROMPT_PREVIEW_CHARS)}")
    details = []
    if seed is not None:
        details.append(f"seed {seed}")
    if pool_remaining is not None:
        details.append(f"server pool: {plural(pool_remaining, 'track')} left today")
    if details:
        lines.append("-# " + " · ".join(details))
    return "\n".join(lines)


EXPIRY_NOTE = (
    "ℹ️ This is taking longer than Discord lets me keep this message updated; "
    "I'll post the track in this channel when it is ready."
)
