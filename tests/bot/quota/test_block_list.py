"""The quota and the block list: matching holds neither the event loop nor the database."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.quota.block_regex import MAX_TOTAL_PROGRAM_SIZE, compile_regex
from bot.quota.components import Quota
from bot.quota.models import BlockedTerm, Grant, QuotaDefaults, Refusal, Requester
from bot.quota.prompt_policy import PromptPolicy
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker
from tests.bot.quota.support import refused_with

GUILD = 1111
MOD = 9
DEFAULTS = QuotaDefaults(
    member_limit_per_window=100,
    member_window_seconds=3600,
    member_max_in_flight=100,
    guild_daily_pool=1000,
    guild_reset_minute=0,
    bot_daily_cap=1000,
    dm_policy="personal",
)


@pytest.fixture
async def quota(tmp_path: Path) -> AsyncIterator[Quota]:
    store = await SqliteStore.open(tmp_path / "quota.sqlite3")
    yield Quota.build(store.quota, DEFAULTS, tasks=TaskTracker(), clock=lambda: 1_800_000_000.0)
    await store.close()


def member(user_id: int) -> Requester:
    return Requester(user_id=user_id, guild_id=GUILD, channel_id=50)


async def test_matching_runs_outside_the_event_loop_and_the_write_transaction(
    quota: Quota, monkeypatch: pytest.MonkeyPatch
) -> None:
    await quota.moderation.add_blocked_term(GUILD, "nope", by=MOD)
    matching, release = threading.Event(), threading.Event()
    real_match = PromptPolicy.match

    def slow_match(self: PromptPolicy, prompt: str) -> BlockedTerm | None:
        if prompt == "nope nope":  # this one match takes as long as the test wants
            matching.set()
            release.wait(30)
        return real_match(self, prompt)

    monkeypatch.setattr(PromptPolicy, "match", slow_match)
    blocked = asyncio.create_task(quota.ledger.reserve(member(7), "a", "nope nope"))
    try:
        assert await asyncio.to_thread(matching.wait, 30)
        # While that match runs, the loop and the database serve another member's reservation.
        other = await asyncio.wait_for(quota.ledger.reserve(member(8), "b", "piano"), 10)
        assert isinstance(other, Grant)
    finally:
        release.set()
    refused = await blocked
    assert isinstance(refused, Refusal) and refused.limit == "blocked_prompt"


async def test_adding_a_pattern_counts_the_servers_other_patterns(quota: Quota) -> None:
    heavy = [rf"[a-z]{{1,150}}q{i}" for i in range(50)]
    fits = MAX_TOTAL_PROGRAM_SIZE // compile_regex(heavy[0]).program_size
    for pattern in heavy[:fits]:
        await quota.moderation.add_blocked_term(GUILD, pattern, regex=True, by=MOD)
    with refused_with("too much work together"):
        await quota.moderation.add_blocked_term(GUILD, r"[a-z]{1,150}z", regex=True, by=MOD)
    assert len(await quota.queries.blocked_terms(GUILD)) == fits


async def test_unsupported_syntax_is_refused_politely_and_nothing_is_stored(
    quota: Quota,
) -> None:
    with refused_with("look-ahead or look-behind"):
        await quota.moderation.add_blocked_term(GUILD, r"(?<!anti)war", regex=True, by=MOD)
    assert await quota.queries.blocked_terms(GUILD) == []
