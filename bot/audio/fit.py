"""Make pieces fit a size budget: tagged WAV, else lossless FLAC, else Opus, else nothing.

One function serves a single delivery (one piece, the upload limit) and a jam export (several
pieces that must fit together in one upload or ZIP): every piece gets the same format, and in
Opus the same bitrate per channel, so no piece sounds worse than another. The Opus bitrate
follows from the total duration and the budget, with headroom, capped at a high-quality
maximum; below the floor nothing is delivered rather than something that sounds poor.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.audio.encode import write_flac, write_opus
from bot.audio.files import (
    content_key,
    existing_output,
    output_path,
    produce_atomically,
    remove_quietly,
    source_digest,
    write_atomically,
)
from bot.audio.models import AudioFile, AudioFormat, AudioProblem, DeliveryReason, OpusLimits
from bot.audio.probe import SoundInfo
from bot.audio.riff import RiffError, TaggedWavPlan, plan_tagged_wav
from bot.audio.samples import Decoded, flac_subtype_for, read_samples
from bot.audio.sndfile import LIBSNDFILE_VERSION, SoundFileErrors, info
from bot.audio.tags import TagSet

log = logging.getLogger(__name__)
CODEC_VERSION = LIBSNDFILE_VERSION


class AudioWorkError(Exception):
    """Our own work on a piece failed; `problem` says which step."""

    def __init__(self, problem: AudioProblem, piece: int, detail: str) -> None:
        super().__init__(f"piece {piece}: {problem.value}: {detail}")
        self.problem = problem
        self.piece = piece


@dataclass(frozen=True)
class Piece:
    """One decodable WAV to deliver. `stem` names its outputs (`{stem}.{key}.{ext}`) and its
    download name (`{stem}.{ext}`). `decoded` and `digest` may be passed when already known."""

    source: Path
    stem: str
    tags: TagSet
    out_dir: Path
    decoded: Decoded | None = None
    digest: str | None = None


@dataclass(frozen=True)
class FitResult:
    reason: DeliveryReason  # WAV_FITS, WAV_TOO_LARGE, LOSSLESS_TOO_LARGE or NOTHING_FITS
    files: tuple[AudioFile, ...]  # one per piece, in order; empty when nothing fits
    budget_bytes: int

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def format(self) -> AudioFormat | None:
        return self.files[0].format if self.files else None


def opus_bitrates(
    pieces: Sequence[tuple[float, int]],
    budget_bytes: int,
    limits: OpusLimits,
    *,
    overhead_per_piece: int = 0,
    at_most_per_channel: float | None = None,
) -> list[int] | None:
    """Target bits/s for each (duration seconds, channels) so that all fit `budget_bytes`
    together, one rate per channel for all; None when that rate is below the floor.
    `at_most_per_channel` lowers the ceiling (a retry after VBR overshot)."""
    channel_seconds = sum(max(d, 0.0) * c for d, c in pieces)
    payload = budget_bytes * limits.headroom - len(pieces) * (
        limits.container_overhead + overhead_per_piece
    )
    if payload <= 0:
        return None
    per_channel = math.inf if channel_seconds <= 0 else payload * 8 / channel_seconds
    ceiling = float(limits.max_per_channel)
    if at_most_per_channel is not None:
        ceiling = min(ceiling, at_most_per_channel)
    per_channel = min(per_channel, ceiling)
    if per_channel < limits.min_per_channel:
        return None
    return [int(per_channel) * c for _d, c in pieces]


def fit_pieces(
    pieces: Sequence[Piece],
    budget_bytes: int,
    *,
    limits: OpusLimits | None = None,
    overhead_per_piece: int = 0,
) -> FitResult:
    """Choose and make the files. Reuses outputs that already exist under their content key;
    removes candidates it made itself that did not fit. Raises AudioWorkError when a step
    fails."""
    if not pieces:
        raise ValueError("fit_pieces needs at least one piece")
    limits = limits or OpusLimits()
    sources = [_Source(i, p) for i, p in enumerate(pieces)]

    plans = [s.wav_plan() for s in sources]
    if _fits([p.size_bytes for p in plans], budget_bytes, overhead_per_piece):
        files = tuple(s.make_wav(plan) for s, plan in zip(sources, plans, strict=True))
        return FitResult(DeliveryReason.WAV_FITS, files, budget_bytes)

    if all(s.flac_possible() for s in sources):
        flacs = tuple(s.make_flac() for s in sources)
        if _fits([f.size_bytes for f in flacs], budget_bytes, overhead_per_piece):
            return FitResult(DeliveryReason.WAV_TOO_LARGE, flacs, budget_bytes)
        for s in sources:
            s.discard(flacs)

    shape = [(s.duration_seconds(), s.channels()) for s in sources]
    ceiling: float | None = None
    for _attempt in range(limits.attempts):
        bitrates = opus_bitrates(
            shape,
            budget_bytes,
            limits,
            overhead_per_piece=overhead_per_piece,
            at_most_per_channel=ceiling,
        )
        if bitrates is None:
            break
        opuses = tuple(s.make_opus(rate) for s, rate in zip(sources, bitrates, strict=True))
        sizes = [f.size_bytes for f in opuses]
        if _fits(sizes, budget_bytes, overhead_per_piece):
            return FitResult(DeliveryReason.LOSSLESS_TOO_LARGE, opuses, budget_bytes)
        for s in sources:
            s.discard(opuses)
        total = sum(sizes) + overhead_per_piece * len(sizes)
        used = bitrates[0] / shape[0][1]
        ceiling = used * 0.95 * budget_bytes / total  # VBR overshot: aim lower by the miss
        log.info(
            "Opus overshot: %d of %d bytes; retrying at %d bit/s per channel",
            total,
            budget_bytes,
            ceiling,
        )
    return FitResult(DeliveryReason.NOTHING_FITS, (), budget_bytes)


def _fits(sizes: Sequence[int], budget_bytes: int, overhead_per_piece: int) -> bool:
    return sum(sizes) + overhead_per_piece * len(sizes) <= budget_bytes


class _Source:
    """A piece with what is learnt about it along the way (digest, samples)."""

    def __init__(self, index: int, piece: Piece) -> None:
        self.index = index
        self.piece = piece
        self._digest = piece.digest
        self._info: SoundInfo | None = None
        self._created: set[Path] = set()  # outputs this call made (not reused ones)

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = source_digest(self.piece.source)
        return self._digest

    def sound(self) -> SoundInfo:
        if self._info is None:
            decoded = self.piece.decoded
            if decoded is not None:
                self._info = SoundInfo(
                    decoded.sample_rate, decoded.channels, decoded.frames, decoded.subtype
                )
            else:
                try:
                    found = info(self.piece.source)
                except SoundFileErrors as exc:
                    raise AudioWorkError(
                        AudioProblem.ENCODING_FAILED, self.index, str(exc)
                    ) from exc
                self._info = SoundInfo(
                    found.sample_rate, found.channels, found.frames, found.subtype
                )
        return self._info

    def duration_seconds(self) -> float:
        return self.sound().duration_seconds

    def channels(self) -> int:
        return self.sound().channels

    def flac_possible(self) -> bool:
        return flac_subtype_for(self.sound().subtype) is not None

    def discard(self, candidates: Sequence[AudioFile]) -> None:
        """Remove this piece's candidate if this call made it: a reused file may be what
        an earlier delivery (with a larger budget) recorded."""
        path = candidates[self.index].path
        if path in self._created:
            remove_quietly(path)
            self._created.discard(path)

    def samples(self) -> Decoded:
        return (
            self.piece.decoded
            if self.piece.decoded is not None
            else read_samples(self.piece.source)
        )

    def _path(self, fmt: AudioFormat, *params: str) -> Path:
        key = content_key(self.digest, fmt.value, self.piece.tags.key_material(), *params)
        return output_path(self.piece.out_dir, self.piece.stem, key, fmt.extension)

    def _file(self, path: Path, fmt: AudioFormat, bitrate: int | None = None) -> AudioFile:
        return AudioFile(
            path=path,
            format=fmt,
            content_type=fmt.content_type,
            size_bytes=path.stat().st_size,
            download_name=f"{self.piece.stem}.{fmt.extension}",
            tagged=True,
            bitrate=bitrate,
        )

    def wav_plan(self) -> TaggedWavPlan:
        try:
            return plan_tagged_wav(self.piece.source, self.piece.tags)
        except (RiffError, OSError) as exc:
            raise AudioWorkError(AudioProblem.TAGGING_FAILED, self.index, str(exc)) from exc

    def make_wav(self, plan: TaggedWavPlan) -> AudioFile:
        path = self._path(AudioFormat.WAV)
        return self._make(path, AudioFormat.WAV, AudioProblem.TAGGING_FAILED, plan.write_to)

    def make_flac(self) -> AudioFile:
        path = self._path(AudioFormat.FLAC, CODEC_VERSION)
        return self._make_with_path(
            path,
            AudioFormat.FLAC,
            lambda temp: write_flac(self.samples(), temp, self.piece.tags),
        )

    def make_opus(self, bitrate: int) -> AudioFile:
        path = self._path(AudioFormat.OPUS, CODEC_VERSION, str(bitrate))
        return self._make_with_path(
            path,
            AudioFormat.OPUS,
            lambda temp: write_opus(self.samples(), temp, self.piece.tags, bitrate),
            bitrate=bitrate,
        )

    def _make(
        self,
        path: Path,
        fmt: AudioFormat,
        problem: AudioProblem,
        write: Callable[[BinaryIO], None],
    ) -> AudioFile:
        if not existing_output(path):
            try:
                write_atomically(path, write)
            except (RiffError, OSError) as exc:
                raise AudioWorkError(problem, self.index, str(exc)) from exc
            self._created.add(path)
        return self._file(path, fmt)

    def _make_with_path(
        self,
        path: Path,
        fmt: AudioFormat,
        make: Callable[[Path], None],
        bitrate: int | None = None,
    ) -> AudioFile:
        if not existing_output(path):
            try:
                produce_atomically(path, make)
            except SoundFileErrors as exc:  # EncodingError is a RuntimeError
                raise AudioWorkError(AudioProblem.ENCODING_FAILED, self.index, str(exc)) from exc
            self._created.add(path)
        return self._file(path, fmt, bitrate)
