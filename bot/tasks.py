"""Background tasks the bot owns: kept referenced, their exceptions logged, cancelled on close.

`asyncio.create_task` alone keeps only a weak reference (a task can vanish mid-flight) and an
exception in it is reported, if ever, at garbage collection. Every fire-and-forget coroutine of
the bot goes through `TaskTracker.spawn` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskTracker:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._services: set[asyncio.Task[Any]] = set()  # run until cancelled (not waited for)
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, name: str, service: bool = False
    ) -> asyncio.Task[T]:
        """Run `coro` in the background; failures are logged with `name`. A `service` runs
        until it is cancelled (a scheduler): `wait_idle` does not wait for it, `close`
        cancels it like the rest."""
        if self._closed:
            coro.close()
            raise RuntimeError("the task tracker is closed")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        if service:
            self._services.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._services.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("background task %s failed", task.get_name(), exc_info=error)

    async def wait_idle(self) -> None:
        """Wait until every task spawned so far (and any they spawn) has finished."""
        while self._tasks - self._services:
            await asyncio.wait(self._tasks - self._services)

    async def close(self) -> None:
        """Cancel every task and wait for them to unwind."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
