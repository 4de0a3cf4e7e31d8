"""The one task that keeps jams on time: it sleeps until the next deadline (or post retry) the
database holds, closes what is due, and has the posts owed made — in order, per jam.

Deadlines live in the database, so a restart loses none: a round whose deadline passed while
the bot was down is closed by the first run after start-up. Closing is a guarded update, so a
second process (or a retry) cannot close twice. Posts are queued in the same transaction as
the change that owes them; a post is claimed (for a lease, counting the attempt) before it is
made and marked done after, and the publisher looks for an attempted post's pages before making
them again: a crash between close and post neither loses nor repeats the results, and two
processes never make the same post.

No polling: the task waits on `JamService.deadlines_changed` (set by starts, steps and ends)
with a timeout of the time left until the next deadline, at most `max_sleep`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from itertools import groupby
from typing import Protocol

from bot.jams.models import Post, PostKind
from bot.jams.service import JamService
from bot.tasks import TaskTracker

log = logging.getLogger(__name__)

MIN_SLEEP = 0.5


class PostResult(enum.Enum):
    DONE = "done"
    RETRY = "retry"  # Discord failed for now: try again later, keep the order
    GONE = "gone"  # the thread (or channel) is gone: nothing left to post there


class Publisher(Protocol):
    """What the Discord side does with a post owed (cogs/jam/publisher.py)."""

    async def publish(self, post: Post) -> PostResult: ...

    async def refresh_card(self, jam_id: str) -> None: ...


class JamScheduler:
    def __init__(
        self,
        jams: JamService,
        tasks: TaskTracker,
        *,
        clock: Callable[[], float] | None = None,
        retry_delay: float = 30.0,
        stale_start: float = 300.0,
        max_sleep: float = 600.0,
        lease: float = 300.0,
    ) -> None:
        self._jams = jams
        self._tasks = tasks
        self._clock = clock or jams.now
        self._retry_delay = retry_delay
        self._stale_start = stale_start
        self._max_sleep = max_sleep
        self._lease = lease  # how long a claimed post is ours before another may take it
        self._publisher: Publisher | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting: list[asyncio.Future[None]] = []  # `next_pass` callers
        self.runs = 0  # completed passes

    def start(self, publisher: Publisher) -> None:
        self._publisher = publisher
        if self._task is None or self._task.done():
            self._task = self._tasks.spawn(self._run(), name="jam-scheduler", service=True)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake(self) -> None:
        """Look at the deadlines again now (a test moved one, or something changed)."""
        self._jams.deadlines_changed.set()

    async def next_pass(self) -> None:
        """Wake the task and wait until it has made a whole pass that began after this call
        (for tests and tools: what was due is then done)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self.wake()
        await future

    async def run_once(self) -> None:
        """Give up stale starts, take every due step, make every due post."""
        waiting, self._waiting = self._waiting, []
        try:
            await self._jams.sweep_starting(older_than=self._stale_start)
            await self._jams.advance_due()
            await self.publish_pending()
            self.runs += 1
        finally:
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def publish_pending(self) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        posts = await self._jams.pending_posts()
        for jam_id, owed in groupby(posts, key=lambda p: p.jam_id):
            if await self._publish_jam(publisher, list(owed)):
                try:
                    await publisher.refresh_card(jam_id)
                except Exception:
                    log.exception("jam %s: could not refresh its card", jam_id)

    async def _publish_jam(self, publisher: Publisher, owed: list[Post]) -> bool:
        """The jam's posts in order, stopping at the first that must wait; whether any was
        made."""
        made = False
        for post in owed:
            if post.due_at > self._clock():
                break
            if not await self._jams.claim_post(post, lease=self._lease):
                break  # another process is making this jam's posts
            try:
                result = await publisher.publish(post)
            except Exception:
                log.exception("jam %s: posting %s failed", post.jam_id, post.kind.value)
                result = PostResult.RETRY
            if result is PostResult.RETRY:
                await self._jams.post_later(post, self._retry_delay)
                break
            await self._jams.post_done(post)
            made = made or result is PostResult.DONE
            if result is PostResult.GONE and post.kind is not PostKind.ANNOUNCE:
                jam = await self._jams.get(post.jam_id)
                if jam is not None and jam.thread_id is not None:
                    await self._jams.thread_gone(jam.thread_id)
        return made

    async def _run(self) -> None:
        changed = self._jams.deadlines_changed
        while True:
            changed.clear()
            try:
                await self.run_once()
                next_at = await self._jams.next_wakeup()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the jam scheduler failed; trying again shortly")
                next_at = self._clock() + self._retry_delay
            delay = self._max_sleep if next_at is None else next_at - self._clock()
            # Something already due after a pass (it fell due meanwhile, or could not be done
            # now) is looked at again shortly, never in a tight loop.
            delay = min(max(delay, MIN_SLEEP), self._max_sleep)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=delay)
