"""The message that carries a finished piece: a short content line and one embed."""

from __future__ import annotations

from urllib.parse import quote

import discord

from bot.jams.models import EntryMark
from bot.jobs.models import Job
from bot.text.format import fit_message, format_bytes, format_seconds, safe_text
from bot.text.jams import entry_field

EMBED_COLOUR = discord.Colour(0x5865F2)
DESCRIPTION_CHARS = 1000  # well inside the 4096 limit: the embed is a label, not a document
FIELD_CHARS = 1000  # field values may hold 1024


LINK_CHARS = 1500  # leaves room in the 2000-character content for the words around it
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def safe_link(url: str) -> str:
    """`url` percent-encoded where it could end the `<…>` around it or break the line."""
    return quote(url.strip(), safe=_URL_SAFE)


def result_content(requester_id: int, *, link: str | None = None, reason: str | None = None) -> str:
    """The ping line, plus the CDN link with a word on why it is not attached."""
    lines = [f"<@{requester_id}> your piece is ready."]
    why = f" ({reason})" if reason else ""
    if link and len(safe_link(link)) <= LINK_CHARS:
        lines.append(f"The file is not attached{why}; download it here: <{safe_link(link)}>")
        lines.append("-# Links from the music service may expire; download it soon.")
    elif link:
        lines.append(
            f"The file is not attached{why}, and its download link is too long to post here. "
            "Sorry! Please try again."
        )
    return fit_message("\n".join(lines))


def result_embed(job: Job) -> discord.Embed:
    """Prompt, negative prompt, seed, duration, size, model, job id and requester."""
    embed = discord.Embed(
        title="🎵 Your piece is ready",
        description=safe_text(job.prompt, DESCRIPTION_CHARS),
        colour=EMBED_COLOUR,
    )
    if job.negative_prompt:
        embed.add_field(
            name="Leaving out", value=safe_text(job.negative_prompt, FIELD_CHARS), inline=False
        )
    embed.add_field(name="Seed", value=str(job.seed) if job.seed is not None else "random")
    if job.audio_duration_seconds:
        embed.add_field(name="Duration", value=format_seconds(job.audio_duration_seconds))
    if job.audio_size_bytes:
        embed.add_field(name="Size", value=format_bytes(job.audio_size_bytes))
    embed.add_field(name="Model", value=safe_text(job.model, 100))
    embed.add_field(name="Job", value=f"`{job.id}`")
    if job.requester_id.isdigit():
        # A mention inside an embed never pings; it only renders the name.
        embed.add_field(name="Requested by", value=f"<@{job.requester_id}>")
    mark = EntryMark.from_context(job.context)
    if mark is not None:  # a jam entry (issue 11): its number, round and what it riffs on
        embed.add_field(name="Jam entry", value=entry_field(mark), inline=False)
    return embed


def audio_filename(job: Job) -> str:
    extension = {
        "audio/wav": "wav",
        "audio/x-wav": "wav",
        "audio/mpeg": "mp3",
        "audio/ogg": "ogg",
        "audio/flac": "flac",
    }.get(job.audio_content_type or "", "wav")
    return f"lyria-{job.id}.{extension}"
