"""The picture of a recorded message: its size and the pixels that follow from the message
(where the embed's colour bar is and in which colour, the embed's picture, pills, buttons, the
audio player, the ephemeral line, the highlight of a message that pings the reader)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageChops

from tests.audio_support import music, pcm16_wav_bytes
from tests.fakes.discord import FakeAttachment, FakeMessage
from tests.pictures import theme
from tests.pictures.attachments import duration, human_size
from tests.pictures.embed import BAR, PAD_LEFT
from tests.pictures.message import ACCESSORY_GAP, PADDING, render_message
from tests.pictures.scene import Scene

SCALE = 2
BOT, ALICE, BOB = 1 << 40, 7 << 22, 8 << 22
POSTED = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
CONTENT_TOP = theme.MARGIN_Y + PADDING + theme.LINE  # below the name line
PICTURE_RGB = (12, 200, 40)


def scene(**changes: Any) -> Scene:
    values: dict[str, Any] = {
        "author": "Lyria Jam",
        "author_id": BOT,
        "posted": POSTED,
        "users": {ALICE: "alice", BOB: "bob"},
    }
    values.update(changes)
    return Scene(**values)


def render(
    viewer: int | None = None, users: dict[int, str] | None = None, **fields: Any
) -> Image.Image:
    message = FakeMessage(id=1, channel_id=2, author_id=BOT, **fields)
    changes: dict[str, Any] = {"viewer_id": viewer}
    if users is not None:
        changes["users"] = users
    return render_message(message, scene(**changes), scale=SCALE)


def png(width: int, height: int, colour: tuple[int, int, int] = PICTURE_RGB) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def pixels_of(image: Image.Image, colour: tuple[int, int, int], slack: int = 0) -> np.ndarray:
    """A boolean mask of the pixels that are `colour` (each channel within `slack`)."""
    difference = np.asarray(image.convert("RGB"), dtype=np.int16) - np.array(colour)
    return np.all(np.abs(difference) <= slack, axis=-1)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, columns = np.nonzero(mask)
    return int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1


def run_down(image: Image.Image, x: int, y: int) -> int:
    """How many pixels from (x, y) downwards have the colour of (x, y)."""
    column = np.asarray(image.convert("RGB"))[y:, x]
    same = np.all(column == column[0], axis=-1)
    return int(np.argmin(same)) if not same.all() else len(same)


def at(image: Image.Image, x: float, y: float) -> tuple[int, ...]:
    """The pixel at CSS coordinates."""
    return tuple(image.convert("RGB").getpixel((round(x * SCALE), round(y * SCALE))))  # type: ignore[arg-type]


def test_the_picture_is_the_column_wide_and_each_line_adds_a_line_height() -> None:
    one = render(content="one")
    three = render(content="one\ntwo\nthree")
    assert one.width == three.width == theme.WIDTH * SCALE
    assert three.height - one.height == 2 * theme.LINE * SCALE


@pytest.mark.parametrize("colour", [0x5865F2, 0xED4245])
def test_the_embed_bar_is_drawn_in_the_embed_colour_where_the_embed_starts(colour: int) -> None:
    rgb = ((colour >> 16) & 0xFF, (colour >> 8) & 0xFF, colour & 0xFF)
    short = render(content="hi", embeds=[{"description": "one line", "color": colour}])
    tall = render(content="hi", embeds=[{"description": "one\ntwo\nthree", "color": colour}])
    top = CONTENT_TOP + theme.LINE + ACCESSORY_GAP  # under the one line of content
    bar_x = theme.GUTTER + BAR / 2
    assert at(short, bar_x, top + 6) == rgb
    assert at(short, bar_x, top - 1) == theme.BACKGROUND
    assert at(short, theme.GUTTER + BAR + 2, top + 6) == theme.SECONDARY_BG
    # Two more lines of description make the bar two embed lines (18 px) longer.
    start = round((top + 6) * SCALE)
    grown = run_down(tall, round(bar_x * SCALE), start) - run_down(
        short, round(bar_x * SCALE), start
    )
    assert grown == 2 * 18 * SCALE


@pytest.mark.parametrize(("size", "shown"), [((200, 50), (200, 50)), ((1000, 100), (400, 40))])
def test_the_embed_shows_its_attached_picture_at_its_size_at_most_400_wide(
    size: tuple[int, int], shown: tuple[int, int]
) -> None:
    picture = FakeAttachment(9, "waveform.png", png(*size), "image/png")
    image = render(
        content="hi",
        embeds=[
            {"description": "d", "color": 0x5865F2, "image": {"url": "attachment://waveform.png"}}
        ],
        attachments=[picture],
    )
    left, top, right, bottom = bounding_box(pixels_of(image, PICTURE_RGB))
    assert left == pytest.approx((theme.GUTTER + BAR + PAD_LEFT) * SCALE, abs=1)
    assert right - left == pytest.approx(shown[0] * SCALE, abs=2)
    assert bottom - top == pytest.approx(shown[1] * SCALE, abs=2)
    # Shown inside the embed, not listed again as a file (whose name would be a link).
    assert not pixels_of(image, theme.LINK).any()


def test_a_message_that_pings_the_member_looking_is_highlighted_for_them_only() -> None:
    content = f"<@{ALICE}> your track is ready."
    middle = CONTENT_TOP + theme.LINE / 2
    assert at(render(viewer=ALICE, content=content), 0.5, middle) == theme.MENTIONED_BAR
    assert at(render(viewer=BOB, content=content), 0.5, middle) == theme.BACKGROUND


def test_mentions_are_pills_with_the_members_names() -> None:
    pill = theme.blend(theme.BLURPLE, theme.MENTION_ALPHA)
    content = f"<@{ALICE}> hello"
    short = pixels_of(render(users={ALICE: "al"}, content=content), pill, slack=1).sum()
    long = pixels_of(render(users={ALICE: "alexandra-the-great"}, content=content), pill, 1).sum()
    assert 0 < short < long


def test_ephemeral_messages_end_with_only_you_can_see_this() -> None:
    private = render(content="just for you", flags=FakeMessage.EPHEMERAL)
    public = render(content="just for you")
    assert private.height > public.height
    last_line = slice(private.height - (theme.MARGIN_Y + PADDING + 16) * SCALE, None)
    assert pixels_of(private, theme.LINK)[last_line].any()  # "Dismiss message"
    assert not pixels_of(public, theme.LINK).any()


def test_buttons_have_their_style_colours_and_disabled_ones_are_faded() -> None:
    def button(style: int, label: str, **more: Any) -> dict[str, Any]:
        return {"type": 2, "style": style, "label": label, "custom_id": label, **more}

    row = {
        "type": 1,
        "components": [button(1, "Go"), button(4, "Stop"), button(3, "Done", disabled=True)],
    }
    image = render(content="pick", components=[row])
    least = 60 * theme.BUTTON_HEIGHT * SCALE * SCALE * 0.6  # most of a minimum-size button
    assert pixels_of(image, theme.BUTTON_COLOURS[1]).sum() > least
    assert pixels_of(image, theme.BUTTON_COLOURS[4]).sum() > least
    assert pixels_of(image, theme.blend(theme.BUTTON_COLOURS[3], 0.5)).sum() > least
    assert not pixels_of(image, theme.BUTTON_COLOURS[3]).any()


def test_audio_attachments_show_in_a_player_box() -> None:
    wav = pcm16_wav_bytes((music(3.0) * 20000).astype(np.int16))
    audio = FakeAttachment(5, "calm-piano.wav", wav, "audio/wav")
    assert duration(audio) == 3.0
    assert [human_size(n) for n in (900, 2048, 3 * 1024 * 1024 // 2)] == [
        "900 bytes",
        "2.00 KB",
        "1.50 MB",
    ]
    image = render(content="here", attachments=[audio])
    box_top = CONTENT_TOP + theme.LINE + 8
    assert at(image, theme.GUTTER + 3, box_top + 40) == theme.SECONDARY_BG
    assert at(image, theme.GUTTER + theme.AUDIO_WIDTH - 3, box_top + 40) == theme.SECONDARY_BG
    assert at(image, theme.GUTTER + theme.AUDIO_WIDTH + 3, box_top + 40) == theme.BACKGROUND
    assert pixels_of(image, theme.LINK).any()  # the file name


def test_emoji_the_fonts_cannot_draw_are_left_out_with_their_space() -> None:
    plain = render(content="thanks")
    assert ImageChops.difference(plain, render(content="🙏 thanks")).getbbox() is None
    assert ImageChops.difference(plain, render(content="🎲 thanks")).getbbox() is not None


def test_without_system_fonts_pillows_own_font_draws_the_same_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = f"<@{ALICE}> your **track** is ready 🎲"
    with_fonts = render(content=content)
    caches = (theme.font, theme.has_glyph, theme._glyph_pixels)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(
        theme, "FONT_FILES", {style: ("no-such-font.ttf",) for style in theme.FONT_FILES}
    )
    try:
        assert theme.font("regular", 16).getname() != ("DejaVu Sans", "Book")
        fallback = render(content=content)
    finally:
        for cache in caches:
            cache.cache_clear()
    assert fallback.size == with_fonts.size
    assert ImageChops.difference(fallback, with_fonts).getbbox() is not None  # other letters
