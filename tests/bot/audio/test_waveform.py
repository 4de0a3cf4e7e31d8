"""The waveform PNG: right size, loud parts look loud, silence looks silent, both themes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.audio import AudioInputError, AudioProblem, WaveformStyle, write_waveform
from bot.audio.samples import read_samples
from bot.audio.waveform import BODY_RGB, ENVELOPE_RGB, THEME_BACKGROUNDS, column_envelope
from tests.audio_support import RATE, music, write_wav


def half_loud_half_silent(tmp_path: Path) -> Path:
    loud = music(1.0) * 1.9  # peaks near full scale
    silent = np.zeros((RATE, 2))
    return write_wav(tmp_path / "in.wav", np.concatenate([loud, silent]).clip(-1, 1))


def painted_rows(image: Image.Image, column: int) -> int:
    alpha = np.asarray(image)[:, column, 3]
    return int((alpha > 0).sum())


def test_png_has_the_size_asked_for_and_measures_the_piece(tmp_path: Path) -> None:
    source = half_loud_half_silent(tmp_path)
    dest = tmp_path / "wave.png"

    measured = write_waveform(source, dest, WaveformStyle(width=400, height=100))

    with Image.open(dest) as image:
        assert image.format == "PNG"
        assert image.size == (400, 100)
        assert image.mode == "RGBA"
    assert measured.duration_seconds == pytest.approx(2.0)
    assert -1.0 < measured.peak_dbfs <= 0.0  # type: ignore[operator]


def test_loud_columns_are_tall_and_silent_columns_are_a_thin_line(tmp_path: Path) -> None:
    source = half_loud_half_silent(tmp_path)
    dest = tmp_path / "wave.png"
    write_waveform(source, dest, WaveformStyle(width=200, height=80))

    with Image.open(dest) as image:
        image.load()
        loud = [painted_rows(image, x) for x in range(10, 90)]
        silent = [painted_rows(image, x) for x in range(110, 190)]
        pixels = np.asarray(image)
    assert min(loud) > 40  # the loud half fills most of the height
    assert max(silent) <= 2  # the silent half is the centre line only
    assert (pixels[:5, 110:190, 3] == 0).all()  # transparent above the line where silent
    assert (pixels[:, :, 3] == 0).any() and (pixels[:, :, 3] == 255).any()


def test_louder_audio_draws_a_taller_waveform(tmp_path: Path) -> None:
    quiet = write_wav(tmp_path / "quiet.wav", music(0.5) * 0.2)
    loud = write_wav(tmp_path / "loud.wav", music(0.5) * 1.0)
    heights = []
    for source in (quiet, loud):
        write_waveform(source, tmp_path / "w.png", WaveformStyle(width=50, height=100))
        with Image.open(tmp_path / "w.png") as image:
            heights.append(np.mean([painted_rows(image, x) for x in range(50)]))
    assert heights[1] > 3 * heights[0]


def relative_luminance(rgb: tuple[int, ...]) -> float:
    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_painted_colour_reads_on_both_themes(tmp_path: Path, theme: str) -> None:
    source = half_loud_half_silent(tmp_path)
    dest = tmp_path / "wave.png"
    write_waveform(source, dest)

    with Image.open(dest) as image:
        pixels = np.asarray(image).reshape(-1, 4)
    painted = {tuple(int(v) for v in p[:3]) for p in pixels if p[3] > 0}
    assert painted == {ENVELOPE_RGB, BODY_RGB}  # opaque colours only: no blended halo
    for colour in painted:
        for background in THEME_BACKGROUNDS[theme]:
            assert contrast(colour, background) >= 3.0, (colour, background)


def test_envelope_of_fewer_frames_than_columns(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "short.wav", music(0.001))  # 48 frames
    lows, highs, rms = column_envelope(read_samples(source), 200)
    assert lows.shape == highs.shape == rms.shape == (200,)
    assert (highs >= lows).all()


def test_undecodable_input_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x24\0\0\0WAVEfmt " + b"\xff" * 32)
    with pytest.raises(AudioInputError) as caught:
        write_waveform(bad, tmp_path / "w.png")
    assert caught.value.problem is AudioProblem.UNDECODABLE
    assert not (tmp_path / "w.png").exists()
