"""Discord's dark theme as the renderer needs it: colours, sizes (CSS pixels) and fonts.

Colours and sizes follow Discord's desktop client (dark theme, cozy message display). Discord's
own font (gg sans) is not free; DejaVu Sans stands in for it, a little smaller because it runs
wider. Fonts are looked up by file name in the system's font folders (Pillow searches them);
without any, Pillow's built-in font is used, so a picture is always drawn.
"""

from __future__ import annotations

import functools
from typing import Final

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]

BACKGROUND: Final[RGB] = (0x31, 0x33, 0x38)
TEXT: Final[RGB] = (0xDB, 0xDE, 0xE1)
HEADER: Final[RGB] = (0xF2, 0xF3, 0xF5)
MUTED: Final[RGB] = (0x94, 0x9B, 0xA4)
INTERACTIVE: Final[RGB] = (0xB5, 0xBA, 0xC1)
LINK: Final[RGB] = (0x00, 0xA8, 0xFC)
BLURPLE: Final[RGB] = (0x58, 0x65, 0xF2)
WHITE: Final[RGB] = (0xFF, 0xFF, 0xFF)
SECONDARY_BG: Final[RGB] = (0x2B, 0x2D, 0x31)  # embeds, code, attachment boxes
TERTIARY_BG: Final[RGB] = (0x1E, 0x1F, 0x22)  # borders, the audio player's controls
ACCENT: Final[RGB] = (0x4E, 0x50, 0x58)  # quote bars, secondary buttons, progress tracks
MENTION_TEXT: Final[RGB] = (0xC9, 0xCD, 0xFB)
MENTION_ALPHA: Final = 0.3  # the pill is blurple at this opacity
TIMESTAMP_BG: Final[RGB] = (0x3F, 0x41, 0x47)
MENTIONED_BAR: Final[RGB] = (0xF0, 0xB2, 0x32)  # a message that pings the reader
MENTIONED_ALPHA: Final = 0.08
BUTTON_COLOURS: Final[dict[int, RGB]] = {
    1: BLURPLE,  # primary
    2: ACCENT,  # secondary
    3: (0x24, 0x80, 0x46),  # success
    4: (0xDA, 0x37, 0x3C),  # danger
    5: ACCENT,  # link
    6: BLURPLE,  # premium
}
# Discord's default avatars, picked by the user id.
AVATAR_COLOURS: Final[tuple[RGB, ...]] = (
    BLURPLE,
    (0x75, 0x7E, 0x8A),
    (0x3B, 0xA5, 0x5C),
    (0xFA, 0xA6, 0x1A),
    (0xED, 0x42, 0x45),
    (0xEB, 0x45, 0x9E),
)

# Layout, in CSS pixels.
WIDTH: Final = 640  # the chat column the picture shows
GUTTER: Final = 72  # messages start here; the avatar sits left of it
AVATAR: Final = 40
AVATAR_LEFT: Final = 16
RIGHT_PADDING: Final = 48
MARGIN_Y: Final = 16  # above the first and below the last line of the picture
LINE: Final = 22  # a line of message text
EMBED_MAX_WIDTH: Final = 516
EMBED_IMAGE_MAX: Final = (400, 300)
AUDIO_WIDTH: Final = 400
BUTTON_HEIGHT: Final = 32

# Font sizes in CSS pixels (before SIZE_FACTOR).
SIZE_FACTOR: Final = 0.93  # DejaVu Sans is wider than gg sans

FONT_FILES: Final[dict[str, tuple[str, ...]]] = {
    "regular": ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "NotoSans-Regular.ttf"),
    "bold": ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "NotoSans-Bold.ttf"),
    "italic": ("DejaVuSans-Oblique.ttf", "LiberationSans-Italic.ttf", "NotoSans-Italic.ttf"),
    "bold-italic": (
        "DejaVuSans-BoldOblique.ttf",
        "LiberationSans-BoldItalic.ttf",
        "NotoSans-BoldItalic.ttf",
    ),
    "mono": ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf", "NotoSansMono-Regular.ttf"),
}


def blend(colour: RGB, alpha: float, under: RGB = BACKGROUND) -> RGB:
    """`colour` at `alpha` opacity over `under`."""
    r, g, b = (round(c * alpha + u * (1 - alpha)) for c, u in zip(colour, under, strict=True))
    return (r, g, b)


@functools.cache
def font(style: str, size: float) -> ImageFont.FreeTypeFont:
    """The font for `style` (a FONT_FILES key) at `size` device pixels."""
    for name in FONT_FILES[style] + FONT_FILES["regular"]:
        try:
            return ImageFont.truetype(name, round(size))
        except OSError:
            continue
    fallback = ImageFont.load_default(size=round(size))
    if not isinstance(fallback, ImageFont.FreeTypeFont):  # Pillow built without FreeType
        raise RuntimeError("drawing the pictures needs Pillow with FreeType")
    return fallback


@functools.cache
def has_glyph(style: str, size: float, char: str) -> bool:
    """Whether the font draws `char` itself (not its 'missing glyph' box)."""
    return _glyph_pixels(style, size, char) != _glyph_pixels(style, size, "\U0010fffd")


@functools.cache
def _glyph_pixels(style: str, size: float, char: str) -> bytes:
    side = round(size * 2)
    image = Image.new("L", (side, side))
    ImageDraw.Draw(image).text((side // 4, side // 4), char, font=font(style, size), fill=255)
    return image.tobytes()
