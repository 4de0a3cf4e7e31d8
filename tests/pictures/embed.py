"""A rich embed: colour bar, author, title, description, fields (inline ones side by side, up
to three a row), image (an attachment:// picture, decoded), footer. Like Discord, the embed is
as wide as its content needs, up to 516 px."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.fakes.discord import FakeAttachment
from tests.pictures import theme
from tests.pictures.canvas import Canvas
from tests.pictures.markdown import Block, inline, parse
from tests.pictures.richtext import EMBED, FIELD_NAME, FOOTER, TextStyle, draw_blocks, natural_width
from tests.pictures.scene import Scene

BAR = 4
PAD_TOP, PAD_RIGHT, PAD_BOTTOM, PAD_LEFT = 8, 16, 16, 12
GAP = 8  # between the embed's parts, and between field columns
IMAGE_GAP = 16
NAME_GAP = 2  # between a field's name and its value
TITLE = TextStyle(16, 22, theme.HEADER, "bold")
AUTHOR = TextStyle(14, 22, theme.HEADER, "bold")
DEFAULT_BAR = theme.TERTIARY_BG


@dataclass(frozen=True)
class Field:
    name: list[Block]
    value: list[Block]


def attachment_names(embeds: Sequence[Mapping[str, Any]]) -> set[str]:
    """The attachments the embeds show themselves (attachment://name), not listed as files."""
    names = set()
    for embed in embeds:
        for key in ("image", "thumbnail"):
            url = str((embed.get(key) or {}).get("url", ""))
            if url.startswith("attachment://"):
                names.add(url.removeprefix("attachment://"))
    return names


def embed_picture(
    embed: Mapping[str, Any], attachments: Sequence[FakeAttachment]
) -> Image.Image | None:
    url = str((embed.get("image") or {}).get("url", ""))
    name = url.removeprefix("attachment://") if url.startswith("attachment://") else None
    found = next((a for a in attachments if a.filename == name), None)
    if found is None:
        return None
    with Image.open(io.BytesIO(found.data)) as picture:
        picture.load()
        return picture.copy()


def image_size(picture: Image.Image, room: float) -> tuple[float, float]:
    """The picture's size on screen: its own, shrunk into 400 x 300 and the room there is."""
    width, height = picture.size
    max_width, max_height = min(theme.EMBED_IMAGE_MAX[0], room), theme.EMBED_IMAGE_MAX[1]
    factor = min(1.0, max_width / width, max_height / height)
    return width * factor, height * factor


def field_rows(fields: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Inline fields share a row, up to three; any other field has a row of its own."""
    rows: list[list[Mapping[str, Any]]] = []
    for item in fields:
        if item.get("inline") and rows and rows[-1][0].get("inline") and len(rows[-1]) < 3:
            rows[-1].append(item)
        else:
            rows.append([item])
    return rows


def colour_of(embed: Mapping[str, Any]) -> theme.RGB:
    value = embed.get("color")
    if not isinstance(value, int):
        return DEFAULT_BAR
    return ((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)


def draw_embed(
    canvas: Canvas,
    embed: Mapping[str, Any],
    attachments: Sequence[FakeAttachment],
    scene: Scene,
    x: float,
    y: float,
    room: float,
) -> float:
    """Draw the embed at (x, y) within `room` px; returns the y below it."""
    max_inner = min(room, theme.EMBED_MAX_WIDTH) - BAR - PAD_LEFT - PAD_RIGHT
    author = parse(str((embed.get("author") or {}).get("name", "")), scene)
    title = parse(str(embed.get("title") or ""), scene)
    description = parse(str(embed.get("description") or ""), scene)
    rows = [
        [
            Field(
                [Block(tuple(inline(str(f.get("name", "")), scene)))],
                parse(str(f.get("value", "")), scene),
            )
            for f in row
        ]
        for row in field_rows(embed.get("fields") or [])
    ]
    footer_text = str((embed.get("footer") or {}).get("text", ""))
    if embed.get("timestamp"):
        footer_text += (" • " if footer_text else "") + scene.posted_label()
    footer = [Block(tuple(inline(footer_text, scene)))] if footer_text else []
    picture = embed_picture(embed, attachments)

    widths = [
        natural_width(canvas, author, AUTHOR),
        natural_width(canvas, title, TITLE),
        natural_width(canvas, description, EMBED),
        natural_width(canvas, footer, FOOTER),
        *(_row_width(canvas, row) for row in rows),
    ]
    if picture is not None:
        widths.append(image_size(picture, max_inner)[0])
    inner = min(max_inner, max(widths))
    left = x + BAR + PAD_LEFT
    right_edge = left + inner + PAD_RIGHT

    def body(target: Canvas) -> float:
        top = y + PAD_TOP
        for blocks, style in ((author, AUTHOR), (title, TITLE), (description, EMBED)):
            if blocks:
                top = draw_blocks(target, blocks, left, top + GAP, inner, style)
        for row in rows:
            top = _draw_row(target, row, left, top + GAP, inner)
        if picture is not None:
            width, height = image_size(picture, inner)
            top += IMAGE_GAP
            target.picture(picture, (left, top, left + width, top + height), radius=4)
            top += height
        if footer:
            top = draw_blocks(target, footer, left, top + GAP, inner, FOOTER)
        return top + PAD_BOTTOM

    bottom = body(Canvas(None, canvas.scale))
    canvas.rect((x, y, right_edge, bottom), colour_of(embed), radius=4)
    canvas.rect(
        (x + BAR, y, right_edge, bottom),
        theme.SECONDARY_BG,
        radius=4,
        corners=(False, True, True, False),
    )
    return body(canvas)


def _row_width(canvas: Canvas, row: list[Field]) -> float:
    widest = max(
        max(natural_width(canvas, f.name, FIELD_NAME), natural_width(canvas, f.value, EMBED))
        for f in row
    )
    return widest * len(row) + GAP * (len(row) - 1)


def _draw_row(canvas: Canvas, row: list[Field], x: float, y: float, width: float) -> float:
    column = (width - GAP * (len(row) - 1)) / len(row)
    bottom = y
    for i, item in enumerate(row):
        left = x + i * (column + GAP)
        top = draw_blocks(canvas, item.name, left, y, column, FIELD_NAME)
        top = draw_blocks(canvas, item.value, left, top + NAME_GAP, column, EMBED)
        bottom = max(bottom, top)
    return bottom
