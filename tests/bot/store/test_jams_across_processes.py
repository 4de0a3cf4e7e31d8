"""Jams stay exact when two stores (two processes' pools) work on the same database at once: a
deadline fires once, a post is made by one, a jam's budget is never over-spent, and no credit
is lost when refunds race the jam's ending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.config import DatabaseUrl
from bot.jams.models import Accepted, EndReason, JamPhase, PostKind, Transition
from bot.quota.models import Limit, Refusal
from bot.store.base import Store
from bot.store.connect import open_url
from tests.bot.store.backends import count
from tests.bot.store.jam_support import (
    HOST,
    NOW,
    RULES,
    assert_budget_invariant,
    enter,
    pool_used,
    started,
)

ROUND = 20 * 60


@pytest.fixture
async def two(database_url: DatabaseUrl) -> AsyncIterator[tuple[Store, Store]]:
    first = await open_url(database_url)
    second = await open_url(database_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_due_deadline_fires_once_whoever_advances(two: tuple[Store, Store]) -> None:
    a, b = two
    jam = await started(a, rounds=2)
    await enter(a, jam, 1, "x")
    due = NOW + ROUND
    assert await a.jams.due(due) == [jam.id] == await b.jams.due(due)
    results = await asyncio.gather(
        *(store.jams.advance(jam.id, now=due, rules=RULES) for store in (a, b) * 5)
    )
    taken = [r for r in results if r is not None]
    assert len(taken) == 1 and isinstance(taken[0], Transition)
    assert taken[0].jam.phase is JamPhase.VOTING
    assert await count(a, "jam_posts", f"kind = '{PostKind.BALLOT.value}'") == 1
    assert await a.jams.due(due) == []


async def test_a_post_is_claimed_by_exactly_one(two: tuple[Store, Store]) -> None:
    a, b = two
    await started(a)
    (post,) = await b.jams.pending_posts()
    claims = await asyncio.gather(
        *(store.jams.claim_post(post, now=NOW, until=NOW + 60) for store in (a, b) * 10)
    )
    assert claims.count(True) == 1
    (after,) = await a.jams.pending_posts()
    assert after.attempts == 1


async def test_concurrent_entries_never_spend_over_the_budget(two: tuple[Store, Store]) -> None:
    a, b = two
    jam = await started(a, budget=10)
    stores = (a, b) * 20
    results = await asyncio.gather(
        *(enter(store, jam, 100 + n, f"job-{n}") for n, store in enumerate(stores))
    )
    accepted = [r for r in results if isinstance(r, Accepted)]
    refused = [r for r in results if isinstance(r, Refusal)]
    assert len(accepted) == 10 and len(refused) == 30
    assert {r.limit for r in refused} == {Limit.JAM_BUDGET}
    assert sorted(r.entry.number for r in accepted) == list(range(1, 11))
    assert await count(a, "quota_reservations", f"jam_id = '{jam.id}'") == 10
    assert await pool_used(b) == 10
    await assert_budget_invariant(a)


async def test_refunds_racing_the_end_lose_no_credit(two: tuple[Store, Store]) -> None:
    a, b = two
    jam = await started(a, budget=10, entries_per_round=5)
    for n in range(8):
        assert isinstance(await enter(a, jam, n % 3, f"job-{n}"), Accepted)
    refunds = [b.quota.refund(f"job-{n}", now=NOW + 5) for n in range(0, 8, 2)]
    ending = a.jams.finish(jam.id, EndReason.ENDED, by=HOST, now=NOW + 5, rules=RULES)
    results = await asyncio.gather(*refunds[:2], ending, *refunds[2:])
    assert results.count(True) == 4
    assert isinstance(results[2], Transition)
    assert await pool_used(a) == 4  # only what the four kept entries spent
    await assert_budget_invariant(b)
