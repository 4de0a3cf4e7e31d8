"""/history: a member's recent tracks, a page at a time, and what re-posting one says."""

from __future__ import annotations

from collections.abc import Sequence

from bot.jobs.models import Job
from bot.text.format import format_seconds, safe_text

PROMPT_CHARS = 120


def history_text(tracks: Sequence[Job], *, page: int, owner_id: int, own: bool) -> str:
    """One page (0-based) of tracks, numbered as the buttons under it are."""
    whose = "Your" if own else f"<@{owner_id}>'s"
    if not tracks:
        if page == 0:
            return f"{whose} tracks in this server will be listed here; there are none yet."
        return "No older tracks."
    lines = [f"**{whose} recent tracks** (page {page + 1})"]
    for number, job in enumerate(tracks, start=1):
        when = f"<t:{int(job.created_at)}:d>"
        length = (
            f" · {format_seconds(job.audio_duration_seconds)}" if job.audio_duration_seconds else ""
        )
        seed = f" · seed `{job.seed}`" if job.seed is not None else ""
        lines.append(f"**{number}.** {safe_text(job.prompt, PROMPT_CHARS)}")
        lines.append(f"-# {when}{seed}{length}")
    return "\n".join(lines)


def reposted_content(requester_id: int, by_id: int) -> str:
    if by_id == requester_id:
        return f"<@{requester_id}> posted this track again."
    return f"<@{by_id}> posted <@{requester_id}>'s track again."


def link_only_content(requester_id: int, by_id: int, link: str) -> str:
    return (
        f"{reposted_content(requester_id, by_id)} The file is no longer on the bot's disk; "
        f"its download link (it may have expired): <{link}>"
    )


GONE = (
    "The file of this track is gone and its link has expired, but the same prompt and seed "
    "make it again: press **Make again** (it uses one track of your allowance)."
)
NOT_YOURS = "Only the member who made this track, or a moderator, can post it again."
NOT_HERE = "That track was made in another server."
