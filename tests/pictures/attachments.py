"""A message's files as Discord lists them: audio in its player box (file name, size, play
button, time, progress bar, volume), pictures as themselves, anything else as a file box."""

from __future__ import annotations

import io
import math
import mimetypes

import soundfile as sf  # type: ignore[import-untyped]
from PIL import Image

from tests.fakes.discord import FakeAttachment
from tests.pictures import theme
from tests.pictures.canvas import Canvas

BOX_PAD = 16
ICON = (24, 32)
CONTROLS = 32
CONTROLS_GAP = 8
PICTURE_MAX = (550, 350)
GAP = 8


def kind_of(attachment: FakeAttachment) -> str:
    """'audio', 'image' or 'file', from the content type (else the file name)."""
    content_type = attachment.content_type or mimetypes.guess_type(attachment.filename)[0] or ""
    major = content_type.split("/", 1)[0]
    return major if major in ("audio", "image") else "file"


def human_size(size: int) -> str:
    """Sizes as Discord shows them under a file name."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.2f} KB"
    return f"{size / 1024 / 1024:.2f} MB"


def duration(attachment: FakeAttachment) -> float | None:
    """The audio's length in seconds, when its header says (None if it cannot be read)."""
    try:
        return float(sf.info(io.BytesIO(attachment.data)).duration)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None


def clock(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def draw_attachments(
    canvas: Canvas, attachments: list[FakeAttachment], x: float, y: float, room: float
) -> float:
    for attachment in attachments:
        kind = kind_of(attachment)
        if kind == "image":
            y = _draw_picture(canvas, attachment, x, y + GAP, room)
        else:
            y = _draw_file_box(canvas, attachment, x, y + GAP, room, audio=kind == "audio")
    return y


def _draw_picture(
    canvas: Canvas, attachment: FakeAttachment, x: float, y: float, room: float
) -> float:
    with Image.open(io.BytesIO(attachment.data)) as picture:
        picture.load()
        width, height = picture.size
        factor = min(1.0, min(room, PICTURE_MAX[0]) / width, PICTURE_MAX[1] / height)
        box = (x, y, x + width * factor, y + height * factor)
        canvas.picture(picture, box, radius=8)
    return box[3]


def _draw_file_box(
    canvas: Canvas, attachment: FakeAttachment, x: float, y: float, room: float, *, audio: bool
) -> float:
    width = min(theme.AUDIO_WIDTH, room)
    height = BOX_PAD * 2 + ICON[1] + (CONTROLS_GAP + CONTROLS if audio else 0)
    canvas.rect(
        (x, y, x + width, y + height), theme.SECONDARY_BG, radius=8, outline=theme.TERTIARY_BG
    )
    left, top = x + BOX_PAD, y + BOX_PAD
    _file_icon(canvas, left, top, audio=audio)
    text_left = left + ICON[0] + 8
    download = x + width - BOX_PAD - 24
    name = _ellipsised(canvas, attachment.filename, download - 8 - text_left)
    canvas.text(text_left, top + 15, name, "regular", 16, theme.LINK)
    canvas.text(text_left, top + 30, human_size(attachment.size), "regular", 12, theme.MUTED)
    _download_icon(canvas, download, top + 4)
    if audio:
        _controls(
            canvas, attachment, x + BOX_PAD, top + ICON[1] + CONTROLS_GAP, width - 2 * BOX_PAD
        )
    return y + height


def _ellipsised(canvas: Canvas, text: str, width: float) -> str:
    if canvas.width(text, "regular", 16) <= width:
        return text
    while text and canvas.width(text + "…", "regular", 16) > width:
        text = text[:-1]
    return text + "…"


def _file_icon(canvas: Canvas, x: float, y: float, *, audio: bool) -> None:
    """A page with a folded corner (blurple with a note for audio, grey for other files)."""
    w, h = ICON
    fold = 8
    page = (0x6C, 0x78, 0xF5) if audio else (0x8E, 0x95, 0x9F)
    canvas.polygon([(x, y), (x + w - fold, y), (x + w, y + fold), (x + w, y + h), (x, y + h)], page)
    canvas.polygon(
        [(x + w - fold, y), (x + w - fold, y + fold), (x + w, y + fold)],
        theme.blend(theme.WHITE, 0.45, page),
    )
    if audio:
        canvas.text(x + w / 2, y + h / 2 + 3, "♫", "bold", 14, theme.WHITE, anchor="mm")


def _download_icon(canvas: Canvas, x: float, y: float) -> None:
    colour = theme.INTERACTIVE
    middle = x + 12
    canvas.line([(middle, y + 3), (middle, y + 14)], colour, 2)
    canvas.polygon([(middle - 6, y + 11), (middle + 6, y + 11), (middle, y + 17)], colour)
    canvas.line([(x + 4, y + 20), (x + 20, y + 20)], colour, 2)


def _controls(canvas: Canvas, attachment: FakeAttachment, x: float, y: float, width: float) -> None:
    canvas.rect((x, y, x + width, y + CONTROLS), theme.TERTIARY_BG, radius=4)
    middle = y + CONTROLS / 2
    canvas.polygon([(x + 10, middle - 7), (x + 10, middle + 7), (x + 22, middle)], theme.HEADER)
    length = duration(attachment)
    time_text = f"0:00/{clock(length) if length is not None else '-:--'}"
    canvas.text(x + 32, middle, time_text, "mono", 12, theme.INTERACTIVE, anchor="lm")
    bar_left = x + 32 + canvas.width(time_text, "mono", 12) + 12
    bar_right = x + width - 40
    canvas.rect((bar_left, middle - 3, bar_right, middle + 3), theme.ACCENT, radius=3)
    _speaker(canvas, x + width - 30, middle)


def _speaker(canvas: Canvas, x: float, middle: float) -> None:
    colour = theme.INTERACTIVE
    canvas.polygon(
        [
            (x, middle - 3),
            (x + 4, middle - 3),
            (x + 9, middle - 8),
            (x + 9, middle + 8),
            (x + 4, middle + 3),
            (x, middle + 3),
        ],
        colour,
    )
    canvas.arc((x + 6, middle - 5, x + 16, middle + 5), -50, 50, colour, 1.5)
    canvas.arc((x + 6, middle - 9, x + 20, middle + 9), -50, 50, colour, 1.5)
