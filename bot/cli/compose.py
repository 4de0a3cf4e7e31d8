"""`python -m bot compose "PROMPT"`: generate one track in the terminal, with live progress.

Uses the same job engine as the bot (so the job is a row in DATABASE_PATH like any other), with
no credit ledger. Progress goes to stderr (one line rewritten in place on a terminal, plain lines
otherwise); the result (path, format, waveform, duration, size) goes to stdout. The file is
saved as `bot.cli.output` says (`--format`, `--out`, `--waveform`).

Exit codes: 0 saved, 1 failed, 2 bad input or settings, 3 timed out, 4 the submission's fate is
unknown (the bot did not resubmit so as not to pay twice), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import TextIO

import aiohttp

from bot import redaction
from bot.aimlapi.client import LyriaClient
from bot.cli.output import OutputOptions, OutputUsageError, save_track
from bot.config import ConfigError, Settings
from bot.jobs.engine import EngineTuning, JobEngine
from bot.jobs.models import (
    Delivery,
    DeliveryVia,
    Job,
    JobRequest,
    JobState,
    Origin,
    Phase,
    Progress,
)
from bot.jobs.ports import NoCreditLedger
from bot.jobs.request import normalize_negative_prompt, normalize_prompt, validate_request
from bot.logs import setup_logging
from bot.store.base import JobRepository
from bot.store.connect import open_store
from bot.store.errors import StoreError
from bot.text.failures import download_note, failure_text
from bot.text.format import format_bytes
from bot.text.requests import invalid_request_text
from bot.text.status import phase_label, progress_line, time_left
from bot.text.terminal import account_problem_text, format_label

REQUESTER = "terminal"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
EXIT_AMBIGUOUS = 4
EXIT_INTERRUPTED = 130
DEFAULT_OUTPUT = OutputOptions()

_EXIT_FOR_STATE = {
    JobState.FAILED: EXIT_FAILED,
    JobState.TIMED_OUT: EXIT_TIMED_OUT,
    JobState.SUBMIT_UNKNOWN: EXIT_AMBIGUOUS,
    JobState.CANCELLED: EXIT_INTERRUPTED,
}


def run_compose(settings: Settings, args: argparse.Namespace) -> int:
    prompt: str | None = args.prompt
    if prompt is None:
        print("error: give a prompt, or --resume JOB to finish an earlier one", file=sys.stderr)
        return EXIT_USAGE
    negative_prompt: str | None = args.negative_prompt or None
    seed: int | None = args.seed
    invalid = validate_request(prompt, negative_prompt, seed)
    if invalid is not None:
        print(f"error: {invalid_request_text(invalid)}", file=sys.stderr)
        return EXIT_USAGE
    output = output_options(args)
    if output is None:
        return EXIT_USAGE
    problem = prepare_terminal(settings)
    if problem is not None:
        return problem
    request = JobRequest(
        prompt=normalize_prompt(prompt),
        requester_id=REQUESTER,
        negative_prompt=normalize_negative_prompt(negative_prompt),
        seed=seed,
        origin=Origin.TERMINAL,
    )
    try:
        return asyncio.run(compose(settings, request, output=output))
    except KeyboardInterrupt:  # before the signal handler was installed, or after
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def output_options(args: argparse.Namespace) -> OutputOptions | None:
    """`--format`, `--out` and `--waveform`, or None after one line saying what is wrong."""
    try:
        return OutputOptions.from_args(args)
    except OutputUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def prepare_terminal(settings: Settings) -> int | None:
    """None when the terminal can make music; else the exit code, after one line."""
    try:
        settings.require("AIMLAPI_KEY")
    except ConfigError as exc:
        print(f"configuration error: {exc}; set it in .env or the environment", file=sys.stderr)
        return EXIT_USAGE
    assert settings.aimlapi_key is not None
    # Logs would tear the progress line apart: only warnings and worse, secrets redacted.
    level = settings.log_level if settings.log_level in {"ERROR", "CRITICAL"} else "WARNING"
    setup_logging(level, secrets=[settings.aimlapi_key.reveal()])
    redaction.remember(settings)
    return None


async def compose(
    settings: Settings,
    request: JobRequest,
    *,
    output: OutputOptions = DEFAULT_OUTPUT,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        store = await open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_FAILED
    try:
        return await run_job(
            settings,
            store.jobs,
            lambda engine: engine.enqueue(request),
            resume_origins=frozenset(),  # a terminal run never picks up other jobs
            output=output,
            stdout=stdout,
            stderr=stderr,
        )
    finally:
        await store.close()


async def run_job(
    settings: Settings,
    jobs: JobRepository,
    first: Callable[[JobEngine], Awaitable[Job]],
    *,
    resume_origins: Collection[Origin] | None,
    output: OutputOptions,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Run an engine of one slot on `jobs`, follow the job `first(engine)` gives to its end
    (Ctrl-C stops waiting) and report it."""
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    display = TerminalProgress(stderr)
    try:
        async with aiohttp.ClientSession() as session:
            engine = JobEngine.from_settings(
                settings,
                store=jobs,
                client=LyriaClient.from_settings(session, settings),
                ledger=NoCreditLedger(),
                max_concurrent=1,
                tuning=EngineTuning(tick_interval=1.0),
                resume_origins=resume_origins,
            )
            engine.add_listener(display)
            await engine.start()
            try:
                job = await first(engine)
                finished = await _wait_or_interrupt(engine, job, interrupted)
                display.end_line()
                if finished is None:
                    return await _interrupted(engine, job, stderr)
                return await _report(engine, finished, output, settings.audio_dir, stdout, stderr)
            finally:
                await engine.stop()
    finally:
        display.end_line()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def _wait_or_interrupt(engine: JobEngine, job: Job, interrupted: asyncio.Event) -> Job | None:
    waiting = asyncio.create_task(engine.wait_finished(job.id))
    interrupt = asyncio.create_task(interrupted.wait())
    try:
        await asyncio.wait({waiting, interrupt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        interrupt.cancel()
        if not waiting.done():
            waiting.cancel()
        await asyncio.gather(waiting, interrupt, return_exceptions=True)
    if waiting.cancelled() or waiting.exception() is not None:
        return None
    return waiting.result()


async def _interrupted(engine: JobEngine, job: Job, stderr: TextIO) -> int:
    if await engine.cancel(job.id, by=REQUESTER):
        print("Cancelled before it was sent; nothing was charged.", file=stderr)
        return EXIT_INTERRUPTED
    current = await engine.get(job.id)
    if current is not None and current.generation_id:
        print(
            "Stopped waiting. The music service already has this job "
            f"(generation id {current.generation_id}) and charges for it; "
            "the API cannot cancel it. To fetch the result later: "
            f"python -m bot compose --resume {job.id}",
            file=stderr,
        )
    else:
        print(
            "Stopped while the request was being sent; the music service may or may not have "
            "received it.",
            file=stderr,
        )
    return EXIT_INTERRUPTED


def report_ended(job: Job, stderr: TextIO) -> int:
    """Say why a job ended without music; its exit code."""
    if job.error_kind is not None and job.error_kind.account_problem:
        print(f"Failed: {account_problem_text(job.error_kind, job.error_detail)}", file=stderr)
        return EXIT_FAILED
    print(f"{_STATE_LABEL.get(job.state, 'Failed')}: {failure_text(job)}", file=stderr)
    if job.state is JobState.SUBMIT_UNKNOWN:
        print(
            "Check your AI/ML API dashboard before trying again.",
            file=stderr,
        )
    return _EXIT_FOR_STATE.get(job.state, EXIT_FAILED)


async def _report(
    engine: JobEngine,
    job: Job,
    output: OutputOptions,
    audio_dir: Path,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    if job.state is not JobState.COMPLETED:
        return report_ended(job, stderr)
    if job.audio_path is None:
        print(f"Could not save the audio: {download_note(job)}", file=stderr)
        print(f"Link: {job.audio_url}", file=stdout)
        await engine.mark_delivered(job.id, Delivery(DeliveryVia.TERMINAL, saved_to=job.audio_url))
        return EXIT_FAILED
    source = Path(job.audio_path)
    try:
        saved = await save_track(job, output, audio_dir)
    except OSError as exc:
        where = output.out or audio_dir
        print(f"Could not save the audio to {where}: {exc}; it is at {source}", file=stderr)
        return EXIT_FAILED
    for note in saved.notes:
        print(note, file=stderr)
    made = tuple(str(p) for p in (saved.path if saved.tagged else None, saved.waveform) if p)
    await engine.mark_delivered(
        job.id, Delivery(DeliveryVia.TERMINAL, saved_to=str(saved.path), files=made)
    )
    await asyncio.to_thread(_remove_provider_copy, source, saved.path)
    duration = job.audio_duration_seconds
    print(f"Saved: {saved.path}", file=stdout)
    print(f"Format: {format_label(saved.format, tagged=saved.tagged)}", file=stdout)
    if saved.waveform is not None:
        print(f"Waveform: {saved.waveform}", file=stdout)
    print("Duration: " + (f"{duration:.1f} s" if duration is not None else "unknown"), file=stdout)
    print(f"Size: {format_bytes(saved.size_bytes)} ({saved.size_bytes:,} bytes)", file=stdout)
    return EXIT_OK


def _remove_provider_copy(source: Path, saved: Path) -> None:
    """Once the saved file is recorded, the provider's download in AUDIO_DIR has done its job."""
    if saved != source.resolve():
        with contextlib.suppress(OSError):
            source.unlink()


_STATE_LABEL = {
    JobState.FAILED: "Failed",
    JobState.TIMED_OUT: "Timed out",
    JobState.SUBMIT_UNKNOWN: "Unknown outcome",
    JobState.CANCELLED: "Cancelled",
}


def describe(progress: Progress) -> str:
    """One line for the terminal in the words Discord shows, e.g.
    "Composing · ▰▰▰▱▱▱▱▱ ~25 s left · 12 s"."""
    _emoji, words = phase_label(progress.phase, progress)
    parts = [words]
    bar = progress_line(progress)
    if bar is not None:
        parts.append(bar)
    elif progress.estimate_remaining is not None:
        parts.append(time_left(progress.estimate_remaining))
    parts.append(f"{progress.elapsed:.0f} s")
    return " · ".join(parts)


class TerminalProgress:
    """Shows progress on `stream`: rewritten in place on a TTY, else a line per change."""

    _SHOWN = (Phase.QUEUED, Phase.SUBMITTING, Phase.GENERATING, Phase.DOWNLOADING)

    def __init__(self, stream: TextIO, *, tty: bool | None = None, quiet_period: float = 10.0):
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._quiet_period = quiet_period
        self._width = 0
        self._last_key: tuple[Phase, str | None] | None = None
        self._last_at = 0.0

    async def on_progress(self, job: Job, progress: Progress) -> None:
        if progress.phase not in self._SHOWN:
            return
        line = describe(progress)
        if self._tty:
            self._stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
            self._stream.flush()
            return
        key = (progress.phase, progress.provider_status)
        now = time.monotonic()
        if key != self._last_key or now - self._last_at >= self._quiet_period:
            self._last_key, self._last_at = key, now
            self._stream.write(line + "\n")
            self._stream.flush()

    async def on_finished(self, job: Job) -> None:
        self.end_line()

    def end_line(self) -> None:
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0
