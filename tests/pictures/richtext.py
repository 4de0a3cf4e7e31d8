"""Parsed markdown set into lines: words wrapped to a width, pills for mentions, timestamps and
code, look-alikes for emoji, bars for quotes, boxes for code blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tests.pictures import theme
from tests.pictures.canvas import Canvas, Colour
from tests.pictures.emoji import LookAlike, look_alike
from tests.pictures.markdown import Block, Span

EMOJI_SCALE = 1.375  # Discord draws emoji at 1.375em
QUOTE_INDENT = 16
QUOTE_BAR = 4
BULLET_INDENT = 20
CODE_PAD = 8
PILL_PAD = 2
CODE_SHADE: Colour = (0, 0, 0, 64)  # inline code and code blocks, over any background
MENTION_PILL: Colour = (*theme.BLURPLE, round(255 * theme.MENTION_ALPHA))
TIMESTAMP_PILL: Colour = (255, 255, 255, 16)
PILLS: dict[str, Colour] = {
    "mention": MENTION_PILL,
    "timestamp": TIMESTAMP_PILL,
    "code": CODE_SHADE,
}
_WORDS = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class TextStyle:
    """How plain lines of one kind of text are set (headings and subtext scale from it)."""

    size: float
    line: float
    colour: theme.RGB
    weight: str = "regular"


MESSAGE = TextStyle(16, 22, theme.TEXT)
EMBED = TextStyle(14, 18, theme.TEXT)
FIELD_NAME = TextStyle(14, 18, theme.HEADER, "bold")
FOOTER = TextStyle(12, 16, theme.TEXT)


@dataclass(frozen=True)
class LineSet:
    """How one block's lines are set."""

    size: float
    line: float
    colour: theme.RGB
    weight: str


def line_set(block: Block, style: TextStyle) -> LineSet:
    if block.kind == "subtext":
        return LineSet(style.size * 0.8125, style.line * 0.82, theme.MUTED, style.weight)
    if block.kind in ("h1", "h2", "h3"):
        factor = {"h1": 1.5, "h2": 1.25, "h3": 1.0}[block.kind]
        return LineSet(style.size * factor, style.line * factor, theme.HEADER, "bold")
    if block.kind == "code":
        return LineSet(style.size * 0.875, style.size * 1.125, style.colour, "regular")
    return LineSet(style.size, style.line, style.colour, style.weight)


@dataclass(frozen=True)
class Piece:
    """A word (or pill, or emoji) placed as one unit."""

    span: Span
    text: str
    width: float  # with its trailing space
    fit_width: float  # without it: what must fit at a line's end
    lead: float = 0.0  # a pill's padding before the text (its first piece's)


def font_style(span: Span, weight: str) -> str:
    if span.kind == "code":
        return "mono"
    bold = span.bold or weight == "bold"
    if bold and span.italic:
        return "bold-italic"
    return "bold" if bold else "italic" if span.italic else "regular"


def drawable(emoji: str) -> LookAlike | str | None:
    """What to draw for an emoji: a look-alike, the text font's own glyph, or nothing."""
    stand_in = look_alike(emoji)
    if stand_in is not None and all(theme.has_glyph("bold", 32, c) for c in stand_in.symbol):
        return stand_in
    if theme.has_glyph("regular", 32, emoji[0]):
        return emoji[0]
    return None


def pieces(canvas: Canvas, spans: tuple[Span, ...], lines: LineSet) -> Iterator[Piece]:
    drop_space = False
    for span in spans:
        if span.kind == "emoji":
            if drawable(span.text) is None:
                drop_space = True
                continue
            size = lines.size * EMOJI_SCALE
            yield Piece(span, span.text, size, size)
            drop_space = False
            continue
        words = [span.text] if span.kind in ("mention", "timestamp") else _WORDS.findall(span.text)
        for i, word in enumerate(words):
            if drop_space:
                word = word.lstrip()
                drop_space = False
                if not word:
                    continue
            yield _piece(canvas, span, word, lines, first=i == 0, last=i == len(words) - 1)


def _piece(
    canvas: Canvas, span: Span, text: str, lines: LineSet, *, first: bool = True, last: bool = True
) -> Piece:
    """One word of a span; the first and last words of a pill (code, mention, timestamp) carry
    its padding, so a pill's words share one background."""
    style = font_style(span, lines.weight)
    size = lines.size * 0.85 if span.kind == "code" else lines.size
    pad = {"code": 0.2 * size, "mention": PILL_PAD, "timestamp": PILL_PAD}.get(span.kind, 0.0)
    lead, trail = (pad if first else 0.0), (pad if last else 0.0)
    full = canvas.width(text, style, size)
    bare = canvas.width(text.rstrip(), style, size)
    return Piece(span, text, lead + full + trail, lead + bare + trail, lead)


def wrap(
    canvas: Canvas, spans: tuple[Span, ...], lines: LineSet, width: float
) -> list[list[Piece]]:
    """The pieces of a block, line by line, each line at most `width` wide."""
    out: list[list[Piece]] = [[]]
    used = 0.0
    for piece in pieces(canvas, spans, lines):
        if out[-1] and used + piece.fit_width > width:
            out.append([])
            used = 0.0
        if not out[-1] and not piece.text.strip() and piece.span.kind != "emoji":
            continue
        for part in _split_long(canvas, piece, lines, width):
            if out[-1] and used + part.fit_width > width:
                out.append([])
                used = 0.0
            out[-1].append(part)
            used += part.width
    return out


def _split_long(canvas: Canvas, piece: Piece, lines: LineSet, width: float) -> list[Piece]:
    """A word wider than the line (a long link) cut where it must be."""
    if piece.fit_width <= width or piece.span.kind in ("emoji", "mention", "timestamp"):
        return [piece]
    parts: list[Piece] = []
    current = ""
    for char in piece.text:
        if current and _piece(canvas, piece.span, current + char, lines).fit_width > width:
            parts.append(_piece(canvas, piece.span, current, lines))
            current = ""
        current += char
    parts.append(_piece(canvas, piece.span, current, lines))
    return parts


def natural_width(canvas: Canvas, blocks: list[Block], style: TextStyle) -> float:
    """How wide the widest line would be if nothing wrapped."""
    widest = 0.0
    for block in blocks:
        lines = line_set(block, style)
        if block.kind == "code":
            code = block.spans[0].text.split("\n")
            text_width = max(canvas.width(line, "mono", lines.size) for line in code)
            width = text_width + 2 * CODE_PAD
        else:
            width = sum(p.width for p in pieces(canvas, block.spans, lines))
        width += (QUOTE_INDENT + 8 if block.quote else 0) + (BULLET_INDENT if block.bullet else 0)
        widest = max(widest, width)
    return widest


def draw_blocks(
    canvas: Canvas, blocks: list[Block], x: float, y: float, width: float, style: TextStyle
) -> float:
    """Draw the blocks from (x, y) within `width`; returns the y below them."""
    i = 0
    while i < len(blocks):
        quote = blocks[i].quote
        group_top = y
        while i < len(blocks) and blocks[i].quote == quote:
            block = blocks[i]
            inner_x = x + (QUOTE_INDENT if quote else 0)
            inner_width = width - (QUOTE_INDENT + 8 if quote else 0)
            if block.kind in ("h1", "h2", "h3") and y > group_top:
                y += 8
            y = _draw_block(canvas, block, inner_x, y, inner_width, style)
            i += 1
        if quote:
            canvas.rect((x, group_top, x + QUOTE_BAR, y), theme.ACCENT, radius=QUOTE_BAR / 2)
    return y


def _draw_block(
    canvas: Canvas, block: Block, x: float, y: float, width: float, style: TextStyle
) -> float:
    lines = line_set(block, style)
    if block.kind == "code":
        return _draw_code_block(canvas, block.spans[0].text, x, y, width, lines)
    if not block.spans:
        return y + lines.line
    if block.bullet:
        base = canvas.baseline(y, lines.line, "regular", lines.size)
        canvas.text(x + 6, base, "•", "regular", lines.size, lines.colour)
        x += BULLET_INDENT
        width -= BULLET_INDENT
    for row in wrap(canvas, block.spans, lines, width):
        _draw_line(canvas, row, x, y, lines)
        y += lines.line
    return y


def _draw_line(canvas: Canvas, row: list[Piece], x: float, top: float, lines: LineSet) -> None:
    base = canvas.baseline(top, lines.line, "regular", lines.size)
    lefts = [x]
    for piece in row:
        lefts.append(lefts[-1] + piece.width)
    for i, piece in enumerate(row):
        starts_pill = i == 0 or row[i - 1].span is not piece.span
        if piece.span.kind in PILLS and starts_pill:
            end = i
            while end + 1 < len(row) and row[end + 1].span is piece.span:
                end += 1
            _draw_pill(canvas, piece, lefts[i], lefts[end] + row[end].fit_width, base, lines)
        _draw_piece(canvas, piece, lefts[i], top, base, lines)


def _draw_pill(
    canvas: Canvas, piece: Piece, left: float, right: float, base: float, lines: LineSet
) -> None:
    style = font_style(piece.span, lines.weight)
    size = lines.size * 0.85 if piece.span.kind == "code" else lines.size
    ascent, descent = canvas.metrics(style, size)
    canvas.rect(
        (left, base - ascent - 1, right, base + descent + 1), PILLS[piece.span.kind], radius=3
    )


def _draw_piece(
    canvas: Canvas, piece: Piece, x: float, top: float, base: float, lines: LineSet
) -> None:
    span = piece.span
    if span.kind == "emoji":
        side = lines.size * EMOJI_SCALE
        draw_emoji(canvas, span.text, x, top + (lines.line - side) / 2, side, lines.colour)
        return
    style = font_style(span, lines.weight)
    size = lines.size * 0.85 if span.kind == "code" else lines.size
    ascent = canvas.metrics(style, size)[0]
    colour: Colour = {"mention": theme.MENTION_TEXT, "link": theme.LINK}.get(
        span.kind, lines.colour
    )
    x += piece.lead
    canvas.text(x, base, piece.text, style, size, colour)
    end = x + canvas.width(piece.text.rstrip(), style, size)
    if span.underline:
        canvas.line([(x, base + 2), (end, base + 2)], colour)
    if span.strike:
        middle = base - ascent * 0.3
        canvas.line([(x, middle), (end, middle)], colour)


def draw_emoji(
    canvas: Canvas, emoji: str, x: float, y: float, side: float, text_colour: theme.RGB
) -> None:
    """An emoji's stand-in in the square (x, y, side)."""
    what = drawable(emoji)
    if what is None:
        return
    centre = (x + side / 2, y + side / 2)
    if isinstance(what, str):
        canvas.text(*centre, what, "regular", side * 0.8, text_colour, anchor="mm")
        return
    if what.tile is not None:
        inset = side * 0.08
        canvas.rect(
            (x + inset, y + inset, x + side - inset, y + side - inset),
            what.tile,
            radius=side * 0.18,
        )
        canvas.text(*centre, what.symbol, "bold", side * 0.62, what.colour, anchor="mm")
        return
    canvas.text(*centre, what.symbol, "bold", side * 0.85, what.colour, anchor="mm")


def _draw_code_block(
    canvas: Canvas, code: str, x: float, y: float, width: float, lines: LineSet
) -> float:
    rows: list[str] = []
    for line in code.split("\n"):
        rows.extend(_cut_to_width(canvas, line, lines.size, width - 2 * CODE_PAD))
    height = len(rows) * lines.line + 2 * CODE_PAD
    canvas.rect((x, y + 4, x + width, y + 4 + height), CODE_SHADE, radius=4)
    top = y + 4 + CODE_PAD
    for row in rows:
        base = canvas.baseline(top, lines.line, "mono", lines.size)
        canvas.text(x + CODE_PAD, base, row, "mono", lines.size, lines.colour)
        top += lines.line
    return y + height + 8


def _cut_to_width(canvas: Canvas, line: str, size: float, width: float) -> list[str]:
    rows = [""]
    for char in line:
        if rows[-1] and canvas.width(rows[-1] + char, "mono", size) > width:
            rows.append("")
        rows[-1] += char
    return rows
