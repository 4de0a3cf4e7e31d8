"""Deadlines live in the database: a restart mid-round or mid-vote closes what fell due while
the bot was down, once, and posts its results once — also when the bot stopped between
closing a round and finishing its post."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bot.jams.models import PostKind
from bot.store.sqlite import SqliteStore
from bot.text.jams import marker
from tests.bot.jams.support import build
from tests.cogs.jam.support import (
    entry_result,
    expire,
    jam_row,
    posts,
    start_jam,
    vote,
    wait_post,
)
from tests.conftest import Harness


def database_file(h: Harness) -> Path:
    path = h.settings.database_url.path
    assert path is not None, "these tests write the SQLite file behind the bot's back"
    return path


def pass_deadline_offline(h: Harness, jam_id: str) -> None:
    """While the bot is down, the jam's current deadline passes."""
    with sqlite3.connect(database_file(h)) as conn:
        changed = conn.execute(
            "UPDATE jams SET phase_ends_at = ? WHERE id = ?", (time.time() - 5, jam_id)
        ).rowcount
    assert changed == 1


async def settle(h: Harness) -> None:
    """Let the scheduler make a whole pass (after a start: what fell due is then done)."""
    async with asyncio.timeout(10):
        await h.bot.services.jam_scheduler.next_pass()


async def test_a_round_that_ended_while_the_bot_was_down_closes_once_at_start(
    harness: Harness,
) -> None:
    h = harness
    thread, jam_id = await start_jam(h, rounds=2, budget=5)
    await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    await entry_result(h, await h.compose("dawn", user=h.bob, channel=thread))
    await h.stop()
    pass_deadline_offline(h, jam_id)

    await h.start()
    ballot = await wait_post(thread, "round 1 ballot")
    assert (await jam_row(h, jam_id))["phase"] == "voting"
    # The buttons of a ballot posted by this process work — and after another restart too.
    await h.restart()
    assert "is in" in await vote(h, ballot, 2, h.alice)
    await settle(h)
    assert len(posts(thread, "round 1 ballot")) == 1


async def test_a_vote_that_ended_while_the_bot_was_down_is_counted_and_posted_once(
    harness: Harness,
) -> None:
    h = harness
    thread, jam_id = await start_jam(h, rounds=2, budget=5)
    await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    await entry_result(h, await h.compose("dawn", user=h.bob, channel=thread))
    await expire(h, jam_id)
    ballot = await wait_post(thread, "round 1 ballot")
    assert "is in" in await vote(h, ballot, 1, h.bob)
    assert "is in" in await vote(h, ballot, 1, h.moderator)
    assert "is in" in await vote(h, ballot, 2, h.alice)
    await h.stop()
    pass_deadline_offline(h, jam_id)

    await h.start()
    results = await wait_post(thread, "round 1 results")
    assert "2 votes" in results.content and "3 members voted" in results.content
    await wait_post(thread, "round 2 open")
    await h.restart()
    await settle(h)
    assert len(posts(thread, "round 1 results")) == 1
    assert len(posts(thread, "round 2 open")) == 1
    row = await jam_row(h, jam_id)
    assert (row["phase"], row["round"]) == ("submitting", 2)


async def test_a_post_cut_short_by_a_crash_is_finished_without_repeating_it(
    harness: Harness,
) -> None:
    h = harness
    thread, jam_id = await start_jam(h, rounds=1, budget=5)
    await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    await h.stop()

    # Another process closed the round and posted its ballot, then died before recording it.
    pass_deadline_offline(h, jam_id)
    store = await SqliteStore.open(database_file(h))
    try:
        other = build(store, time.time)  # type: ignore[arg-type]
        [step] = await other.jams.advance_due()
        assert step.step.posts == (PostKind.BALLOT,)
        [ballot_post] = [p for p in await other.jams.pending_posts() if p.kind is PostKind.BALLOT]
        assert await other.jams.claim_post(ballot_post, lease=0)  # claimed, then it died
    finally:
        await store.close()
    made = h.fake_discord.new_bot_message(thread, via="bot")
    made.content = f"🗳️ ballot\n{marker(jam_id, PostKind.BALLOT, 1, 1, 1)}"
    h.fake_discord.changed(made)

    await h.start()
    await settle(h)
    assert posts(thread, "round 1 ballot") == [made]
    pending = await h.db.fetchone("SELECT COUNT(*) FROM jam_posts WHERE done_at IS NULL")
    assert pending is not None and pending[0] == 0
