"""The README's pictures, from a real run: the real JamBot between the fake Discord and the fake
AI/ML API (as the end-to-end tests run it), a `/compose` whose provider returns a few seconds of
music, then `/quota me` by the same member; the messages the fake Discord recorded are drawn as
that member sees them.

    .venv/bin/python -m tests.pictures [--out DIR]     (or: make pictures)
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.audio_support import RATE, music, pcm16_wav_bytes
from tests.conftest import open_harness
from tests.fakes.discord import FakeMessage
from tests.pictures.message import render_message
from tests.pictures.scene import scene_of

README_DIR = Path(__file__).resolve().parents[2] / ".github" / "readme"
PROMPT = "dreamy synthwave, warm analog pads, slow arpeggios, 90 bpm"
NEGATIVE = "vocals"
SEED = 2718
SECONDS = 8.0
BPM = 90


@dataclass(frozen=True)
class Recorded:
    """The two messages the pictures show, with what is needed to draw them."""

    track: Image.Image
    quota: Image.Image
    track_message: FakeMessage
    quota_message: FakeMessage


def song(seconds: float = SECONDS, *, bpm: int = BPM) -> npt.NDArray[np.int16]:
    """A few seconds that look like music in a waveform: the test suite's music-like tone as a
    pad under a kick on every beat and a hi-hat between them, building up, then fading out."""
    pad = music(seconds)
    t = np.arange(len(pad)) / RATE
    beat = 60.0 / bpm
    since_beat = t % beat
    since_half = t % (beat / 2)
    sweep = 50.0 + 70.0 * np.exp(-since_beat * 30.0)  # the kick's pitch falls as it rings
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / RATE) * np.exp(-since_beat * 7.0)
    kick *= np.where((t // beat) % 4 == 0, 1.0, 0.75)  # the first beat of a bar is louder
    hiss = np.random.default_rng(3).standard_normal(len(t))
    hat = 0.25 * hiss * np.exp(-since_half * 40.0) * ((t // (beat / 2)) % 2 == 1)
    build = 0.55 + 0.45 * np.clip(t / (seconds * 0.6), 0, 1)
    fades = np.clip(t / 0.4, 0, 1) * np.clip((seconds - t) / 1.5, 0, 1)
    mixed = (0.5 * pad + (0.55 * kick + hat)[:, None]) * (build * fades)[:, None]
    return np.asarray(np.clip(mixed, -1, 1) * 32767 * 0.8, dtype=np.int16)


async def record(work_dir: Path) -> Recorded:
    """Run the scenario; the pictures of its two messages."""
    tune = {"api": {"audio": pcm16_wav_bytes(song())}}
    async with open_harness(work_dir, tune) as h:
        interaction = await h.compose(PROMPT, negative_prompt=NEGATIVE, seed=SEED)
        track = await h.result_of(interaction, timeout=30)
        asked = await h.fake_discord.invoke("quota me", {}, user=h.alice, channel=h.channel)
        quota = await asked.wait_for_original(lambda m: bool(m.content))
        fake = h.fake_discord
        return Recorded(
            track=render_message(track, scene_of(fake, track, viewer=h.alice)),
            quota=render_message(quota, scene_of(fake, quota, viewer=h.alice)),
            track_message=track,
            quota_message=quota,
        )


def save_png(image: Image.Image, path: Path) -> Path:
    """Written small: a palette of 256 colours is plenty for flat colours and antialiased text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    return path


@dataclass(frozen=True)
class Written:
    recorded: Recorded
    paths: list[Path]


async def make_pictures(out_dir: Path, work_dir: Path | None = None) -> Written:
    """Run the scenario (its bot's files in `work_dir`, else a temporary folder) and write
    finished-track.png and quota-me.png into `out_dir`."""
    with tempfile.TemporaryDirectory(prefix="jam-pictures-") as scratch:
        recorded = await record(work_dir or Path(scratch))
    paths = [
        save_png(recorded.track, out_dir / "finished-track.png"),
        save_png(recorded.quota, out_dir / "quota-me.png"),
    ]
    return Written(recorded, paths)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.pictures", description=__doc__)
    parser.add_argument("--out", type=Path, default=README_DIR, help="where to write the PNGs")
    args = parser.parse_args(argv)
    for path in asyncio.run(make_pictures(args.out)).paths:
        with Image.open(path) as written:
            print(f"{path}: {written.width}x{written.height}, {path.stat().st_size / 1024:.0f} KiB")
    return 0
