"""Event-loop lag: a task that asks to wake every `interval` and records how late it woke.

A loop busy with other work (a long callback, a garbage collection) runs timers late; the
lateness is what every coroutine waits on top of its own work. `responsive` is what /healthz
reports: a recent tick that was not too late.
"""

from __future__ import annotations

import asyncio
import time

from bot.metrics.registry import BotMetrics
from bot.tasks import TaskTracker

INTERVAL = 0.5
UNRESPONSIVE_LAG = 1.0  # seconds late: the loop is not keeping up


class LoopMonitor:
    def __init__(
        self,
        metrics: BotMetrics,
        *,
        interval: float = INTERVAL,
        unresponsive_lag: float = UNRESPONSIVE_LAG,
    ) -> None:
        self._metrics = metrics
        self._interval = interval
        self._unresponsive_lag = unresponsive_lag
        self.last_tick: float | None = None
        self.last_lag = 0.0
        self._task: asyncio.Task[None] | None = None
        self._ticked: asyncio.Event | None = None

    def start(self, tasks: TaskTracker) -> None:
        if self._task is None:
            self._task = tasks.spawn(self._run(), name="loop-monitor")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self._interval)
            woke = time.monotonic()
            self.last_lag = max(0.0, woke - asked - self._interval)
            self.last_tick = woke
            self._metrics.loop_lag.observe(self.last_lag)
            if self._ticked is not None:
                self._ticked.set()
                self._ticked = None

    async def next_tick(self) -> float:
        """Wait for the next tick; how late it was."""
        if self._ticked is None:
            self._ticked = asyncio.Event()
        await self._ticked.wait()
        return self.last_lag

    def responsive(self) -> bool:
        """Ticking, recently, and the last tick not late by `unresponsive_lag` or more."""
        if self.last_tick is None:
            return self._task is not None and not self._task.done()
        limit = self._unresponsive_lag
        recent = time.monotonic() - self.last_tick < 3 * self._interval + limit
        return recent and self.last_lag < limit
