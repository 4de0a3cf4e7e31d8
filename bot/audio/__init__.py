"""Audio craft for delivered pieces: provenance tags, a waveform picture, a file that fits.

Knows nothing of Discord. The async entry point is `AudioWorker.prepare`; the synchronous
functions it runs (`prepare_audio`, `convert_audio`, `write_waveform`, `fit_pieces`) are
CPU-bound and belong in a worker thread or process, never on the event loop.
"""

from bot.audio.fit import AudioWorkError, FitResult, Piece, fit_pieces, opus_bitrates
from bot.audio.models import (
    AudioFile,
    AudioFormat,
    AudioPolicy,
    AudioProblem,
    DeliveryReason,
    Measurements,
    OpusLimits,
    PreparedAudio,
    Provenance,
    WaveformStyle,
)
from bot.audio.pipeline import (
    AudioInputError,
    PrepareRequest,
    convert_audio,
    original_only,
    prepare_audio,
    write_waveform,
)
from bot.audio.probe import Inspection, inspect_source
from bot.audio.tags import TagSet, build_tags
from bot.audio.worker import AudioWorker

__all__ = [
    "AudioFile",
    "AudioFormat",
    "AudioInputError",
    "AudioPolicy",
    "AudioProblem",
    "AudioWorkError",
    "AudioWorker",
    "DeliveryReason",
    "FitResult",
    "Inspection",
    "Measurements",
    "OpusLimits",
    "Piece",
    "PrepareRequest",
    "PreparedAudio",
    "Provenance",
    "TagSet",
    "WaveformStyle",
    "build_tags",
    "convert_audio",
    "fit_pieces",
    "inspect_source",
    "opus_bitrates",
    "original_only",
    "prepare_audio",
    "write_waveform",
]
