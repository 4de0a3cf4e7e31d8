"""The message that carries a finished track: one ping line and one embed."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

import discord

from bot.audio.models import PreparedAudio
from bot.jobs.models import Job
from bot.text.audio import explain, peak_text
from bot.text.format import fit_message, format_seconds, safe_text

EMBED_COLOUR = discord.Colour(0x5865F2)
DESCRIPTION_CHARS = 1000  # well inside the 4096 limit: the embed is a label, not a document
FIELD_CHARS = 1000  # field values may hold 1024
LINK_CHARS = 1500  # leaves room in the 2000-character content for the words around it
REFERENCE_CHARS = 6  # the start of the job id: enough to find it in the logs
SLUG_WORDS = 6
SLUG_CHARS = 48
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def reference(job_id: str) -> str:
    """The short reference members can quote ("ref 3f2a9c"); a prefix of the job id."""
    return job_id[:REFERENCE_CHARS]


def safe_link(url: str) -> str:
    """`url` percent-encoded where it could end the `<…>` around it or break the line."""
    return quote(url.strip(), safe=_URL_SAFE)


def result_content(requester_id: int, *, link: str | None = None, reason: str | None = None) -> str:
    """The ping line, plus the download link with a word on why the file is not attached."""
    lines = [f"<@{requester_id}> your track is ready."]
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


WAVEFORM_NAME = "waveform.png"


def result_embed(job: Job, audio: PreparedAudio | None = None) -> discord.Embed:
    """The prompt, what was left out, the seed, the length and peak, the delivered format and
    why; the waveform as the image; the reference in the footer."""
    embed = discord.Embed(
        description=f"> {safe_text(job.prompt, DESCRIPTION_CHARS)}", colour=EMBED_COLOUR
    )
    if job.negative_prompt:
        embed.add_field(
            name="Leaving out", value=safe_text(job.negative_prompt, FIELD_CHARS), inline=False
        )
    if job.seed is not None:
        embed.add_field(name="Seed", value=f"`{job.seed}`")
    length = audio.duration_seconds if audio is not None else None
    length = length or job.audio_duration_seconds
    if length:
        embed.add_field(name="Length", value=format_seconds(length))
    if audio is not None and audio.measurements is not None:
        embed.add_field(name="Peak", value=peak_text(audio.peak_dbfs))
    if audio is not None and audio.file is not None:
        embed.add_field(name="Format", value=explain(audio), inline=False)
    if audio is not None and audio.file is not None and audio.waveform is not None:
        embed.set_image(url=f"attachment://{WAVEFORM_NAME}")
    embed.set_footer(text=f"ref {reference(job.id)} · made with Lyria 2")
    return embed


def slug(text: str) -> str:
    """A file-name-safe prompt: 'warm analog Synthwave!' → 'warm-analog-synthwave'."""
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    )
    words = [w for w in _NOT_SLUG.split(ascii_text) if w][:SLUG_WORDS]
    joined = "-".join(words)[:SLUG_CHARS].strip("-")
    return joined or "track"


def audio_filename(job: Job, extension: str | None = None) -> str:
    """'warm-analog-synthwave-seed42.wav': the prompt and the seed, not the job id."""
    if extension is None:
        extension = {
            "audio/wav": "wav",
            "audio/x-wav": "wav",
            "audio/mpeg": "mp3",
            "audio/ogg": "ogg",
            "audio/flac": "flac",
        }.get(job.audio_content_type or "", "wav")
    seed = f"-seed{job.seed}" if job.seed is not None else ""
    return f"{slug(job.prompt)}{seed}.{extension}"
