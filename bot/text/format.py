"""Escaping and truncation for text members typed; times, sizes and counts in words.

Anything a member typed (prompts, names) is echoed back only through `safe_text`: whitespace is
collapsed so a prompt cannot add lines to the layout, markdown is escaped so it cannot restyle
it, mentions are defused, and the result is cut to fit the place it goes.
"""

from __future__ import annotations

import re

import discord

ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")

MESSAGE_CHARS = 2000  # a bot's message content (the API documents 4000; bots get 2000)


def fit_message(text: str) -> str:
    """`text` cut to what Discord accepts as a bot's message content."""
    return truncate(text, MESSAGE_CHARS)


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with an ellipsis."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


_LINE_START_MARKUP = re.compile(r"^(#|-|>)")
_NUMBERED_LIST = re.compile(r"^(\d+)\.")


def _escape(text: str) -> str:
    escaped = discord.utils.escape_markdown(text, as_needed=False, ignore_links=False)
    # Headings, lists and quotes only work at the start of a line; the text may be placed there.
    escaped = _LINE_START_MARKUP.sub(r"\\\1", escaped)
    escaped = _NUMBERED_LIST.sub(r"\1\\.", escaped)
    return discord.utils.escape_mentions(escaped)


def safe_text(text: str, limit: int) -> str:
    """`text` on one line, markdown and mentions neutralised, at most `limit` characters."""
    flat = _WHITESPACE.sub(" ", text).strip()
    escaped = _escape(flat)
    if len(escaped) <= limit:
        return escaped
    raw = flat
    # Escaping can lengthen the text, so shorten the raw text until its escaped form fits;
    # cutting the raw text (never the escaped one) cannot leave half an escape sequence.
    while raw and len(_escape(raw)) + len(ELLIPSIS) > limit:
        overflow = len(_escape(raw)) + len(ELLIPSIS) - limit
        raw = raw[: len(raw) - max(1, overflow // 2)]
    raw = raw.rstrip().rstrip("\\")
    return _escape(raw) + ELLIPSIS if limit >= len(ELLIPSIS) else ""


def relative_time(unix_seconds: float) -> str:
    """A Discord timestamp the client renders as "in 5 minutes" / "2 minutes ago"."""
    return f"<t:{int(unix_seconds)}:R>"


def format_seconds(seconds: float) -> str:
    """'45 s', '3 min 5 s', '1 h 2 min' — short and readable."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_bytes(size: int) -> str:
    """'512 B', '3.4 KiB', '5.1 MiB', '10 MiB' (one unit everywhere: binary multiples)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            shown = f"{value:.1f}"
            return f"{shown.removesuffix('.0')} {unit}"
    raise AssertionError("unreachable")


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 track', '3 tracks' (`many` defaults to `one` + 's')."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def per_duration_text(seconds: int) -> str:
    """A window as in "per hour", "per 2 hours", "per 90 minutes" (never "per 1 hour")."""
    text = duration_text(seconds)
    return text.removeprefix("1 ") if text.startswith("1 ") else text


def duration_text(seconds: int) -> str:
    """A window length in the largest whole unit: '1 hour', '90 minutes', '45 seconds'."""
    if seconds % 3600 == 0:
        return plural(seconds // 3600, "hour")
    if seconds % 60 == 0:
        return plural(seconds // 60, "minute")
    return plural(seconds, "second")
