"""A recorded FakeMessage drawn as Discord's desktop client shows it (dark theme, cozy).

From the top: "alice used /compose" (for a reply to a slash command), the avatar, the author's
name with its APP tag and the time, the content (markdown), the files, the embeds, the
components, and for an ephemeral message "Only you can see this". A message that pings the
member looking at it is highlighted, as Discord does.
"""

from __future__ import annotations

from PIL import Image

from tests.fakes.discord import FakeMessage
from tests.pictures import theme
from tests.pictures.attachments import draw_attachments
from tests.pictures.canvas import Canvas
from tests.pictures.components import draw_components
from tests.pictures.embed import attachment_names, draw_embed
from tests.pictures.markdown import parse
from tests.pictures.richtext import MESSAGE, draw_blocks
from tests.pictures.scene import Scene

PADDING = 4  # inside the message, above and below (its highlight covers it)
COMMAND_LINE = 22
ACCESSORY_GAP = 4
NAME_SIZE = 16


def render_message(
    message: FakeMessage, scene: Scene, *, width: int = theme.WIDTH, scale: float = 2.0
) -> Image.Image:
    """The picture of `message`: `width` CSS pixels wide, drawn `scale` times that in pixels."""
    height = _draw(Canvas(None, scale), message, scene, width, None)
    image = Image.new("RGB", (round(width * scale), round(height * scale)), theme.BACKGROUND)
    _draw(Canvas(image, scale), message, scene, width, height)
    return image


def pings_viewer(message: FakeMessage, scene: Scene) -> bool:
    return scene.viewer_id is not None and scene.viewer_id in message.pings().users


def _draw(
    canvas: Canvas, message: FakeMessage, scene: Scene, width: int, height: float | None
) -> float:
    top = float(theme.MARGIN_Y)
    if height is not None and pings_viewer(message, scene):
        bottom = height - theme.MARGIN_Y
        canvas.rect(
            (0, top, width, bottom), (*theme.MENTIONED_BAR, round(255 * theme.MENTIONED_ALPHA))
        )
        canvas.rect((0, top, 2, bottom), theme.MENTIONED_BAR)
    y = top + PADDING
    if scene.command is not None:
        _command_line(canvas, scene, y)
        y += COMMAND_LINE
    _avatar(
        canvas, theme.AVATAR_LEFT, y + 2, theme.AVATAR, scene.author, scene.author_id, bot=scene.app
    )
    _name_line(canvas, scene, y)
    y += theme.LINE
    x, room = theme.GUTTER, width - theme.GUTTER - theme.RIGHT_PADDING
    y = draw_blocks(canvas, parse(message.content, scene), x, y, room, MESSAGE)
    shown_by_embeds = attachment_names(message.embeds)
    files = [a for a in message.attachments if a.filename not in shown_by_embeds]
    y = draw_attachments(canvas, files, x, y, room)
    for embed in message.embeds:
        y = draw_embed(canvas, embed, message.attachments, scene, x, y + ACCESSORY_GAP, room)
    y = draw_components(canvas, message.components, x, y, room)
    if message.ephemeral:
        y = _only_you(canvas, x, y + ACCESSORY_GAP)
    return y + PADDING + theme.MARGIN_Y


def _name_line(canvas: Canvas, scene: Scene, y: float) -> None:
    x = float(theme.GUTTER)
    base = canvas.baseline(y, theme.LINE, "bold", NAME_SIZE)
    canvas.text(x, base, scene.author, "bold", NAME_SIZE, theme.HEADER)
    x += canvas.width(scene.author, "bold", NAME_SIZE) + 4
    if scene.app:
        tag_width = canvas.width("APP", "bold", 10) + 2 * 4.4
        canvas.rect((x, base - 13, x + tag_width, base + 2), theme.BLURPLE, radius=3)
        canvas.text(x + 4.4, base - 2.5, "APP", "bold", 10, theme.WHITE)
        x += tag_width + 4
    canvas.text(x + 4, base, scene.posted_label(), "regular", 12, theme.MUTED)


def _command_line(canvas: Canvas, scene: Scene, y: float) -> None:
    """The spine from the avatar and "<avatar> alice used /quota me"."""
    command = scene.command
    assert command is not None
    middle = y + 9
    spine_x = theme.AVATAR_LEFT + theme.AVATAR / 2
    radius = 6
    canvas.line([(spine_x, middle + radius), (spine_x, y + COMMAND_LINE + 2)], theme.ACCENT, 2)
    canvas.arc(
        (spine_x - 1, middle - 1, spine_x + 2 * radius, middle + 2 * radius),
        180,
        270,
        theme.ACCENT,
        2,
    )
    canvas.line([(spine_x + radius, middle), (theme.GUTTER - 4, middle)], theme.ACCENT, 2)
    x = float(theme.GUTTER)
    _avatar(canvas, x, middle - 8, 16, command.user_name, command.user_id, bot=False)
    x += 20
    base = canvas.baseline(y, 18, "regular", 14)
    for text, style, colour in (
        (command.user_name, "bold", theme.INTERACTIVE),
        (" used ", "regular", theme.MUTED),
        ("/" + command.name, "regular", theme.LINK),
    ):
        canvas.text(x, base, text, style, 14, colour)
        x += canvas.width(text, style, 14)


def _avatar(
    canvas: Canvas, x: float, y: float, side: float, name: str, user_id: int, *, bot: bool
) -> None:
    """A default avatar: blurple with a note for the bot, a colour and an initial for people."""
    colour = (
        theme.BLURPLE if bot else theme.AVATAR_COLOURS[(user_id >> 22) % len(theme.AVATAR_COLOURS)]
    )
    canvas.ellipse((x, y, x + side, y + side), colour)
    mark = "♫" if bot else (name[:1].upper() or "?")
    canvas.text(x + side / 2, y + side / 2, mark, "bold", side * 0.5, theme.WHITE, anchor="mm")


def _only_you(canvas: Canvas, x: float, y: float) -> float:
    """Discord's line under an ephemeral message: an eye, who sees it, and how to dismiss it."""
    middle = y + 8
    canvas.ellipse((x, middle - 5, x + 16, middle + 5), None, outline=theme.MUTED, width=1.5)
    canvas.ellipse((x + 5, middle - 3, x + 11, middle + 3), theme.MUTED)
    left = x + 20
    base = canvas.baseline(y, 16, "regular", 12)
    for text, colour in (
        ("Only you can see this • ", theme.MUTED),
        ("Dismiss message", theme.LINK),
    ):
        canvas.text(left, base, text, "regular", 12, colour)
        left += canvas.width(text, "regular", 12)
    return y + 16
