"""Prepare one provider file for delivery: tags, waveform, a format that fits. Synchronous and
CPU-bound: call it through `AudioWorker` from async code.

`prepare_audio` never raises and never touches the provider's file: whatever goes wrong, the
result names the untouched original (when it fits) and says why. `convert_audio` and
`write_waveform` serve the terminal (`--format`, `--waveform`) and raise `AudioInputError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.audio.encode import write_flac, write_opus
from bot.audio.files import (
    content_key,
    existing_output,
    output_path,
    produce_atomically,
    remove_stale_temporaries,
    source_digest,
    write_atomically,
)
from bot.audio.fit import AudioWorkError, Piece, fit_pieces
from bot.audio.models import (
    AudioFile,
    AudioFormat,
    AudioPolicy,
    AudioProblem,
    DeliveryReason,
    Measurements,
    PreparedAudio,
    Provenance,
    WaveformStyle,
)
from bot.audio.probe import Inspection, inspect_source
from bot.audio.riff import RiffError, plan_tagged_wav
from bot.audio.samples import Decoded, measure, read_samples
from bot.audio.sndfile import SoundFileErrors
from bot.audio.tags import build_tags
from bot.audio.waveform import render, save_png

log = logging.getLogger(__name__)

_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
}
_ORIGINAL_FORMATS = {"audio/wav": AudioFormat.WAV, "audio/flac": AudioFormat.FLAC}


class AudioInputError(ValueError):
    """The file cannot be transformed; `problem` says why."""

    def __init__(self, problem: AudioProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class PrepareRequest:
    """One piece to prepare. Outputs go to `out_dir` as `{stem}.{key}.{ext}`; `limit_bytes` is
    the upload limit the delivered file must fit."""

    source: Path
    out_dir: Path
    stem: str
    provenance: Provenance
    limit_bytes: int
    policy: AudioPolicy = field(default_factory=AudioPolicy)
    waveform: WaveformStyle | None = field(default_factory=WaveformStyle)


def prepare_audio(request: PrepareRequest) -> PreparedAudio:
    """Never raises (except on interpreter exit): falls back to the untouched original."""
    try:
        return _prepare(request)
    except Exception:
        log.exception("Preparing %s failed unexpectedly; delivering the original", request.stem)
        return original_only(request, AudioProblem.PROCESSING_FAILED)


def original_only(request: PrepareRequest, problem: AudioProblem) -> PreparedAudio:
    """The untouched original (if it fits) with `problem` as the reason; never raises."""
    try:
        inspection = inspect_source(request.source, request.policy)
    except Exception:
        inspection = Inspection(request.source, 0, None, None, AudioProblem.MISSING)
    return _original(request, inspection, [problem], None, None)


def _prepare(request: PrepareRequest) -> PreparedAudio:
    inspection = inspect_source(request.source, request.policy)
    problems: list[AudioProblem] = [inspection.problem] if inspection.problem else []
    sound = inspection.sound
    if sound is None or sound.frames <= 0:
        return _original(request, inspection, problems, None, None)

    try:
        decoded = read_samples(request.source)
    except SoundFileErrors as exc:
        log.warning("Could not decode %s: %s", request.stem, exc)
        return _original(request, inspection, [AudioProblem.UNDECODABLE], None, None)
    if decoded.frames == 0:
        return _original(request, inspection, [AudioProblem.EMPTY], None, None)
    measurements = measure(decoded)
    digest = source_digest(request.source)
    remove_stale_temporaries(request.out_dir, request.stem)

    waveform = None
    if request.waveform is not None:
        try:
            waveform = _waveform_file(request, decoded, digest, request.waveform)
        except Exception as exc:  # a picture is optional: never let it cost the audio
            log.warning("Waveform for %s failed: %s", request.stem, exc)
            problems.append(AudioProblem.WAVEFORM_FAILED)

    if not inspection.transformable:
        return _original(request, inspection, problems, measurements, waveform)

    piece = Piece(
        source=request.source,
        stem=request.stem,
        tags=build_tags(request.provenance),
        out_dir=request.out_dir,
        decoded=decoded,
        digest=digest,
    )
    try:
        fit = fit_pieces([piece], request.limit_bytes, limits=request.policy.opus)
    except AudioWorkError as exc:
        log.warning("Preparing %s: %s; delivering the original", request.stem, exc)
        problems.append(exc.problem)
        return _original(request, inspection, problems, measurements, waveform)
    return PreparedAudio(
        source=request.source,
        reason=fit.reason,
        file=fit.files[0] if fit.files else None,
        limit_bytes=request.limit_bytes,
        problems=tuple(problems),
        measurements=measurements,
        waveform=waveform,
        source_content_type=inspection.content_type,
    )


def _waveform_file(
    request: PrepareRequest, decoded: Decoded, digest: str, style: WaveformStyle
) -> Path:
    key = content_key(digest, "waveform", str(style.width), str(style.height))
    path = output_path(request.out_dir, request.stem, key, "png")
    if not existing_output(path):
        image = render(decoded, style)
        produce_atomically(path, lambda temp: save_png(image, temp))
    return path


def _original(
    request: PrepareRequest,
    inspection: Inspection,
    problems: list[AudioProblem],
    measurements: Measurements | None,
    waveform: Path | None,
) -> PreparedAudio:
    """The provider's file as it came, when there is one and it fits."""
    if inspection.size_bytes <= 0:
        reason, file = DeliveryReason.NO_ORIGINAL, None
        problems = problems or [AudioProblem.MISSING]
    else:
        file = original_file(inspection, request.stem)
        fits = inspection.size_bytes <= request.limit_bytes
        reason = DeliveryReason.ORIGINAL_KEPT if fits else DeliveryReason.ORIGINAL_TOO_LARGE
        file = file if fits else None
    return PreparedAudio(
        source=request.source,
        reason=reason,
        file=file,
        limit_bytes=request.limit_bytes,
        problems=tuple(dict.fromkeys(problems)),
        measurements=measurements,
        waveform=waveform,
        source_content_type=inspection.content_type,
    )


def original_file(inspection: Inspection, stem: str) -> AudioFile:
    content_type = inspection.content_type
    extension = _EXTENSIONS.get(content_type or "") or (
        inspection.path.suffix.lstrip(".").lower() or "bin"
    )
    return AudioFile(
        path=inspection.path,
        format=_ORIGINAL_FORMATS.get(content_type or ""),
        content_type=content_type or "application/octet-stream",
        size_bytes=inspection.size_bytes,
        download_name=f"{stem}.{extension}",
        tagged=False,
        original=True,
    )


# -- terminal ----------------------------------------------------------------------------------


def convert_audio(
    source: Path,
    dest: Path,
    fmt: AudioFormat,
    provenance: Provenance,
    *,
    policy: AudioPolicy | None = None,
    opus_bitrate: int | None = None,
) -> AudioFile:
    """Write `source` as `fmt` with provenance tags to `dest` (replacing it atomically).
    Opus defaults to the high-quality maximum. Raises AudioInputError for input it cannot
    transform and AudioWorkError when a step fails; `source` is never changed."""
    policy = policy or AudioPolicy()
    inspection = inspect_source(source, policy)
    if inspection.problem is not None or inspection.sound is None:
        raise AudioInputError(inspection.problem or AudioProblem.UNDECODABLE)
    tags = build_tags(provenance)
    bitrate: int | None = None
    try:
        if fmt is AudioFormat.WAV:
            plan = plan_tagged_wav(source, tags)
            write_atomically(dest, plan.write_to)
        else:
            decoded = read_samples(source)
            if fmt is AudioFormat.FLAC:
                produce_atomically(dest, lambda temp: write_flac(decoded, temp, tags))
            else:
                bitrate = opus_bitrate or policy.opus.max_per_channel * decoded.channels
                produce_atomically(dest, lambda temp: write_opus(decoded, temp, tags, bitrate))
    except RiffError as exc:
        raise AudioWorkError(AudioProblem.TAGGING_FAILED, 0, str(exc)) from exc
    except SoundFileErrors as exc:  # EncodingError is a RuntimeError
        raise AudioWorkError(AudioProblem.ENCODING_FAILED, 0, str(exc)) from exc
    return AudioFile(
        path=dest,
        format=fmt,
        content_type=fmt.content_type,
        size_bytes=dest.stat().st_size,
        download_name=dest.name,
        tagged=True,
        bitrate=bitrate,
    )


def write_waveform(
    source: Path,
    dest: Path,
    style: WaveformStyle | None = None,
    *,
    policy: AudioPolicy | None = None,
) -> Measurements:
    """Render the waveform PNG of a decodable WAV to `dest`; returns duration and peak."""
    inspection = inspect_source(source, policy or AudioPolicy())
    if inspection.sound is None or inspection.problem is AudioProblem.EMPTY:
        raise AudioInputError(inspection.problem or AudioProblem.UNDECODABLE)
    decoded = read_samples(source)
    image = render(decoded, style or WaveformStyle())
    produce_atomically(dest, lambda temp: save_png(image, temp))
    return measure(decoded)
