"""FLAC decodes to the very same samples; Opus to a close copy; both carry the tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.audio.encode import EncodingError, opus_bitrate, opus_level, write_flac, write_opus
from bot.audio.samples import read_samples
from bot.audio.tags import build_tags
from tests.audio_support import (
    aligned_correlation,
    flac_comments,
    music,
    opus_comments,
    opus_preskip,
    provenance,
    write_wav,
)

TAGS = build_tags(provenance())


@pytest.mark.parametrize(("subtype", "dtype"), [("PCM_16", "int16"), ("PCM_24", "int32")])
def test_flac_decodes_to_exactly_the_wav_samples(tmp_path: Path, subtype: str, dtype: str) -> None:
    source = write_wav(tmp_path / "in.wav", music(2.0), subtype=subtype)
    out = tmp_path / "out.flac"

    write_flac(read_samples(source), out, TAGS)

    original, _ = sf.read(str(source), dtype=dtype)
    decoded, rate = sf.read(str(out), dtype=dtype)
    assert rate == 48_000
    assert sf.info(str(out)).subtype == subtype
    assert np.array_equal(original, decoded)
    assert out.stat().st_size < source.stat().st_size


def test_flac_carries_vorbis_comments(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    out = tmp_path / "out.flac"
    write_flac(read_samples(source), out, TAGS)

    comments = flac_comments(out)  # parsed from the bytes
    assert comments["TITLE"] == TAGS.title
    assert comments["COMMENT"] == TAGS.comment
    assert comments["DATE"] == "2026-11-25"
    assert comments["SOFTWARE"].startswith(TAGS.software)  # libsndfile appends its own name
    with sf.SoundFile(str(out)) as f:
        assert f.comment == TAGS.comment


def test_float_wav_has_no_exact_flac(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.2), subtype="FLOAT")
    with pytest.raises(EncodingError):
        write_flac(read_samples(source), tmp_path / "out.flac", TAGS)


@pytest.mark.parametrize("bitrate", [64_000, 192_000])
def test_opus_decodes_to_a_close_aligned_copy(tmp_path: Path, bitrate: int) -> None:
    signal = music(3.0)
    source = write_wav(tmp_path / "in.wav", signal)
    out = tmp_path / "out.ogg"

    write_opus(read_samples(source), out, TAGS, bitrate)

    reference, _ = sf.read(str(source), always_2d=True)
    decoded, rate = sf.read(str(out), always_2d=True)
    assert rate == 48_000 and decoded.shape[1] == 2
    assert opus_preskip(out) > 0  # the encoder's delay, which the decoder must drop...
    correlation, lag = aligned_correlation(reference, decoded)
    assert correlation > 0.99
    assert abs(lag) <= 2  # ...and does: libsndfile honours the pre-skip
    assert abs(len(decoded) - len(reference)) <= 960  # at most one 20 ms frame of padding


def test_opus_size_follows_the_target_bitrate(tmp_path: Path) -> None:
    seconds = 4.0
    source = write_wav(tmp_path / "in.wav", music(seconds))
    decoded = read_samples(source)
    sizes = {}
    for bitrate in (64_000, 128_000):
        out = tmp_path / f"{bitrate}.ogg"
        write_opus(decoded, out, TAGS, bitrate)
        sizes[bitrate] = out.stat().st_size
        assert sizes[bitrate] * 8 / seconds < bitrate * 1.3  # VBR near its target
    assert sizes[128_000] > sizes[64_000] * 1.5


def test_opus_carries_opus_tags(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    out = tmp_path / "out.ogg"
    write_opus(read_samples(source), out, TAGS, 96_000)

    comments = opus_comments(out)  # parsed from the OpusTags packet
    assert comments["TITLE"] == TAGS.title
    assert comments["COMMENT"] == TAGS.comment
    assert comments["DATE"] == "2026-11-25"
    assert comments["ENCODER"].startswith(TAGS.software)


@pytest.mark.parametrize(("bitrate", "channels"), [(64_000, 2), (192_000, 2), (96_000, 1)])
def test_opus_level_inverts_libsndfiles_mapping(bitrate: int, channels: int) -> None:
    level = opus_level(bitrate, channels)
    assert 0.0 <= level <= 1.0
    assert abs(opus_bitrate(level, channels) - bitrate) <= channels


def test_opus_at_an_unsupported_rate_is_an_encoding_error(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.2, rate=44_100), rate=44_100)
    with pytest.raises(EncodingError):
        write_opus(read_samples(source), tmp_path / "out.ogg", TAGS, 96_000)
