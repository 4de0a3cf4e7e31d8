"""The async entry point: audio work runs in a small shared pool, off the event loop.

A thread pool of two workers (the machine has two cores): libsndfile (through CFFI), numpy's
large reductions, hashlib and zlib release the GIL for almost all of the work, so a burst of
results queues in the pool while the loop keeps answering. `bench/audio_cpu.py` measures this
against a process pool. At most `max_workers` pieces are decoded at a time, which also bounds
memory (~12 MB per 30 s stereo piece).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.audio.models import (
    AudioFile,
    AudioFormat,
    AudioPolicy,
    AudioProblem,
    Measurements,
    PreparedAudio,
    Provenance,
    WaveformStyle,
)
from bot.audio.pipeline import (
    PrepareRequest,
    convert_audio,
    original_only,
    prepare_audio,
    write_waveform,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_WORKERS = 2
WORKER_NICENESS = 10  # below the event loop's thread, so the loop gets a core when it wants one


def lower_thread_priority(niceness: int = WORKER_NICENESS) -> None:
    """Make the calling thread yield the CPU to normal-priority threads (Linux: nice applies
    per thread). Elsewhere, or when not permitted, it stays as it is."""
    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), current + niceness)


class AudioWorker:
    """Runs the audio pipeline in a bounded executor. Pass your own `executor` to share one
    (it is then not shut down by `close`)."""

    def __init__(self, *, max_workers: int = DEFAULT_WORKERS, executor: Executor | None = None):
        self._owned = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="audio", initializer=lower_thread_priority
        )

    async def prepare(self, request: PrepareRequest) -> PreparedAudio:
        """Tags, waveform and a format that fits; never raises (except cancellation)."""
        try:
            return await self._run(prepare_audio, request)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Only the executor itself can get here (shut down, a broken process pool).
            log.exception("Audio worker failed for %s; delivering the original", request.stem)
            return original_only(request, AudioProblem.PROCESSING_FAILED)

    async def convert(
        self,
        source: Path,
        dest: Path,
        fmt: AudioFormat,
        provenance: Provenance,
        *,
        policy: AudioPolicy | None = None,
        opus_bitrate: int | None = None,
    ) -> AudioFile:
        """`convert_audio` in the pool (raises AudioInputError / AudioWorkError)."""
        return await self._run(
            functools.partial(convert_audio, policy=policy, opus_bitrate=opus_bitrate),
            source,
            dest,
            fmt,
            provenance,
        )

    async def waveform(
        self, source: Path, dest: Path, style: WaveformStyle | None = None
    ) -> Measurements:
        """`write_waveform` in the pool (raises AudioInputError)."""
        return await self._run(write_waveform, source, dest, style)

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    async def close(self) -> None:
        """Wait for work in flight, then stop the pool (when this worker made it)."""
        if self._owned:
            await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def __aenter__(self) -> AudioWorker:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
