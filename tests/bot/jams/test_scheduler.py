"""The jam scheduler: it sleeps until the deadline the database holds (no polling), takes the
step, and has the posts made in order — waiting, not skipping, when Discord fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jams.models import Accepted, JamPhase, Post, PostKind
from bot.jams.scheduler import JamScheduler, PostResult
from bot.store.sqlite import SqliteStore
from tests.bot.jams.support import World, build
from tests.bot.store.backends import execute


class FakePublisher:
    """Records posts; answers from a script (DONE when it runs out)."""

    def __init__(self) -> None:
        self.posts: list[tuple[PostKind, int]] = []
        self.script: list[PostResult] = []
        self.cards: list[str] = []
        self.changed = asyncio.Event()

    async def publish(self, post: Post) -> PostResult:
        result = self.script.pop(0) if self.script else PostResult.DONE
        if result is PostResult.DONE:
            self.posts.append((post.kind, post.round))
        self.changed.set()
        return result

    async def refresh_card(self, jam_id: str) -> None:
        self.cards.append(jam_id)

    async def wait_for(self, kind: PostKind) -> None:
        async with asyncio.timeout(5):
            while not any(k is kind for k, _ in self.posts):
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await SqliteStore.open(tmp_path / "jams.sqlite3")
    made = build(store, time.time)  # type: ignore[arg-type]
    yield made
    await made.tasks.close()
    await store.close()


async def test_it_sleeps_until_the_deadline_and_takes_the_step(world: World) -> None:
    jam = await world.start(budget=5)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    soon = time.time() + 0.3
    moved = f"UPDATE jams SET phase_ends_at = {soon!r} WHERE id = '{jam.id}'"  # noqa: S608
    await execute(world.store, moved)
    publisher = FakePublisher()
    scheduler = JamScheduler(world.jams, world.tasks, max_sleep=60)
    scheduler.start(publisher)
    await publisher.wait_for(PostKind.BALLOT)  # nobody woke it: the deadline did
    assert publisher.posts == [(PostKind.OPEN, 1), (PostKind.BALLOT, 1)]
    assert scheduler.runs <= 3  # a pass at start, one at the deadline: no polling
    after = await world.jams.get(jam.id)
    assert after is not None and after.phase is JamPhase.VOTING
    assert jam.id in publisher.cards
    await scheduler.stop()


async def test_a_failed_post_waits_and_keeps_the_order(world: World) -> None:
    jam = await world.start(budget=5)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    publisher = FakePublisher()
    publisher.script = [PostResult.RETRY]  # Discord fails the round's opening once
    scheduler = JamScheduler(world.jams, world.tasks, retry_delay=30)
    scheduler._publisher = publisher  # run passes by hand
    await scheduler.run_once()
    assert publisher.posts == []
    await execute(world.store, f"UPDATE jams SET phase_ends_at = 0 WHERE id = '{jam.id}'")  # noqa: S608
    await scheduler.run_once()  # the ballot is owed now, but the opening goes first
    assert publisher.posts == []
    await execute(world.store, "UPDATE jam_posts SET due_at = 0")  # the retry delay has passed
    await scheduler.run_once()
    assert publisher.posts == [(PostKind.OPEN, 1), (PostKind.BALLOT, 1)]
    pending = await world.jams.pending_posts()
    assert pending == []


async def test_a_thread_found_gone_cancels_the_jam(world: World) -> None:
    jam = await world.start(budget=5)
    publisher = FakePublisher()
    publisher.script = [PostResult.GONE]
    scheduler = JamScheduler(world.jams, world.tasks)
    scheduler._publisher = publisher
    await scheduler.run_once()
    after = await world.jams.get(jam.id)
    assert after is not None and after.phase is JamPhase.CANCELLED and after.settled
    await scheduler.run_once()
    assert publisher.posts == [(PostKind.ANNOUNCE, 1)]
