"""Small units of the Discord layer: the task tracker and the job's Discord context."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.interactions import DiscordContext
from bot.tasks import TaskTracker


async def test_task_tracker_logs_failures_and_cancels_on_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = TaskTracker()
    started = asyncio.Event()

    async def boom() -> None:
        raise ValueError("kaput")

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    with caplog.at_level(logging.ERROR, logger="bot.tasks"):
        failing = tracker.spawn(boom(), name="boom")
        waiting = tracker.spawn(forever(), name="forever")
        await asyncio.gather(failing, return_exceptions=True)
        await started.wait()
    assert "background task boom failed" in caplog.text and "kaput" in caplog.text
    assert len(tracker) == 1
    await tracker.close()
    assert waiting.cancelled() and len(tracker) == 0
    coro = forever()
    with pytest.raises(RuntimeError):
        tracker.spawn(coro, name="late")


def test_discord_context_round_trips_and_never_shows_the_token() -> None:
    ctx = DiscordContext(
        application_id=1,
        interaction_token="very-secret-interaction-token",
        interaction_id=2,
        expires_at=1000.0,
        channel_id=3,
        guild_id=None,
        requester_id=4,
        status_message_id=5,
        filesize_limit=10 * 1024 * 1024,
        can_attach=True,
        member_remaining=3,
    )
    stored = ctx.to_context()
    assert DiscordContext.from_context(stored) == ctx
    assert DiscordContext.from_context({}) is None
    assert DiscordContext.from_context({"discord": {"unknown": 1}}) is None
    assert "very-secret" not in repr(ctx) and "very-secret" not in repr(ctx.handle)
    assert ctx.handle.alive(now=989.0) is True
    assert ctx.handle.alive(now=991.0) is False  # within the safety margin
    assert ctx.with_notice_sent().expiry_notice_sent is True
