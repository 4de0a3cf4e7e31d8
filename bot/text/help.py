"""/help: what the bot does, how to use it, and the limits in numbers."""

from __future__ import annotations

from bot.jobs.request import NEGATIVE_PROMPT_MAX_CHARS, PROMPT_MAX_CHARS, SEED_MAX
from bot.quota.models import Remaining
from bot.text.format import plural, relative_time

EXAMPLES = (
    "warm analog synthwave, 100 bpm, driving bassline, night drive",
    "solo nylon guitar, bossa nova, gentle and intimate",
    "epic orchestral trailer, taiko drums, rising strings",
)


def help_text(remaining: Remaining | None = None) -> str:
    """The /help message; with `remaining`, the member's own numbers (it is ephemeral)."""
    examples = "\n".join(f"• `/compose prompt:{example}`" for example in EXAMPLES)
    lines = [
        "**Lyria Jam** turns a few words into about 30 seconds of music with Google's Lyria 2.",
        "",
        f"**/compose** `prompt` (up to {PROMPT_MAX_CHARS} characters) — describe the music: "
        "genre, mood, instruments, tempo. Optional: `negative_prompt` (what to leave out, up "
        f"to {NEGATIVE_PROMPT_MAX_CHARS} characters) and `seed` (0 to {SEED_MAX}; the same "
        "seed and prompt give the same track). For example:",
        examples,
        "",
        "Under a finished track: **Re-roll** tries the same prompt with a new seed, "
        "**Variation** lets you edit the prompt and keeps the seed. A new track waits a few "
        "seconds before it is sent: **Cancel** stops it for free until then.",
        "**/history** — your recent tracks here, to post again.",
        "**/quota me** — how many tracks you and this server have left.",
        "",
        "Each track uses one from your allowance and one from the server's daily pool. "
        "A track that never reached the music service gives both back.",
    ]
    if remaining is not None and remaining.member_remaining is not None:
        line = f"You can make {plural(remaining.member_remaining, 'more track')} right now"
        if remaining.pool_remaining is not None:
            line += f"; the server has {plural(remaining.pool_remaining, 'track')} left today"
        if remaining.next_reset_at is not None:
            line += f" (refills {relative_time(remaining.next_reset_at)})"
        lines += ["", line + "."]
    return "\n".join(lines)
