"""The README's pictures: their scenario runs here (into tmp_path) so the script cannot rot,
and the README shows pictures that are in the repository."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from bot.audio.waveform import BODY_RGB, ENVELOPE_RGB
from tests.pictures import theme
from tests.pictures.embed import BAR, PAD_LEFT, colour_of
from tests.pictures.readme import PROMPT, README_DIR, SEED, make_pictures

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 300 * 1024


def colour_near(image: Image.Image, colour: tuple[int, int, int], slack: int) -> np.ndarray:
    difference = np.asarray(image.convert("RGB"), dtype=np.int16) - np.array(colour)
    return np.all(np.abs(difference) <= slack, axis=-1)


async def test_the_scenario_draws_the_track_and_quota_me_as_alice_sees_them(tmp_path: Path) -> None:
    written = await make_pictures(tmp_path / "out", tmp_path / "work")
    recorded = written.recorded
    track, quota = recorded.track_message, recorded.quota_message

    # The real bot's messages: the finished track with its waveform, and the private /quota me.
    assert PROMPT in track.embeds[0]["description"]
    assert f"`{SEED}`" in [f["value"] for f in track.embeds[0]["fields"]]
    assert sorted(a.filename.rsplit(".", 1)[1] for a in track.attachments) == ["png", "wav"]
    assert quota.ephemeral and "You can compose" in quota.content

    assert [p.name for p in written.paths] == ["finished-track.png", "quota-me.png"]
    for path in written.paths:
        assert 0 < path.stat().st_size <= MAX_BYTES
    with Image.open(written.paths[0]) as saved_track, Image.open(written.paths[1]) as saved_quota:
        assert saved_track.width == saved_quota.width == theme.WIDTH * 2
        assert saved_track.height > saved_quota.height
        # The embed's bar in the embed's colour, and the waveform's blurple inside the embed.
        bar = colour_near(saved_track, colour_of(track.embeds[0]), 3)[:, (theme.GUTTER + 1) * 2]
        assert bar.sum() > 100 * 2
        # The waveform the bot attached, 1:1 (its 800 px are the embed image's 400 CSS px at
        # scale 2), starting at the embed's inner left edge.
        attached = next(a for a in track.attachments if a.filename.endswith(".png"))
        with Image.open(io.BytesIO(attached.data)) as picture:
            rgba = np.asarray(picture.convert("RGBA"), dtype=np.int16)
        opaque_envelope = colour_near_rgba(rgba, ENVELOPE_RGB, 12)
        expected = np.nonzero(opaque_envelope.any(axis=0))[0]
        drawn = colour_near(saved_track, ENVELOPE_RGB, 12)
        # Only the picture's rows, found by its orchid body (no other part of the message has
        # that colour): the avatar and the file icon are blurple too.
        body_rows = np.nonzero(colour_near(saved_track, BODY_RGB, 12).any(axis=1))[0]
        height = rgba.shape[0]
        drawn[: body_rows.max() - height] = False
        drawn[body_rows.min() + height :] = False
        columns = np.nonzero(drawn.any(axis=0))[0]
        left = (theme.GUTTER + BAR + PAD_LEFT) * 2
        assert abs(columns.min() - (left + expected.min())) <= 1  # antialiased edges
        assert abs(columns.max() - (left + expected.max())) <= 1


def colour_near_rgba(rgba: np.ndarray, colour: tuple[int, int, int], slack: int) -> np.ndarray:
    near = np.all(np.abs(rgba[..., :3] - np.array(colour)) <= slack, axis=-1)
    return near & (rgba[..., 3] > 250)


def test_the_readme_shows_the_committed_pictures() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"\.github/readme/([\w-]+\.png)", readme)
    assert sorted(set(shown)) == ["finished-track.png", "quota-me.png"]
    assert "make pictures" in readme
    for name in shown:
        path = README_DIR / name
        assert 0 < path.stat().st_size <= MAX_BYTES
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.width == theme.WIDTH * 2
