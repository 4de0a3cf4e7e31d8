"""The few soundfile (libsndfile) calls this package makes, typed (soundfile ships no types).

Every other module goes through here, so the untyped surface is this one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as _sf  # type: ignore[import-untyped]

TAG_NAMES = ("title", "comment", "software", "date", "artist", "album", "copyright", "genre")
LIBSNDFILE_VERSION: str = str(_sf.__libsndfile_version__)

# libsndfile reports failures as LibsndfileError (a RuntimeError); bad arguments as ValueError
# or TypeError. These are the ones a caller treats as "this file could not be read/written".
SoundFileErrors: tuple[type[Exception], ...] = (RuntimeError, ValueError, TypeError, OSError)


@dataclass(frozen=True)
class FileInfo:
    format: str  # WAV, WAVEX, FLAC, OGG...
    subtype: str  # PCM_16, PCM_24, FLOAT, OPUS...
    sample_rate: int
    channels: int
    frames: int


def info(path: Path) -> FileInfo:
    raw: Any = _sf.info(str(path))
    return FileInfo(
        format=str(raw.format),
        subtype=str(raw.subtype),
        sample_rate=int(raw.samplerate),
        channels=int(raw.channels),
        frames=int(raw.frames),
    )


def read(path: Path, dtype: str) -> tuple[npt.NDArray[Any], int]:
    """All frames as a frames x channels array of `dtype`, and the sample rate."""
    data, rate = _sf.read(str(path), dtype=dtype, always_2d=True)
    return np.ascontiguousarray(data), int(rate)


def read_tags(path: Path) -> dict[str, str]:
    """The tags libsndfile reads from a file (title, comment, software, date, ...)."""
    with _sf.SoundFile(str(path)) as handle:
        found = {name: getattr(handle, name) for name in TAG_NAMES}
    return {name: str(value) for name, value in found.items() if value}


def write(
    path: Path,
    samples: npt.NDArray[Any],
    sample_rate: int,
    *,
    format: str,
    subtype: str,
    tags: dict[str, str],
    compression_level: float | None = None,
) -> None:
    """Write `samples` (frames x channels) with `tags` ({"title": ...}); libsndfile takes tags
    only before the first frame."""
    with _sf.SoundFile(
        str(path),
        "w",
        samplerate=sample_rate,
        channels=int(samples.shape[1]),
        format=format,
        subtype=subtype,
        compression_level=compression_level,
    ) as handle:
        for name, value in tags.items():
            setattr(handle, name, value)
        handle.write(samples)
