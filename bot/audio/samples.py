"""Reading a WAV's samples in a type that keeps them exact, and measuring them.

16-bit PCM is read as int16 and 24-bit as int32 (libsndfile left-justifies it), so writing them
back as PCM_16 / PCM_24 (FLAC) gives the very same samples. Anything else is read as float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.audio.models import Measurements
from bot.audio.sndfile import info, read

# libsndfile subtype -> (numpy dtype to read, full scale of that dtype, FLAC subtype or None)
_EXACT: dict[str, tuple[str, float, str | None]] = {
    "PCM_16": ("int16", 32768.0, "PCM_16"),
    "PCM_24": ("int32", 2147483648.0, "PCM_24"),
    "PCM_32": ("int32", 2147483648.0, None),  # FLAC (via libsndfile) stops at 24 bits
}

Samples = npt.NDArray[np.int16] | npt.NDArray[np.int32] | npt.NDArray[np.float32]


@dataclass(frozen=True)
class Decoded:
    samples: Samples  # frames x channels
    sample_rate: int
    subtype: str
    full_scale: float  # the value of 0 dBFS in `samples`' units

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def flac_subtype(self) -> str | None:
        return flac_subtype_for(self.subtype)


def flac_subtype_for(subtype: str) -> str | None:
    """The FLAC subtype that stores samples of a WAV `subtype` losslessly, if there is one."""
    return _EXACT.get(subtype, ("", 0.0, None))[2]


def read_samples(path: Path) -> Decoded:
    subtype = info(path).subtype
    dtype, full_scale, _flac = _EXACT.get(subtype, ("float32", 1.0, None))
    data, rate = read(path, dtype)
    return Decoded(data, rate, subtype, full_scale)


def measure(decoded: Decoded) -> Measurements:
    return Measurements(
        duration_seconds=decoded.frames / decoded.sample_rate,
        peak_dbfs=peak_dbfs(decoded),
        sample_rate=decoded.sample_rate,
        channels=decoded.channels,
    )


def peak_dbfs(decoded: Decoded) -> float | None:
    """The highest absolute sample in dB relative to full scale; None for digital silence."""
    if decoded.samples.size == 0:
        return None
    high = float(np.max(decoded.samples))
    low = float(np.min(decoded.samples))
    peak = max(abs(high), abs(low))
    if peak == 0.0 or not math.isfinite(peak):
        return None
    return round(20.0 * math.log10(peak / decoded.full_scale), 2)
