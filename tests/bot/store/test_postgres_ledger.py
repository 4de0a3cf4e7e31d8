"""PostgreSQL's batched ledger: how calls are cut into segments, and a batch whose database
work fails runs its calls again one by one, so one bad call fails alone."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from bot.quota.models import (
    GenerationNote,
    Grant,
    QuotaDefaults,
    Requester,
    ReserveContext,
    ReserveDecision,
    Usage,
    UsageQuery,
)
from bot.quota.rules import ReservationRules
from bot.store.connect import open_url
from bot.store.postgres import PostgresStore
from bot.store.postgres.ledger import Commit, Finish, Refund, Reserve, segments
from tests.postgres_support import fresh_schema

RULES = ReservationRules(QuotaDefaults())


def reserve(user: int, job_id: str, guild: int = 1) -> Reserve:
    return Reserve(Requester(user, guild, None), job_id, 1.0, None, RULES)


def test_segments_keep_arrival_order_where_set_wise_running_could_differ() -> None:
    calls = [
        reserve(1, "a"),
        reserve(2, "b"),
        Commit("a", 2.0),  # after its reservation: the reservations of a segment run first
        Commit("a", 2.0),  # the same kind twice: the first one changes it, as in order
        reserve(1, "c"),  # the same member again: new segment
        Finish("z", 3.0, None),
        Refund("z", 3.0),  # another kind of call for the same job: new segment
        reserve(3, "z"),  # a reservation for a job touched before it: new segment
        reserve(4, "d", guild=2),
    ]
    assert segments(calls) == [[0, 1, 2, 3], [4, 5], [6], [7, 8]]
    assert segments([]) == []


class BadRules(ReservationRules):
    """Grants with a count no INTEGER column holds: the database refuses that one call."""

    def decide(self, ctx: ReserveContext, query: UsageQuery, usage: Usage) -> ReserveDecision:
        decision = super().decide(ctx, query, usage)
        assert decision.reservation is not None
        return replace(decision, reservation=replace(decision.reservation, pool_remaining=2**40))


async def test_one_failing_call_fails_alone_and_the_others_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.store.postgres.batching")
    async with fresh_schema("ledger") as url:
        store = await open_url(url)
        assert isinstance(store, PostgresStore)
        try:
            good = [
                store.quota.reserve(
                    Requester(u, 1, None), f"ok-{u}", now=1.0, blocked_term=None, rules=RULES
                )
                for u in range(5)
            ]
            bad = store.quota.reserve(
                Requester(9, 1, None),
                "bad",
                now=1.0,
                blocked_term=None,
                rules=BadRules(QuotaDefaults()),
            )
            results = await asyncio.gather(*good, bad, return_exceptions=True)
            assert all(
                isinstance(r, ReserveDecision) and isinstance(r.outcome, Grant) for r in results[:5]
            )
            assert isinstance(results[5], Exception)
            assert "quota batch of 6 rolled back" in caplog.text  # they did share a batch
            for u in range(5):
                assert await store.quota.reservation(f"ok-{u}") is not None
            assert await store.quota.reservation("bad") is None
            note = GenerationNote("ok-0", 1, 0, "p", "delivered")
            await asyncio.gather(
                store.quota.finish("ok-0", now=2.0, note=note),
                store.quota.finish("ok-0", now=3.0, note=replace(note, outcome="failed")),
            )
            kept = await store.quota.reservation("ok-0")
            assert kept is not None and not kept.in_flight and kept.updated_at == 2.0
            outcome = await store.database.fetchval(
                "SELECT outcome FROM quota_generation_log WHERE job_id = 'ok-0'"
            )
            assert outcome == "failed"  # the last note of a job stands, as one after the other
        finally:
            await store.close()


async def test_a_rules_error_reaches_its_caller_only() -> None:
    async with fresh_schema("ledger") as url:
        store = await open_url(url)
        try:
            await store.quota.reserve(
                Requester(1, 1, None), "j", now=1.0, blocked_term=None, rules=RULES
            )
            theirs = store.quota.reserve(
                Requester(2, 1, None), "j", now=1.0, blocked_term=None, rules=RULES
            )
            mine = store.quota.reserve(
                Requester(3, 1, None), "k", now=1.0, blocked_term=None, rules=RULES
            )
            results = await asyncio.gather(theirs, mine, return_exceptions=True)
            assert isinstance(results[0], ValueError) and "someone else" in str(results[0])
            assert isinstance(results[1], ReserveDecision) and isinstance(results[1].outcome, Grant)
        finally:
            await store.close()
