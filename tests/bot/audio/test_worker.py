"""The async entry point runs the work in a bounded pool and never raises."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.audio import (
    AudioFormat,
    AudioInputError,
    AudioProblem,
    AudioWorker,
    DeliveryReason,
    PreparedAudio,
    PrepareRequest,
    prepare_audio,
)
from bot.audio import worker as worker_module
from tests.audio_support import music, provenance, write_wav


def request(source: Path, stem: str = "lyria-job") -> PrepareRequest:
    return PrepareRequest(
        source=source,
        out_dir=source.parent / "out",
        stem=stem,
        provenance=provenance(),
        limit_bytes=10 * 2**20,
    )


async def test_prepare_in_the_pool_gives_the_same_result_as_directly(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))
    async with AudioWorker() as worker:
        result = await worker.prepare(request(source))
    assert result.reason is DeliveryReason.WAV_FITS
    assert result == prepare_audio(request(source))  # and the direct run reuses its files


async def test_the_loop_keeps_running_while_a_piece_is_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work waits for an event only the event loop can set: it finishes only if the work
    runs off the loop."""
    started = threading.Event()
    release = threading.Event()

    def slow_prepare(req: PrepareRequest) -> PreparedAudio:
        started.set()
        if not release.wait(timeout=10):
            raise AssertionError("the event loop was blocked")
        return prepare_audio(req)

    monkeypatch.setattr(worker_module, "prepare_audio", slow_prepare)
    source = write_wav(tmp_path / "in.wav", music(0.5))
    async with AudioWorker() as worker:
        task = asyncio.create_task(worker.prepare(request(source)))
        await asyncio.to_thread(started.wait, 10)
        release.set()  # done by the loop while the work is in flight
        result = await task
    assert result.reason is DeliveryReason.WAV_FITS


async def test_default_pool_threads_yield_the_cpu_to_the_event_loop(tmp_path: Path) -> None:
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_niceness = niceness()
    async with AudioWorker() as worker:
        worker_niceness = await worker._run(niceness)
    assert worker_niceness >= min(loop_niceness + worker_module.WORKER_NICENESS, 19)
    assert niceness() == loop_niceness  # the loop's own thread is untouched


async def test_a_burst_runs_at_most_max_workers_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    running = 0
    most = 0
    both_running = threading.Event()

    def counted(req: PrepareRequest) -> PreparedAudio:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 2:
                both_running.set()
        try:
            both_running.wait(timeout=5)  # make the two workers overlap for sure
            return prepare_audio(req)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(worker_module, "prepare_audio", counted)
    sources = [write_wav(tmp_path / f"in{i}.wav", music(0.3, seed=i)) for i in range(6)]
    async with AudioWorker(max_workers=2) as worker:
        results = await asyncio.gather(
            *(worker.prepare(request(s, f"lyria-{i}")) for i, s in enumerate(sources))
        )
    assert [r.reason for r in results] == [DeliveryReason.WAV_FITS] * 6
    assert len({r.file.path for r in results if r.file}) == 6
    assert most == 2


async def test_a_dead_pool_still_answers_with_the_original(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    executor = ThreadPoolExecutor(max_workers=1)
    executor.shutdown()
    worker = AudioWorker(executor=executor)

    result = await worker.prepare(request(source))

    assert result.reason is DeliveryReason.ORIGINAL_KEPT
    assert result.problems == (AudioProblem.PROCESSING_FAILED,)
    assert result.file is not None and result.file.path == source
    await worker.close()  # a borrowed executor is left alone


async def test_cancelling_a_waiting_caller_raises_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def blocked(req: PrepareRequest) -> PreparedAudio:
        release.wait(timeout=10)
        return prepare_audio(req)

    monkeypatch.setattr(worker_module, "prepare_audio", blocked)
    source = write_wav(tmp_path / "in.wav", music(0.2))
    async with AudioWorker(max_workers=1) as worker:
        task = asyncio.create_task(worker.prepare(request(source)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()


async def test_convert_and_waveform_through_the_worker(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))
    async with AudioWorker() as worker:
        flac = await worker.convert(source, tmp_path / "x.flac", AudioFormat.FLAC, provenance())
        measured = await worker.waveform(source, tmp_path / "x.png")
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"not audio at all")
        with pytest.raises(AudioInputError):
            await worker.convert(bad, tmp_path / "y.flac", AudioFormat.FLAC, provenance())
    assert np.array_equal(
        sf.read(str(flac.path), dtype="int16")[0], sf.read(str(source), dtype="int16")[0]
    )
    assert measured.duration_seconds == pytest.approx(1.0)
    assert (tmp_path / "x.png").stat().st_size > 0
    assert not (tmp_path / "y.flac").exists()
