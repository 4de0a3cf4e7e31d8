"""Audio sniffing and header-only duration reading."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bot.aimlapi.audio import read_duration, sniff_audio, wav_duration
from tests.fakes.aimlapi import make_wav, wav_header


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (make_wav(0.1)[:12], "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00\x00\x00\x00\x00\x00\x00\x00", "audio/mpeg"),  # MPEG-1 layer III
        (b"\xff\xf1\x50\x80\x00\x1f\xfc\x00\x00\x00\x00\x00", "audio/aac"),  # ADTS
        (b"fLaC\x00\x00\x00\x22\x00\x00\x00\x00", "audio/flac"),
        (b"OggS\x00\x02\x00\x00\x00\x00\x00\x00", "audio/ogg"),
        (b"\x00\x00\x00\x20ftypM4A ", "audio/mp4"),
        (b"<!DOCTYPE html><html>", None),
        (b'{"error": "nope"}', None),
        (b"RIFF\x00\x00\x00\x00AVI ", None),  # RIFF but not WAVE
        (b"\xff\xff\xff\xff\xff\xff\xff\xff", None),  # sync bits with reserved fields
        (b"", None),
        (b"RIF", None),
    ],
)
def test_sniff_audio(head: bytes, expected: str | None) -> None:
    assert sniff_audio(head) == expected


def write(tmp_path: Path, data: bytes, name: str = "a.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_duration_of_a_plain_pcm_wav(tmp_path: Path) -> None:
    assert wav_duration(write(tmp_path, make_wav(1.5, rate=8000))) == pytest.approx(1.5)
    assert read_duration(write(tmp_path, make_wav(0.25, 44100)), "audio/wav") == pytest.approx(
        0.25, abs=1e-4
    )


def extensible_wav(seconds: float, rate: int = 48000, channels: int = 2, bits: int = 24) -> bytes:
    block = channels * bits // 8
    data = bytes(round(seconds * rate) * block)
    guid_pcm = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
    fmt += struct.pack("<HHI", 22, bits, 0b11) + guid_pcm
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"  # odd size: padded
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_duration_of_an_extensible_wav_with_extra_chunks(tmp_path: Path) -> None:
    path = write(tmp_path, extensible_wav(0.5))
    assert sniff_audio(path.read_bytes()[:12]) == "audio/wav"
    assert wav_duration(path) == pytest.approx(0.5)


def test_streamed_wav_with_unknown_data_size_uses_the_file_length(tmp_path: Path) -> None:
    samples = bytes(8000 * 2)  # one second at 8 kHz, 16-bit mono
    header = bytearray(wav_header(len(samples)))
    header[40:44] = b"\xff\xff\xff\xff"
    assert wav_duration(write(tmp_path, bytes(header) + samples)) == pytest.approx(1.0)
    # a data size larger than the file (truncated download) is clamped the same way
    short = wav_header(10 * len(samples)) + samples
    assert wav_duration(write(tmp_path, short, "b.wav")) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x00\x00\x00\x00WAVE",  # no chunks
        make_wav(0.1)[:30],  # fmt chunk cut short
        b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00",  # data before fmt
        b"<html>not a wav</html>",
        wav_header(100, rate=0) + bytes(100),  # zero sample rate
        b"RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\x7f" + bytes(2048),  # a 2 GiB fmt chunk
    ],
)
def test_malformed_wavs_have_no_duration(tmp_path: Path, data: bytes) -> None:
    assert read_duration(write(tmp_path, data), "audio/wav") is None


def flac_with(rate: int, total_samples: int) -> bytes:
    packed = (rate << 44) | (1 << 41) | (15 << 36) | total_samples  # 2 channels, 16 bits
    info = struct.pack(">HH", 4096, 4096) + b"\x00" * 6 + packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80, 0, 0, 34]) + info


def test_flac_duration_comes_from_streaminfo(tmp_path: Path) -> None:
    path = write(tmp_path, flac_with(44100, 44100 * 3), "a.flac")
    assert read_duration(path, "audio/flac") == pytest.approx(3.0)
    unknown = write(tmp_path, flac_with(44100, 0), "b.flac")
    assert read_duration(unknown, "audio/flac") is None


def test_formats_without_a_stated_duration_and_missing_files(tmp_path: Path) -> None:
    assert read_duration(write(tmp_path, b"ID3\x04" + bytes(100), "a.mp3"), "audio/mpeg") is None
    assert read_duration(tmp_path / "missing.wav", "audio/wav") is None


def test_a_huge_fmt_chunk_is_never_read_into_memory(tmp_path: Path) -> None:
    reads: list[int] = []

    class Recorder(type(Path())):  # type: ignore[misc]
        def open(self, *args: object, **kwargs: object) -> object:
            fh = super().open(*args, **kwargs)  # type: ignore[arg-type]
            real_read = fh.read

            def read(n: int = -1) -> bytes:
                reads.append(n)
                return real_read(n)

            fh.read = read
            return fh

    pcm = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    data = b"RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\x7f" + pcm + bytes(1 << 20)
    path = write(tmp_path, data)
    assert wav_duration(Recorder(path)) is None
    assert max(reads) <= 1024
