"""FLAC and Ogg Opus through libsndfile (soundfile), with the provenance as Vorbis comments.

libsndfile takes the tags only before the first samples are written. It appends its own name
to the software tag ("lyria-jam-bot 0.1.0 (libsndfile-1.2.2)"), which is true, so it stays.

Ogg Opus bitrate: libsndfile maps its compression level q (0..1) to a target of
((1 - q) * 250000 + 6000) bits/s per channel (src/ogg_opus.c); `opus_level` inverts that.
The encoder is VBR, so a file's size is near, not at, its target: callers check the size.
"""

from __future__ import annotations

from pathlib import Path

from bot.audio.samples import Decoded
from bot.audio.sndfile import SoundFileErrors, write
from bot.audio.tags import TagSet

_OPUS_LEVEL_SPAN = 250_000
_OPUS_LEVEL_BASE = 6_000


class EncodingError(RuntimeError):
    """An encoder refused the samples or failed to write."""


def opus_level(bitrate: int, channels: int) -> float:
    """libsndfile's compression level for a target of `bitrate` bits/s over all channels."""
    per_channel = bitrate / max(channels, 1)
    level = 1.0 - (per_channel - _OPUS_LEVEL_BASE) / _OPUS_LEVEL_SPAN
    return min(max(level, 0.0), 1.0)


def opus_bitrate(level: float, channels: int) -> int:
    """The target libsndfile derives from `level` (the inverse of `opus_level`)."""
    return int((1.0 - level) * _OPUS_LEVEL_SPAN + _OPUS_LEVEL_BASE) * channels


def write_flac(decoded: Decoded, path: Path, tags: TagSet) -> None:
    subtype = decoded.flac_subtype
    if subtype is None:
        raise EncodingError(f"FLAC cannot store {decoded.subtype} samples exactly")
    _write(decoded, path, tags, format="FLAC", subtype=subtype, compression_level=None)


def write_opus(decoded: Decoded, path: Path, tags: TagSet, bitrate: int) -> None:
    level = opus_level(bitrate, decoded.channels)
    _write(decoded, path, tags, format="OGG", subtype="OPUS", compression_level=level)


def _write(
    decoded: Decoded,
    path: Path,
    tags: TagSet,
    *,
    format: str,
    subtype: str,
    compression_level: float | None,
) -> None:
    try:
        write(
            path,
            decoded.samples,
            decoded.sample_rate,
            format=format,
            subtype=subtype,
            tags={
                "title": tags.title,
                "comment": tags.comment,
                "software": tags.software,
                "date": tags.date,
            },
            compression_level=compression_level,
        )
    except SoundFileErrors as exc:
        raise EncodingError(f"{format}/{subtype}: {exc}") from exc
