"""The mod-log cog posts each server's events in order, one at a time, with a bounded queue."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

import cogs.modlog
from bot.quota.events import MemberWindowReset, ModEvent
from bot.tasks import TaskTracker
from cogs.modlog import ModLog


def event(guild_id: int, number: int) -> MemberWindowReset:
    """An event told apart by its number (the member it is about)."""
    return MemberWindowReset(guild_id=guild_id, actor_id=1, user_id=number)


def number(event: ModEvent) -> int:
    assert isinstance(event, MemberWindowReset)
    return event.user_id


class Recorder:
    """Stands in for ModLog.post: records what is posted and how many posts overlap."""

    def __init__(self) -> None:
        self.posted: list[tuple[int, int]] = []
        self.active: Counter[int] = Counter()
        self.most_per_server = 0
        self.most_overall = 0

    async def __call__(self, event: ModEvent) -> None:
        self.active[event.guild_id] += 1
        self.most_per_server = max(self.most_per_server, self.active[event.guild_id])
        self.most_overall = max(self.most_overall, sum(self.active.values()))
        await asyncio.sleep(0)  # a real post yields to the loop while Discord answers
        await asyncio.sleep(0)
        self.posted.append((event.guild_id, number(event)))
        self.active[event.guild_id] -= 1


class TasksOnly:
    """The one part of the bot the queue uses: its task tracker (post() is replaced)."""

    def __init__(self) -> None:
        self.tasks = TaskTracker()


def modlog_with(recorder: Any) -> ModLog:
    cog = ModLog(bot=TasksOnly())  # type: ignore[arg-type]
    cog.post = recorder  # type: ignore[method-assign]
    return cog


async def test_each_servers_events_are_posted_in_order_one_at_a_time() -> None:
    recorder = Recorder()
    cog = modlog_with(recorder)
    for i in range(10):
        await cog.on_quota_event(event(1, 100 + i))
        await cog.on_quota_event(event(2, 200 + i))
    await cog.wait_idle()
    assert [n for gid, n in recorder.posted if gid == 1] == [100 + i for i in range(10)]
    assert [n for gid, n in recorder.posted if gid == 2] == [200 + i for i in range(10)]
    assert recorder.most_per_server == 1  # never two sends racing in one channel
    assert recorder.most_overall == 2  # but servers do not wait for each other
    assert cog._workers == {} and cog._queues == {}  # nothing left behind


async def test_a_server_far_behind_drops_its_oldest_events_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cogs.modlog, "MAX_QUEUED_PER_SERVER", 3)
    release = asyncio.Event()
    posted: list[int] = []

    async def slow_post(posting: ModEvent) -> None:
        await release.wait()
        posted.append(number(posting))

    cog = modlog_with(slow_post)
    for i in range(6):
        await cog.on_quota_event(event(1, i))
    release.set()
    await cog.wait_idle()
    assert posted == [3, 4, 5]
    warnings = [r for r in caplog.records if "fell behind" in r.getMessage()]
    assert len(warnings) == 1 and "3 older event(s)" in warnings[0].getMessage()


async def test_unloading_stops_the_posting_tasks() -> None:
    never = asyncio.Event()

    async def stuck_post(posting: ModEvent) -> None:
        await never.wait()

    cog = modlog_with(stuck_post)
    await cog.on_quota_event(event(1, 0))
    await asyncio.sleep(0)
    await cog.cog_unload()
    await cog.wait_idle()  # returns: the worker was cancelled
    assert cog._workers == {}
