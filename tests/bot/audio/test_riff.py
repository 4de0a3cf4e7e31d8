"""Tagging a WAV at the byte level keeps every sample byte and adds a readable LIST/INFO."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.audio.riff import RiffError, info_chunk, plan_tagged_wav, read_chunks, read_info
from bot.audio.tags import build_tags
from tests.audio_support import (
    chunk,
    info_fields,
    music,
    pcm16_wav_bytes,
    provenance,
    riff_chunks,
    write_wav,
)

TAGS = build_tags(provenance(prompt="Café jazz ✓ with brushes"))


def tagged_copy(source: Path) -> bytes:
    plan = plan_tagged_wav(source, TAGS)
    out = io.BytesIO()
    plan.write_to(out)
    assert len(out.getvalue()) == plan.size_bytes  # the size is known before writing
    return out.getvalue()


def data_payload(wav: bytes) -> bytes:
    return next(payload for cid, payload in riff_chunks(wav) if cid == b"data")


def test_tagged_wav_keeps_the_sample_bytes_and_decodes_to_the_same_samples(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.5))
    tagged = tagged_copy(source)
    (tmp_path / "out.wav").write_bytes(tagged)

    assert data_payload(tagged) == data_payload(source.read_bytes())
    original, rate = sf.read(str(source), dtype="int16")
    again, rate_again = sf.read(str(tmp_path / "out.wav"), dtype="int16")
    assert rate == rate_again == 48_000
    assert np.array_equal(original, again)


def test_tags_read_back_through_libsndfile_and_by_parsing(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    out = tmp_path / "out.wav"
    out.write_bytes(tagged_copy(source))

    with sf.SoundFile(str(out)) as f:
        assert f.title == TAGS.title == "Café jazz ✓ with brushes"
        assert f.comment == TAGS.comment
        assert f.software == TAGS.software
        assert f.date == "2026-11-25"
    fields = info_fields(out.read_bytes())
    assert fields == {
        b"INAM": TAGS.title,
        b"ICMT": TAGS.comment,
        b"ISFT": TAGS.software,
        b"ICRD": TAGS.date,
    }
    assert read_info(out)["ICMT"] == TAGS.comment


def test_info_goes_before_data_and_other_chunks_stay_in_order(tmp_path: Path) -> None:
    frames = (music(0.2) * 20000).astype(np.int16)
    old_info = chunk(b"LIST", b"INFO" + chunk(b"ISFT", b"Lavf60\0"))
    adtl = chunk(b"LIST", b"adtl" + chunk(b"labl", b"\1\0\0\0cue\0"))
    odd = chunk(b"junk", b"odd")  # odd size: one pad byte
    source = tmp_path / "in.wav"
    source.write_bytes(pcm16_wav_bytes(frames, extra_before=old_info + odd, extra_after=adtl))

    tagged = tagged_copy(source)
    ids = [(cid, payload[:4]) for cid, payload in riff_chunks(tagged)]

    assert ids == [
        (b"fmt ", ids[0][1]),
        (b"junk", b"odd"),
        (b"LIST", b"INFO"),
        (b"data", ids[3][1]),
        (b"LIST", b"adtl"),
    ]
    assert info_fields(tagged)[b"ISFT"] == TAGS.software  # the provider's INFO was replaced
    assert data_payload(tagged) == frames.astype("<i2").tobytes()


@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF, 10**9])
def test_streamed_or_overlong_data_size_means_up_to_the_end(tmp_path: Path, declared: int) -> None:
    frames = (music(0.1) * 20000).astype(np.int16)
    source = tmp_path / "in.wav"
    source.write_bytes(pcm16_wav_bytes(frames, data_size=declared))

    tagged = tagged_copy(source)

    assert data_payload(tagged) == frames.astype("<i2").tobytes()  # states the real size now


def test_odd_length_info_values_are_padded() -> None:
    raw = info_chunk(build_tags(provenance(prompt="ab")))
    assert len(raw) % 2 == 0
    assert int.from_bytes(raw[4:8], "little") == len(raw) - 8


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"RIFF\x10\0\0\0WAVE",
        b"ID3\x04" + b"\0" * 64,
        b"RIFF\xff\0\0\0WAVEfmt \xff\xff\xff\x7f",
    ],
)
def test_not_a_walkable_wav_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(RiffError):
        read_chunks(path)
