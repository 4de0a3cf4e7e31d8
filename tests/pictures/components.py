"""Message components: rows of buttons (style colours, emoji, label, the link arrow, disabled at
half strength) and select menus as their closed box."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.pictures import theme
from tests.pictures.canvas import Canvas
from tests.pictures.richtext import draw_emoji, drawable

HEIGHT = theme.BUTTON_HEIGHT
PAD = 16
GAP = 8
EMOJI = 18
LABEL_SIZE = 14
MIN_WIDTH = 60
SELECT_HEIGHT = 40
SELECT_WIDTH = 400
LINK_STYLE = 5


def emoji_of(button: Mapping[str, Any]) -> str | None:
    """A button's Unicode emoji when it can be drawn (custom emoji are left out)."""
    emoji = button.get("emoji") or {}
    name = emoji.get("name")
    if emoji.get("id") or not name or drawable(str(name)) is None:
        return None
    return str(name)


def button_width(canvas: Canvas, button: Mapping[str, Any]) -> float:
    label = str(button.get("label") or "")
    width = canvas.width(label, "bold", LABEL_SIZE)
    if emoji_of(button) is not None:
        width += EMOJI + (4 if label else 0)
    if button.get("style") == LINK_STYLE:
        width += 4 + canvas.width("↗", "bold", LABEL_SIZE)
    return max(MIN_WIDTH, width + 2 * PAD)


def draw_components(
    canvas: Canvas, components: Sequence[Mapping[str, Any]], x: float, y: float, room: float
) -> float:
    for row in components:
        if row.get("type") != 1:
            continue
        left, top = x, y + GAP
        y = top
        for item in row.get("components") or []:
            if item.get("type") != 2:
                y = _draw_select(canvas, item, x, top, room)
                continue
            width = button_width(canvas, item)
            if left > x and left + width > x + room:  # Discord wraps a row that is too wide
                left, top = x, top + HEIGHT + GAP
            _draw_button(canvas, item, left, top, width)
            left += width + GAP
            y = top + HEIGHT
    return y


def _draw_button(
    canvas: Canvas, button: Mapping[str, Any], x: float, y: float, width: float
) -> None:
    style = int(button.get("style") or 2)
    disabled = bool(button.get("disabled"))
    strength = 0.5 if disabled else 1.0
    fill = theme.blend(theme.BUTTON_COLOURS.get(style, theme.ACCENT), strength)
    ink = theme.blend(theme.WHITE, strength, fill)
    canvas.rect((x, y, x + width, y + HEIGHT), fill, radius=8)
    label = str(button.get("label") or "")
    emoji = emoji_of(button)
    content = button_width(canvas, button) - 2 * PAD
    left = x + (width - content) / 2
    if emoji is not None:
        draw_emoji(canvas, emoji, left, y + (HEIGHT - EMOJI) / 2, EMOJI, ink)
        left += EMOJI + (4 if label else 0)
    base = canvas.baseline(y, HEIGHT, "bold", LABEL_SIZE)
    canvas.text(left, base, label, "bold", LABEL_SIZE, ink)
    if style == LINK_STYLE:
        left += canvas.width(label, "bold", LABEL_SIZE) + 4
        canvas.text(left, base, "↗", "bold", LABEL_SIZE, ink)


def _draw_select(canvas: Canvas, menu: Mapping[str, Any], x: float, y: float, room: float) -> float:
    width = min(SELECT_WIDTH, room)
    canvas.rect((x, y, x + width, y + SELECT_HEIGHT), theme.TERTIARY_BG, radius=4)
    placeholder = str(menu.get("placeholder") or "Make a selection")
    base = canvas.baseline(y, SELECT_HEIGHT, "regular", 16)
    canvas.text(x + 12, base, placeholder, "regular", 16, theme.MUTED)
    middle = y + SELECT_HEIGHT / 2
    right = x + width - 16
    canvas.line(
        [(right - 10, middle - 3), (right - 5, middle + 2), (right, middle - 3)],
        theme.INTERACTIVE,
        2,
    )
    return y + SELECT_HEIGHT
