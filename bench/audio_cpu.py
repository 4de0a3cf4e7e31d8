"""Audio craft cost per 30 s stereo 48 kHz piece, and a burst through the async entry point.

Part 1 prints the CPU time of each step (median of --runs): the tagged WAV copy, decoding the
samples, the waveform PNG, FLAC, Ogg Opus at 192 kbit/s, and a whole `prepare_audio` when the
WAV fits and when it must become Opus.

Part 2 fires --burst pieces at once through `AudioWorker.prepare`, with a two-thread pool and
with a two-process pool, while a coroutine ticks every 5 ms: it prints the wall time and the
event loop's lag (how late the ticks came: p50, p99, max).

    .venv/bin/python bench/audio_cpu.py [--runs 5] [--burst 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.audio import AudioWorker, PrepareRequest, Provenance, prepare_audio
from bot.audio.encode import write_flac, write_opus
from bot.audio.files import write_atomically
from bot.audio.models import WaveformStyle
from bot.audio.riff import plan_tagged_wav
from bot.audio.samples import measure, read_samples
from bot.audio.tags import build_tags
from bot.audio.waveform import render, save_png
from bot.audio.worker import lower_thread_priority

RATE = 48_000
TICK = 0.005
PROVENANCE = Provenance(
    prompt="Warm lo-fi hip hop with dusty piano chords, vinyl crackle and a lazy swing",
    job_id="bench0000001",
    model="google/lyria2",
    created_at=datetime(2026, 11, 25, tzinfo=UTC),
    negative_prompt="vocals",
    seed=7,
)


def make_piece(path: Path, seconds: float, seed: int) -> Path:
    """Music-like stereo: chords with harmonics, a beat, a slow swell and some hiss, so FLAC
    and Opus work as hard as on real music (pure tones would flatter them)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(seed)
    left = np.zeros(n)
    for f in (220.0, 277.2, 329.6, 110.0):
        left += np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 2 * f * t)
    beat = np.exp(-((t % 0.5) * 30)) * np.sin(2 * np.pi * 60 * t)
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * t)
    left = 0.12 * swell * left + 0.5 * beat + 0.02 * rng.standard_normal(n)
    right = np.roll(left, 240) + 0.02 * rng.standard_normal(n)
    sf.write(str(path), np.stack([left, right], axis=1).clip(-1, 1), RATE, subtype="PCM_16")
    return path


def cpu_median(runs: int, step: Callable[[int], None]) -> float:
    times = []
    for i in range(runs):
        start = time.process_time()
        step(i)
        times.append(time.process_time() - start)
    return statistics.median(times)


def part1(work: Path, source: Path, runs: int, seconds: float) -> None:
    tags = build_tags(PROVENANCE)
    decoded = read_samples(source)
    style = WaveformStyle()
    sizes: dict[str, int] = {}

    def tagged_wav(i: int) -> None:
        out = work / f"tagged{i}.wav"
        write_atomically(out, plan_tagged_wav(source, tags).write_to)
        sizes["wav"] = out.stat().st_size

    def decode(_i: int) -> None:
        measure(read_samples(source))

    def waveform(i: int) -> None:
        out = work / f"wave{i}.png"
        save_png(render(decoded, style), out)
        sizes["png"] = out.stat().st_size

    def flac(i: int) -> None:
        out = work / f"out{i}.flac"
        write_flac(decoded, out, tags)
        sizes["flac"] = out.stat().st_size

    def opus(i: int) -> None:
        out = work / f"out{i}.ogg"
        write_opus(decoded, out, tags, 192_000)
        sizes["opus"] = out.stat().st_size

    def prepare(limit: int) -> Callable[[int], None]:
        def run(i: int) -> None:
            request = PrepareRequest(
                source=source,
                out_dir=work / f"prepare-{limit}-{i}",  # fresh: nothing to reuse
                stem="lyria-bench",
                provenance=PROVENANCE,
                limit_bytes=limit,
            )
            prepare_audio(request)

        return run

    rows = [
        ("tags (tagged WAV copy)", tagged_wav, "wav"),
        ("decode + measure", decode, None),
        (f"waveform {style.width}x{style.height} PNG", waveform, "png"),
        ("FLAC", flac, "flac"),
        ("Opus 192 kbit/s", opus, "opus"),
        ("prepare_audio, WAV fits (10 MiB)", prepare(10 * 2**20), None),
        ("prepare_audio, needs Opus (2 MiB)", prepare(2 * 2**20), None),
    ]
    print(f"Part 1: CPU seconds per {seconds:.0f} s stereo 48 kHz piece (median of {runs})")
    print(f"  source WAV {source.stat().st_size:,} bytes")
    for name, step, size_key in rows:
        cpu = cpu_median(runs, step)
        size = f"  {sizes[size_key]:>10,} bytes" if size_key else ""
        print(f"  {name:<36} {cpu:7.3f} s{size}")


class Ticker:
    """A coroutine that wakes every TICK seconds and records how late each wake-up was."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        expected = loop.time() + TICK
        while not self._done.is_set():
            await asyncio.sleep(TICK)
            now = loop.time()
            self.lags.append(max(0.0, now - expected))
            expected = now + TICK

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.05)
        self.lags.clear()

    async def stop(self) -> dict[str, float]:
        self._done.set()
        if self._task:
            await self._task
        ordered = sorted(self.lags)
        return {
            "p50": ordered[len(ordered) // 2],
            "p99": ordered[int(len(ordered) * 0.99)],
            "max": ordered[-1],
        }


async def idle_lag(seconds: float) -> dict[str, float]:
    ticker = Ticker()
    await ticker.start()
    await asyncio.sleep(seconds)
    return await ticker.stop()


async def burst(executor: Executor, sources: list[Path], out: Path, limit: int) -> dict[str, float]:
    worker = AudioWorker(executor=executor)
    ticker = Ticker()
    await ticker.start()
    start = time.perf_counter()
    cpu_start = time.process_time()
    requests = [
        PrepareRequest(
            source=s, out_dir=out, stem=f"lyria-{i}", provenance=PROVENANCE, limit_bytes=limit
        )
        for i, s in enumerate(sources)
    ]
    results = await asyncio.gather(*(worker.prepare(r) for r in requests))
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    figures = await ticker.stop()
    assert all(r.file is not None and not r.problems for r in results), results
    return {"wall": wall, "cpu_main": cpu, **figures}


def _warm() -> None:
    """Imported in the worker by pickling `prepare_audio`; this only starts the process."""


async def part2(work: Path, source: Path, count: int) -> None:
    sources = []
    base, rate = sf.read(str(source), dtype="int16")
    for i in range(count):  # distinct bytes: nothing can be reused across pieces
        data = base.copy()
        data[0, 0] = i
        path = work / f"burst{i}.wav"
        sf.write(str(path), data, rate, subtype="PCM_16")
        sources.append(path)

    print(f"\nPart 2: {count} pieces at once through AudioWorker.prepare (2 workers)")
    print("  loop lag = how late a 5 ms ticker woke up while the burst ran")
    idle = await idle_lag(2.0)
    print(
        f"  {'no work (noise floor)':<30} lag p50 {idle['p50'] * 1000:5.1f} ms"
        f"  p99 {idle['p99'] * 1000:6.1f} ms  max {idle['max'] * 1000:6.1f} ms"
    )
    cases = [("WAV fits (10 MiB)", 10 * 2**20), ("needs Opus (2 MiB)", 2 * 2**20)]
    for label, limit in cases:
        for kind in ("threads", "nice thr.", "processes"):
            executor: Executor
            if kind == "threads":
                executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="audio")
            elif kind == "nice thr.":  # AudioWorker's default pool
                executor = ThreadPoolExecutor(
                    max_workers=2, thread_name_prefix="audio", initializer=lower_thread_priority
                )
            else:
                context = multiprocessing.get_context("forkserver")
                executor = ProcessPoolExecutor(max_workers=2, mp_context=context)
                loop = asyncio.get_running_loop()
                started = time.perf_counter()
                await asyncio.gather(*(loop.run_in_executor(executor, _warm) for _ in range(2)))
                warm = time.perf_counter() - started
            out = work / f"burst-{kind}-{limit}"
            figures = await burst(executor, sources, out, limit)
            executor.shutdown(wait=True)
            extra = f"  (pool start {warm:.2f} s, not counted)" if kind == "processes" else ""
            print(
                f"  {label:<20} {kind:<9} wall {figures['wall']:6.2f} s"
                f"  ({figures['wall'] / count:.2f} s/piece)"
                f"  lag p50 {figures['p50'] * 1000:5.1f} ms  p99 {figures['p99'] * 1000:6.1f} ms"
                f"  max {figures['max'] * 1000:6.1f} ms"
                f"  main-process CPU {figures['cpu_main']:6.2f} s{extra}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average before the run: {load}\n")
    with tempfile.TemporaryDirectory(prefix="audio-bench-") as tmp:
        work = Path(tmp)
        source = make_piece(work / "source.wav", args.seconds, seed=1)
        part1(work, source, args.runs, args.seconds)
        asyncio.run(part2(work, source, args.burst))


if __name__ == "__main__":
    main()
