"""What the load benches measure with: percentiles, a child's output, the event loop's lag."""

from __future__ import annotations

import asyncio


def percentile(values: list[float], q: float) -> float:
    """The `q`th percentile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def drain(stream: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while chunk := await stream.read(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def lag_probe(lags: list[float], interval: float = 0.02) -> None:
    """Record how late each `sleep(interval)` wakes up: the event loop's lag."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        lags.append(max(0.0, loop.time() - before - interval))
