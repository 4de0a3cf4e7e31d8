"""What the provider's file is: its format by its first bytes, then its layout by libsndfile.

Only a RIFF/WAVE file is opened with libsndfile: other formats (MP3 above all, whose levels
libsndfile got wrong here) are delivered as they came, never decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.aimlapi.audio import SNIFF_BYTES, sniff_audio
from bot.audio.models import AudioPolicy, AudioProblem
from bot.audio.sndfile import SoundFileErrors, info

WAV_CONTENT_TYPE = "audio/wav"
_WAV_FORMATS = frozenset({"WAV", "WAVEX"})


@dataclass(frozen=True)
class SoundInfo:
    sample_rate: int
    channels: int
    frames: int
    subtype: str  # libsndfile's name: PCM_16, PCM_24, FLOAT...

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Inspection:
    path: Path
    size_bytes: int
    content_type: str | None  # by the first bytes; None: not audio we recognise
    sound: SoundInfo | None  # None unless a WAV that libsndfile opened
    problem: AudioProblem | None

    @property
    def transformable(self) -> bool:
        return self.problem is None and self.sound is not None


def inspect_source(path: Path, policy: AudioPolicy) -> Inspection:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return Inspection(path, 0, None, None, AudioProblem.MISSING)
    if size == 0:
        return Inspection(path, 0, None, None, AudioProblem.MISSING)
    content_type = sniff_audio(head)
    if content_type is None:
        return Inspection(path, size, None, None, AudioProblem.UNDECODABLE)
    if content_type != WAV_CONTENT_TYPE:
        return Inspection(path, size, content_type, None, AudioProblem.NOT_WAV)
    try:
        found = info(path)
    except SoundFileErrors:
        return Inspection(path, size, content_type, None, AudioProblem.UNDECODABLE)
    if found.format not in _WAV_FORMATS or found.sample_rate <= 0 or found.channels <= 0:
        return Inspection(path, size, content_type, None, AudioProblem.UNDECODABLE)
    sound = SoundInfo(found.sample_rate, found.channels, found.frames, found.subtype)
    return Inspection(path, size, content_type, sound, layout_problem(sound, policy))


def layout_problem(sound: SoundInfo, policy: AudioPolicy) -> AudioProblem | None:
    if sound.frames <= 0:
        return AudioProblem.EMPTY
    if sound.sample_rate not in policy.sample_rates or sound.channels not in policy.channels:
        return AudioProblem.UNEXPECTED_LAYOUT
    return None
