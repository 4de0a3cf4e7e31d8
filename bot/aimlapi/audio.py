"""Recognise audio files by their first bytes and read their duration without decoding them.

Both functions are pure or do small synchronous file reads; call `read_duration` through
`asyncio.to_thread` from async code.
"""

from __future__ import annotations

import struct
from pathlib import Path

# Enough bytes for every signature below (ftyp sits at offset 4..8, WAVE at 8..12).
SNIFF_BYTES = 12

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_MAX_CHUNKS = 64  # a WAV with more chunks than this before `data` is not one we made
_MAX_FMT_BYTES = 1024  # a `fmt ` chunk is 16, 18 or 40 bytes


def sniff_audio(head: bytes) -> str | None:
    """The content type that the first bytes of a file announce, or None if not audio."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "audio/mp4"
    if head[:3] == b"ID3":
        return "audio/mpeg"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return _frame_sync_type(head[1], head[2])
    return None


def _frame_sync_type(b1: int, b2: int) -> str | None:
    """MPEG audio (MP3) or ADTS (AAC) frame header after the 0xFFE sync bits."""
    layer = (b1 >> 1) & 0b11
    if layer == 0b00:
        return "audio/aac" if b1 & 0xF6 == 0xF0 else None  # ADTS: 12 sync bits, layer 00
    version = (b1 >> 3) & 0b11
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 0b11
    if version == 0b01 or bitrate_index == 0xF or rate_index == 0b11:  # reserved values
        return None
    return "audio/mpeg"


def read_duration(path: Path, content_type: str) -> float | None:
    """Duration in seconds, for the formats whose headers state it (WAV, FLAC); else None."""
    try:
        if content_type == "audio/wav":
            return wav_duration(path)
        if content_type == "audio/flac":
            return flac_duration(path)
    except OSError:
        return None
    return None


def wav_duration(path: Path) -> float | None:
    """Walk the RIFF chunks: the `fmt ` chunk gives the byte rate, `data` the length.

    Handles WAVE_FORMAT_EXTENSIBLE and streamed WAVs whose data size is 0 or 0xFFFFFFFF (the
    real size is then what is left of the file). Returns None for anything malformed.
    """
    file_size = path.stat().st_size
    with path.open("rb") as fh:
        riff = fh.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None
        byte_rate: int | None = None
        for _ in range(_MAX_CHUNKS):
            header = fh.read(8)
            if len(header) < 8:
                return None
            chunk_id, size = header[:4], int.from_bytes(header[4:], "little")
            if chunk_id == b"fmt ":
                if not 16 <= size <= _MAX_FMT_BYTES:
                    return None  # not a real format chunk; never read a huge one into memory
                fmt = fh.read(size)
                if len(fmt) < 16:
                    return None
                byte_rate = _wav_byte_rate(fmt)
                if byte_rate is None:
                    return None
                if size % 2:
                    fh.seek(1, 1)
            elif chunk_id == b"data":
                if byte_rate is None:
                    return None  # `data` before `fmt ` is not valid
                remaining = file_size - fh.tell()
                if size in (0, 0xFFFFFFFF) or size > remaining:
                    size = remaining
                return size / byte_rate
            else:
                fh.seek(size + (size % 2), 1)
    return None


def _wav_byte_rate(fmt: bytes) -> int | None:
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 40:
            return None
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the SubFormat GUID
    if tag not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT) or channels == 0 or rate == 0:
        return None
    computed = rate * block_align if block_align else rate * channels * ((bits + 7) // 8)
    # Prefer the value derived from the frame layout; writers sometimes get byte_rate wrong.
    return computed or byte_rate or None


def flac_duration(path: Path) -> float | None:
    """Total samples / sample rate from the mandatory STREAMINFO block; None if not stated."""
    with path.open("rb") as fh:
        head = fh.read(4 + 4 + 34)
    if len(head) < 42 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        return None
    info = head[8:42]
    packed = int.from_bytes(info[10:18], "big")
    rate = packed >> 44
    total_samples = packed & ((1 << 36) - 1)
    if rate == 0 or total_samples == 0:
        return None
    return total_samples / rate
