"""Discord's message markdown, parsed into blocks of styled spans for drawing.

Blocks: plain lines, `-#` subtext, `#`/`##`/`###` headings, `- ` bullets, `>` and `>>>` quotes,
fenced code. Inline: **bold**, *italic* / _italic_, __underline__, ~~strike~~, `code`,
backslash escapes, mentions of users, roles and channels, <t:…> timestamps, links (bare, in
<…>, masked [text](url)), custom emoji (as :name:) and Unicode emoji. Mentions and timestamps
are resolved by the caller, who knows the names and the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

from tests.pictures.emoji import split_emoji


@dataclass(frozen=True)
class Span:
    text: str
    kind: str = "text"  # text, emoji, code, mention, link, timestamp
    bold: bool = False
    italic: bool = False
    underline: bool = False
    strike: bool = False


@dataclass(frozen=True)
class Block:
    """One source line (or one fenced code block): its spans and how the line is set."""

    spans: tuple[Span, ...]
    kind: str = "text"  # text, subtext, h1, h2, h3, code
    quote: bool = False
    bullet: bool = False


class Resolver(Protocol):
    """Names and times a message refers to by id."""

    def user(self, user_id: int) -> str: ...

    def role(self, role_id: int) -> str: ...

    def channel(self, channel_id: int) -> str: ...

    def timestamp(self, unix: int, style: str) -> str: ...


_INLINE = re.compile(
    r"""
     (?P<escape>\\(?P<escaped>[^\w\s]))
    |(?P<code>(?P<ticks>`{1,2})(?P<code_text>.+?)(?P=ticks))
    |(?P<user><@!?(?P<user_id>\d+)>)
    |(?P<role><@&(?P<role_id>\d+)>)
    |(?P<channel><\#(?P<channel_id>\d+)>)
    |(?P<time><t:(?P<unix>-?\d+)(?::(?P<time_style>[tTdDfFR]))?>)
    |(?P<custom_emoji><a?:(?P<emoji_name>\w+):\d+>)
    |(?P<masked>\[(?P<masked_text>[^\]]+)\]\(<?https?://[^\s)>]+>?\))
    |(?P<angle_link><(?P<angle_url>https?://[^\s>]+)>)
    |(?P<bare_link>https?://[^\s<]*[^\s<.,:;"')\]])
    |(?P<bold>\*\*(?P<bold_text>.+?)\*\*(?!\*))
    |(?P<underline>__(?P<underline_text>.+?)__(?!_))
    |(?P<strike>~~(?P<strike_text>.+?)~~)
    |(?P<star>\*(?P<star_text>[^\s*](?:.*?[^\s])?)\*)
    |(?P<under>\b_(?P<under_text>[^_]+?)_\b)
    """,
    re.VERBOSE,
)
_HEADING = re.compile(r"(#{1,3}) (.*)")
_BULLET = re.compile(r"[-*] (.*)")


def parse(content: str, resolver: Resolver) -> list[Block]:
    """The blocks of a message's (or an embed text's) content."""
    blocks: list[Block] = []
    lines = content.strip("\n").split("\n") if content.strip() else []
    quote_rest = False
    i = 0
    while i < len(lines):
        line, quote = lines[i], quote_rest
        i += 1
        if not quote and line.startswith(">>> "):
            quote = quote_rest = True
            line = line[4:]
        elif not quote and (line.startswith("> ") or line == ">"):
            quote = True
            line = line[2:]
        if line.startswith("```"):
            code, i = _code_block(line, lines, i)
            blocks.append(Block((Span(code, "code"),), "code", quote))
            continue
        kind, bullet = "text", False
        if line.startswith("-# "):
            kind, line = "subtext", line[3:]
        elif heading := _HEADING.fullmatch(line):
            kind, line = f"h{len(heading.group(1))}", heading.group(2)
        elif bullet_line := _BULLET.fullmatch(line):
            bullet, line = True, bullet_line.group(1)
        blocks.append(Block(tuple(inline(line, resolver)), kind, quote, bullet))
    return blocks


def _code_block(first: str, lines: list[str], i: int) -> tuple[str, int]:
    """The text of a fenced block opened on `first` and where the lines after it resume."""
    rest = first[3:]
    if rest.endswith("```") and len(rest) >= 3:
        return rest[:-3], i
    body: list[str] = [] if re.fullmatch(r"\w*", rest) else [rest]
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.endswith("```"):
            if line[:-3]:
                body.append(line[:-3])
            break
        body.append(line)
    return "\n".join(body), i


def inline(text: str, resolver: Resolver, style: Span | None = None) -> list[Span]:
    """The spans of one line of text, each carrying the bold/italic/... around it."""
    base = style or Span("")
    spans: list[Span] = []
    pos = 0
    while (found := _INLINE.search(text, pos)) is not None:
        spans.extend(_text(text[pos : found.start()], base))
        spans.extend(_token(found, resolver, base))
        pos = found.end()
    spans.extend(_text(text[pos:], base))
    return spans


def _text(text: str, base: Span) -> list[Span]:
    return [
        replace(base, text=run, kind="emoji" if is_emoji else "text")
        for run, is_emoji in split_emoji(text)
    ]


def _token(found: re.Match[str], resolver: Resolver, base: Span) -> list[Span]:
    group = found.lastgroup
    if group in ("bold", "underline", "strike", "star", "under"):
        style = replace(
            base,
            bold=base.bold or group == "bold",
            underline=base.underline or group == "underline",
            strike=base.strike or group == "strike",
            italic=base.italic or group in ("star", "under"),
        )
        return inline(found.group(f"{group}_text"), resolver, style)
    if group == "escape":
        return _text(found.group("escaped"), base)
    if group == "code":
        return [replace(base, text=found.group("code_text"), kind="code")]
    if group == "user":
        name = "@" + resolver.user(int(found.group("user_id")))
        return [replace(base, text=name, kind="mention")]
    if group == "role":
        name = "@" + resolver.role(int(found.group("role_id")))
        return [replace(base, text=name, kind="mention")]
    if group == "channel":
        name = "#" + resolver.channel(int(found.group("channel_id")))
        return [replace(base, text=name, kind="mention")]
    if group == "time":
        when = resolver.timestamp(int(found.group("unix")), found.group("time_style") or "f")
        return [replace(base, text=when, kind="timestamp")]
    if group == "custom_emoji":
        return [replace(base, text=f":{found.group('emoji_name')}:")]
    if group == "masked":
        return [replace(base, text=found.group("masked_text"), kind="link")]
    if group == "angle_link":
        return [replace(base, text=found.group("angle_url"), kind="link")]
    return [replace(base, text=found.group(0), kind="link")]
