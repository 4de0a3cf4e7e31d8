"""The terminal's `--format wav|flac|opus`: a tagged file in the asked format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.audio import AudioFormat, AudioInputError, AudioProblem, convert_audio
from bot.audio.tags import build_tags
from tests.audio_support import (
    aligned_correlation,
    flac_comments,
    info_fields,
    music,
    opus_comments,
    provenance,
    write_wav,
)

TAGS = build_tags(provenance())


def test_wav_is_tagged_and_sample_exact(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))
    result = convert_audio(source, tmp_path / "out.wav", AudioFormat.WAV, provenance())

    assert result.path == tmp_path / "out.wav" and result.tagged
    assert result.download_name == "out.wav"
    assert info_fields(result.path.read_bytes())[b"ICMT"] == TAGS.comment
    assert np.array_equal(
        sf.read(str(result.path), dtype="int16")[0], sf.read(str(source), dtype="int16")[0]
    )


def test_flac_is_tagged_and_sample_exact(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0), subtype="PCM_24")
    result = convert_audio(source, tmp_path / "out.flac", AudioFormat.FLAC, provenance())

    assert result.format is AudioFormat.FLAC and result.content_type == "audio/flac"
    assert flac_comments(result.path)["COMMENT"] == TAGS.comment
    assert np.array_equal(
        sf.read(str(result.path), dtype="int32")[0], sf.read(str(source), dtype="int32")[0]
    )


def test_opus_defaults_to_the_high_quality_maximum(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(2.0))
    result = convert_audio(source, tmp_path / "out.opus", AudioFormat.OPUS, provenance())

    assert result.bitrate == 192_000 and result.content_type == "audio/ogg"
    assert opus_comments(result.path)["TITLE"] == TAGS.title
    reference = sf.read(str(source), always_2d=True)[0]
    decoded = sf.read(str(result.path), always_2d=True)[0]
    assert aligned_correlation(reference, decoded)[0] > 0.99


def test_an_existing_destination_is_replaced_whole(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    dest = tmp_path / "out.flac"
    dest.write_bytes(b"old contents")

    convert_audio(source, dest, AudioFormat.FLAC, provenance())

    assert dest.read_bytes()[:4] == b"fLaC"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", AudioProblem.MISSING), (b"ID3\x04\0\0\0\0\0\0" + b"\0" * 100, AudioProblem.NOT_WAV)],
)
def test_input_it_cannot_transform_is_refused_and_left_alone(
    tmp_path: Path, content: bytes, problem: AudioProblem
) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(content)
    with pytest.raises(AudioInputError) as caught:
        convert_audio(source, tmp_path / "out.flac", AudioFormat.FLAC, provenance())
    assert caught.value.problem is problem
    assert source.read_bytes() == content
    assert not (tmp_path / "out.flac").exists()
