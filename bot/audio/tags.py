"""The provenance tags a music player shows: title, comment, software, date.

The same four texts go into a WAV's RIFF LIST/INFO chunk (INAM, ICMT, ISFT, ICRD) and into the
Vorbis comments of FLAC and Ogg Opus (libsndfile names them TITLE, COMMENT, ENCODER/software,
DATE). Texts are cleaned of control characters (a prompt is user input) and bounded in length.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from bot.audio.models import Provenance

PACKAGE = "lyria-jam-bot"
TITLE_CHARS = 80
PROMPT_CHARS = 1500  # in the comment; Lyria prompts are far shorter
COMMENT_CHARS = 4000
AI_NOTE = "AI-generated with Lyria 2"
_SPACES = re.compile(r"\s+")


@cache
def software_name() -> str:
    """`lyria-jam-bot 0.1.0` (the installed version, or `0+unknown` when run from a tree)."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"{PACKAGE} {version}"


@dataclass(frozen=True)
class TagSet:
    title: str
    comment: str
    software: str
    date: str  # ISO 8601 day, the form RIFF ICRD and Vorbis DATE readers expect

    def key_material(self) -> str:
        """Everything that makes two tag sets different (for content keys)."""
        return "\x1f".join((self.title, self.comment, self.software, self.date))


def one_line(text: str) -> str:
    """`text` without control or format characters, whitespace runs as one space."""
    cleaned = "".join(
        " " if unicodedata.category(ch)[0] == "C" else ch
        for ch in text.encode("utf-8", "replace").decode("utf-8")
    )
    return _SPACES.sub(" ", cleaned).strip()


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + "…"


def build_tags(provenance: Provenance, *, software: str | None = None) -> TagSet:
    prompt = one_line(provenance.prompt)
    lines = [f"Prompt: {shorten(prompt, PROMPT_CHARS)}"]
    if provenance.negative_prompt and one_line(provenance.negative_prompt):
        lines.append(f"Negative prompt: {shorten(one_line(provenance.negative_prompt), 500)}")
    lines.append(f"Seed: {provenance.seed if provenance.seed is not None else 'random'}")
    lines.append(f"Model: {shorten(one_line(provenance.model), 100)}")
    lines.append(f"Job: {shorten(one_line(provenance.job_id), 100)}")
    lines.append(AI_NOTE)
    return TagSet(
        title=shorten(prompt, TITLE_CHARS) or "Untitled",
        comment=shorten("\n".join(lines), COMMENT_CHARS),
        software=one_line(software) if software else software_name(),
        date=provenance.created_at.date().isoformat(),
    )
