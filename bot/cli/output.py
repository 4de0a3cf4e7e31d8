"""Saving a finished track at the terminal: `--format wav|flac|opus`, `--out`, `--waveform`.

The file gets the provenance tags and the waveform PNG that Discord's delivery gives, through
the same audio craft (`AudioWorker.convert` and `.waveform`, which tag with `build_tags`), so a
track saved here and one posted on Discord say the same about where they come from. The result
is never lost: when the provider's file cannot be transformed, the original is saved untouched
and one line says why.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.audio import (
    AudioFormat,
    AudioInputError,
    AudioProblem,
    AudioWorker,
    AudioWorkError,
    inspect_source,
)
from bot.audio.models import AudioPolicy
from bot.audio.pipeline import original_file
from bot.audio.provenance import job_provenance
from bot.jobs.models import Job
from bot.text.audio import problem_text
from bot.text.result import audio_filename
from bot.text.terminal import original_saved_text, waveform_failed_text

log = logging.getLogger(__name__)

_BY_SUFFIX = {
    ".wav": AudioFormat.WAV,
    ".flac": AudioFormat.FLAC,
    ".ogg": AudioFormat.OPUS,
    ".opus": AudioFormat.OPUS,
}


class OutputUsageError(ValueError):
    """The output options contradict each other; the message says how."""


@dataclass(frozen=True)
class OutputOptions:
    """Where and how to save: `out` a file or a folder (None: AUDIO_DIR, named like Discord's
    attachment), `waveform` a PNG path or a folder (None: no picture)."""

    format: AudioFormat = AudioFormat.WAV
    out: Path | None = None
    waveform: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> OutputOptions:
        """From `--format`, `--out` and `--waveform`. Without --format, an --out ending in
        .flac, .ogg or .opus says the format; one that contradicts --format is refused."""
        out = Path(args.out).expanduser() if args.out else None
        waveform = Path(args.waveform).expanduser() if args.waveform else None
        suffix = out.suffix.lower() if out and not out.is_dir() else ""
        named = _BY_SUFFIX.get(suffix)
        given = AudioFormat(args.format) if args.format else None
        if given is not None and named is not None and given is not named:
            raise OutputUsageError(f"--out {out} ends in {suffix}, but --format is {given.value}")
        return cls(format=given or named or AudioFormat.WAV, out=out, waveform=waveform)


@dataclass(frozen=True)
class SavedTrack:
    """What was saved. `notes` are lines for stderr (a fallback, a missing picture)."""

    path: Path
    size_bytes: int
    format: AudioFormat | None  # None: the provider's file, in a format we do not make
    tagged: bool
    waveform: Path | None = None
    notes: tuple[str, ...] = ()


async def save_track(job: Job, options: OutputOptions, audio_dir: Path) -> SavedTrack:
    """Write the job's audio where `options` say, as they say; the provider's file is removed
    only by the caller, once the result is recorded. Raises OSError only when even the
    untouched original cannot be put in place."""
    assert job.audio_path is not None
    source = Path(job.audio_path)
    notes: list[str] = []
    async with AudioWorker(max_workers=1) as worker:
        waveform = None
        if options.waveform is not None:
            picture = await asyncio.to_thread(_picture_path, job, options)
            waveform, note = await _draw(worker, source, picture)
            notes.extend([note] if note else [])
        target = await asyncio.to_thread(_target, job, options, audio_dir, options.format.extension)
        try:
            made = await worker.convert(source, target, options.format, job_provenance(job))
        except (AudioInputError, AudioWorkError) as exc:
            problem = exc.problem
        except OSError:  # the target cannot be written: the original could not be either
            raise
        except Exception:  # never lose the result to our own bug
            log.exception("job %s: converting to %s failed", job.id, options.format.value)
            problem = AudioProblem.PROCESSING_FAILED
        else:
            path = await asyncio.to_thread(made.path.resolve)
            return SavedTrack(path, made.size_bytes, options.format, True, waveform, tuple(notes))
    inspection = await asyncio.to_thread(inspect_source, source, AudioPolicy())
    original = original_file(inspection, "original")
    notes.insert(
        0, original_saved_text(options.format, problem_text(problem, inspection.content_type))
    )
    extension = original.download_name.rsplit(".", 1)[1]
    target = await asyncio.to_thread(_target, job, options, audio_dir, extension)
    path = await asyncio.to_thread(_place_original, source, target)
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    return SavedTrack(path, size, original.format, False, waveform, tuple(notes))


async def _draw(worker: AudioWorker, source: Path, dest: Path) -> tuple[Path | None, str | None]:
    """The waveform PNG at `dest`, or why there is none."""
    try:
        await worker.waveform(source, dest)
    except AudioInputError as exc:
        return None, waveform_failed_text(dest, problem_text(exc.problem))
    except OSError as exc:
        return None, waveform_failed_text(dest, str(exc))
    except Exception:  # a picture is optional: it never costs the audio
        log.exception("drawing the waveform of %s failed", source)
        return None, waveform_failed_text(dest, problem_text(AudioProblem.WAVEFORM_FAILED))
    return await asyncio.to_thread(dest.resolve), None


def _target(job: Job, options: OutputOptions, audio_dir: Path, extension: str) -> Path:
    """--out as given; else a name like Discord's attachment ('rain-seed42.flac') in --out's
    folder or AUDIO_DIR, never over an existing file. Resolved."""
    name = audio_filename(job, extension)
    if options.out is None:
        return _free(audio_dir / name).resolve()
    if options.out.is_dir():
        return _free(options.out / name).resolve()
    return options.out.resolve()


def _picture_path(job: Job, options: OutputOptions) -> Path:
    assert options.waveform is not None
    if options.waveform.is_dir():
        return _free(options.waveform / audio_filename(job, "png"))
    return options.waveform


def _free(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`... when it is taken."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _place_original(source: Path, target: Path) -> Path:
    """Copy the provider's file, untouched, to `target` (the caller removes the source)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.resolve() != source.resolve():
        shutil.copy2(source, target)
    return target.resolve()
