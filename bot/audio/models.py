"""What the audio craft takes and returns: plain, typed, picklable values. No I/O here.

Results are frozen dataclasses that survive a round trip through JSON (`as_record` /
`from_record`), so a job's state machine can store every produced file and a restart can pick
them up instead of redoing the work.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


class AudioFormat(enum.StrEnum):
    """The formats this package makes. `extension` is what the file is named with."""

    WAV = "wav"
    FLAC = "flac"
    OPUS = "opus"  # Ogg Opus, named .ogg: the extension every player (and Discord) knows

    @property
    def extension(self) -> str:
        return "ogg" if self is AudioFormat.OPUS else self.value

    @property
    def content_type(self) -> str:
        return {"wav": "audio/wav", "flac": "audio/flac", "opus": "audio/ogg"}[self.value]

    @property
    def lossless(self) -> bool:
        return self is not AudioFormat.OPUS


class DeliveryReason(enum.StrEnum):
    """Why the delivered file is the one it is (or why there is none)."""

    WAV_FITS = "wav_fits"  # the tagged WAV fits the limit
    WAV_TOO_LARGE = "wav_too_large"  # so lossless FLAC, which fits
    LOSSLESS_TOO_LARGE = "lossless_too_large"  # WAV and FLAC too large, so Opus, which fits
    NOTHING_FITS = "nothing_fits"  # even Opus at the quality floor is too large: no file
    ORIGINAL_KEPT = "original_kept"  # a problem (see `problems`): the untouched original
    ORIGINAL_TOO_LARGE = "original_too_large"  # a problem, and the original is too large
    NO_ORIGINAL = "no_original"  # the provider's file is missing or has zero bytes

    @property
    def has_file(self) -> bool:
        return self in (
            DeliveryReason.WAV_FITS,
            DeliveryReason.WAV_TOO_LARGE,
            DeliveryReason.LOSSLESS_TOO_LARGE,
            DeliveryReason.ORIGINAL_KEPT,
        )


class AudioProblem(enum.StrEnum):
    """Something about the provider's file, or our work on it, that changed what we deliver.

    The first five concern the input; the pipeline then delivers the original untouched. The
    rest are failures of our own work: audio failures fall back to the untouched original, a
    waveform failure only means there is no picture.
    """

    MISSING = "missing"  # the downloaded file is not there or has zero bytes
    NOT_WAV = "not_wav"  # another audio format (MP3, FLAC, Ogg...): delivered as it came
    UNDECODABLE = "undecodable"  # not audio, or a WAV that libsndfile cannot read
    EMPTY = "empty"  # zero samples
    UNEXPECTED_LAYOUT = "unexpected_layout"  # a sample rate or channel count we do not expect
    TAGGING_FAILED = "tagging_failed"
    ENCODING_FAILED = "encoding_failed"
    WAVEFORM_FAILED = "waveform_failed"
    PROCESSING_FAILED = "processing_failed"  # an unexpected error anywhere else

    @property
    def about_input(self) -> bool:
        return self in _INPUT_PROBLEMS


_INPUT_PROBLEMS = frozenset(
    {
        AudioProblem.MISSING,
        AudioProblem.NOT_WAV,
        AudioProblem.UNDECODABLE,
        AudioProblem.EMPTY,
        AudioProblem.UNEXPECTED_LAYOUT,
    }
)


@dataclass(frozen=True)
class Provenance:
    """Where a piece comes from; written into the file's tags."""

    prompt: str
    job_id: str
    model: str
    created_at: datetime
    negative_prompt: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class OpusLimits:
    """Opus bitrates per channel (bits/s): at most `max_per_channel` (high quality, a 30 s
    stereo piece is then ~0.7 MB), never below `min_per_channel` (quality would be poor).
    `headroom` is the share of the budget aimed at; VBR may overshoot, so sizes are checked."""

    max_per_channel: int = 96_000
    min_per_channel: int = 32_000
    headroom: float = 0.9
    container_overhead: int = 4096  # Ogg/Opus headers and tags, per file
    attempts: int = 3


@dataclass(frozen=True)
class AudioPolicy:
    """What input the pipeline transforms; anything else is delivered untouched.

    Lyria 2 delivers 48 kHz stereo WAV. Ogg Opus needs one of its rates, so only 48 kHz here.
    """

    sample_rates: frozenset[int] = frozenset({48_000})
    channels: frozenset[int] = frozenset({1, 2})
    opus: OpusLimits = field(default_factory=OpusLimits)


@dataclass(frozen=True)
class WaveformStyle:
    """Picture size in pixels. 800x160 shows sharply at Discord's embed width on HiDPI."""

    width: int = 800
    height: int = 160


@dataclass(frozen=True)
class AudioFile:
    """One file on disk that can be delivered."""

    path: Path
    format: AudioFormat | None  # None: the provider's file in a format we do not make
    content_type: str
    size_bytes: int
    download_name: str  # the name to show people (the path carries a content key)
    tagged: bool  # carries our provenance tags
    original: bool = False  # the provider's file itself, untouched
    bitrate: int | None = None  # Opus target bits/s

    @property
    def lossless(self) -> bool:
        return self.format is not None and self.format.lossless


@dataclass(frozen=True)
class Measurements:
    """Duration and peak level, read from the samples (peak None: digital silence)."""

    duration_seconds: float
    peak_dbfs: float | None
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class PreparedAudio:
    """The outcome of preparing one piece for delivery. Never half-made: every path in it
    names a complete file."""

    source: Path
    reason: DeliveryReason
    file: AudioFile | None  # what to attach; None: post the link and `reason`
    limit_bytes: int
    problems: tuple[AudioProblem, ...] = ()
    measurements: Measurements | None = None
    waveform: Path | None = None  # PNG
    source_content_type: str | None = None  # what the provider's file is, when we know

    @property
    def duration_seconds(self) -> float | None:
        return self.measurements.duration_seconds if self.measurements else None

    @property
    def peak_dbfs(self) -> float | None:
        return self.measurements.peak_dbfs if self.measurements else None

    @property
    def produced(self) -> tuple[Path, ...]:
        """Files this pipeline made (not the original), for the job's records and cleanup."""
        made = [self.file.path] if self.file and not self.file.original else []
        return tuple(made + ([self.waveform] if self.waveform else []))

    def as_record(self) -> dict[str, Any]:
        """A JSON-safe dict (paths as strings, enums as their values)."""
        return {
            "source": str(self.source),
            "reason": self.reason.value,
            "file": _file_record(self.file) if self.file else None,
            "limit_bytes": self.limit_bytes,
            "problems": [p.value for p in self.problems],
            "measurements": _measurements_record(self.measurements),
            "waveform": str(self.waveform) if self.waveform else None,
            "source_content_type": self.source_content_type,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PreparedAudio:
        file = record.get("file")
        measurements = record.get("measurements")
        waveform = record.get("waveform")
        return cls(
            source=Path(record["source"]),
            reason=DeliveryReason(record["reason"]),
            file=_file_from_record(file) if file else None,
            limit_bytes=int(record["limit_bytes"]),
            problems=tuple(AudioProblem(p) for p in record.get("problems", ())),
            measurements=_measurements_from_record(measurements) if measurements else None,
            waveform=Path(waveform) if waveform else None,
            source_content_type=record.get("source_content_type"),
        )


def _file_record(file: AudioFile) -> dict[str, Any]:
    return {
        "path": str(file.path),
        "format": file.format.value if file.format else None,
        "content_type": file.content_type,
        "size_bytes": file.size_bytes,
        "download_name": file.download_name,
        "tagged": file.tagged,
        "original": file.original,
        "bitrate": file.bitrate,
    }


def _file_from_record(record: dict[str, Any]) -> AudioFile:
    fmt = record.get("format")
    bitrate = record.get("bitrate")
    return AudioFile(
        path=Path(record["path"]),
        format=AudioFormat(fmt) if fmt else None,
        content_type=str(record["content_type"]),
        size_bytes=int(record["size_bytes"]),
        download_name=str(record["download_name"]),
        tagged=bool(record["tagged"]),
        original=bool(record.get("original", False)),
        bitrate=int(bitrate) if bitrate is not None else None,
    )


def _measurements_record(m: Measurements | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "duration_seconds": m.duration_seconds,
        "peak_dbfs": m.peak_dbfs,
        "sample_rate": m.sample_rate,
        "channels": m.channels,
    }


def _measurements_from_record(record: dict[str, Any]) -> Measurements:
    peak = record.get("peak_dbfs")
    return Measurements(
        duration_seconds=float(record["duration_seconds"]),
        peak_dbfs=float(peak) if peak is not None and math.isfinite(peak) else None,
        sample_rate=int(record["sample_rate"]),
        channels=int(record["channels"]),
    )
