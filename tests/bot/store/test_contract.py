"""The store's contract, held against every backend (SQLite and PostgreSQL): the same calls give
the same answers. Each test gets a fresh, migrated database of each backend (`store`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.config import DatabaseUrl
from bot.jobs.models import Delivery, DeliveryVia, ErrorKind, Job, JobState, Observation, Origin
from bot.quota.components import Quota
from bot.quota.models import (
    DM_GUILD_ID,
    BlockedTerm,
    GenerationNote,
    Grant,
    Limit,
    QuotaDefaults,
    Refusal,
    Requester,
    ReservationState,
    ReserveDecision,
    RoleOverride,
    TermKind,
    UsageQuery,
)
from bot.quota.rules import ReservationRules
from bot.quota.timeutil import pool_key, utc_day
from bot.store.base import Store
from bot.store.connect import open_url
from bot.tasks import TaskTracker
from tests.bot.store.backends import count, execute, jobs_with_history

GUILD = 1111
OTHER_GUILD = 2222
CHANNEL = 50
BIG_ID = 1_234_567_890_123_456_789  # Discord ids need 64 bits
NOW = datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp()
ROOMY = QuotaDefaults(
    member_limit_per_window=1000,
    member_window_seconds=3600,
    member_max_in_flight=1000,
    guild_daily_pool=100_000,
    bot_daily_cap=100_000,
)


def make_job(
    job_id: str, *, created_at: float = 100.0, origin: Origin = Origin.TERMINAL, **extra: object
) -> Job:
    job = Job(
        id=job_id,
        state=JobState.QUEUED,
        prompt="calm piano ✨",
        negative_prompt=None,
        seed=2**32 - 1,
        model="google/lyria2",
        requester_id="alice",
        guild_id=str(BIG_ID),
        channel_id=None,
        origin=origin,
        context={"token": "abc", "nested": {"n": 1, "list": [1.5, None, "é"]}},
        created_at=created_at,
        updated_at=created_at,
        deadline_at=created_at + 600,
    )
    return replace(job, **extra)  # type: ignore[arg-type]


def member(user_id: int, guild_id: int | None = GUILD, **extra: object) -> Requester:
    return Requester(user_id=user_id, guild_id=guild_id, channel_id=CHANNEL, **extra)  # type: ignore[arg-type]


async def reserve(
    store: Store, requester: Requester, job_id: str, *, now: float = NOW, **defaults: object
) -> ReserveDecision:
    rules = ReservationRules(replace(ROOMY, **defaults))  # type: ignore[arg-type]
    return await store.quota.reserve(requester, job_id, now=now, blocked_term=None, rules=rules)


def granted(decision: ReserveDecision) -> bool:
    return isinstance(decision.outcome, Grant)


# -- jobs ----------------------------------------------------------------------------------------


async def test_a_job_round_trips_with_json_fields_and_64_bit_ids(store: Store) -> None:
    job = make_job(
        "j1",
        usage_headers={"x-aimlapi-used-credits": "3"},
        error_kind=ErrorKind.PROVIDER_FAILED,
        error_detail="flagged",
        audio_size_bytes=5 * 2**30,
        audio_duration_seconds=32.768,
        credits_used=0.1 + 0.2,
    )
    await store.jobs.insert(job)
    assert await store.jobs.get("j1") == job
    assert await store.jobs.get("missing") is None


async def test_a_transition_from_the_wrong_state_changes_nothing(store: Store) -> None:
    jobs = store.jobs
    await jobs.insert(make_job("j1"))
    moved = await jobs.transition("j1", JobState.QUEUED, JobState.SUBMITTING, now=101.0)
    assert moved is not None and moved.state is JobState.SUBMITTING and moved.updated_at == 101.0
    stale = await jobs.transition(
        "j1", [JobState.QUEUED, JobState.COMPLETED], JobState.CANCELLED, now=102.0, cancelled_by="b"
    )
    assert stale is None
    row = await jobs.get("j1")
    assert row is not None and row.state is JobState.SUBMITTING and row.cancelled_by is None
    assert row.updated_at == 101.0
    assert await jobs.transition("nope", JobState.QUEUED, JobState.FAILED, now=1.0) is None


async def test_updates_set_columns_and_refuse_unknown_ones(store: Store) -> None:
    jobs = store.jobs
    await jobs.insert(make_job("j1"))
    updated = await jobs.update("j1", now=110.0, poll_count=3, provider_status="waiting")
    assert updated is not None and updated.poll_count == 3 and updated.updated_at == 110.0
    assert await jobs.get("j1") == updated
    assert await jobs.update("j1", expected=JobState.SUBMITTED, now=111.0, seed=1) is None
    assert await jobs.update("missing", now=111.0, seed=1) is None
    with pytest.raises(ValueError, match="not job columns"):
        await jobs.update("j1", now=1.0, **{"state = 'x'; --": 1})  # type: ignore[arg-type]
    job = await jobs.get("j1")
    assert job is not None and job.seed == 2**32 - 1 and job.updated_at == 110.0


async def test_the_context_is_replaced_whole_and_delivery_is_its_own_record(
    store: Store,
) -> None:
    jobs = store.jobs
    await jobs.insert(make_job("j1"))
    job = await jobs.update("j1", now=120.0, context={"discord": {"message": 9}})
    assert job is not None and job.context == {"discord": {"message": 9}}
    record = Delivery(
        DeliveryVia.CHANNEL,
        message_id=BIG_ID,
        channel_id=BIG_ID + 1,
        files=("/audio/prepared/j1/calm.flac", "/audio/prepared/j1/waveform.png"),
    )
    not_yet = await jobs.deliver("j1", record, now=121.0)  # only a completed job is delivered
    assert not_yet is not None and not_yet.state is JobState.QUEUED and not_yet.delivery is None
    await jobs.transition("j1", JobState.QUEUED, JobState.COMPLETED, now=122.0)
    delivered = await jobs.deliver("j1", record, now=123.0)
    assert delivered is not None and delivered.state is JobState.DELIVERED
    assert delivered.delivery == record and delivered.delivered_at == 123.0
    assert await jobs.get("j1") == delivered
    assert await jobs.deliver("missing", record, now=1.0) is None


async def test_unfinished_jobs_come_oldest_first_and_can_be_filtered_by_origin(
    store: Store,
) -> None:
    jobs = store.jobs
    await jobs.insert(make_job("late", created_at=300.0))
    await jobs.insert(make_job("early", created_at=100.0, origin=Origin.DISCORD))
    await jobs.insert(make_job("done", created_at=50.0))
    await jobs.transition("done", JobState.QUEUED, JobState.CANCELLED, now=60.0)
    assert [job.id for job in await jobs.unfinished()] == ["early", "late"]
    assert [job.id for job in await jobs.unfinished({Origin.DISCORD})] == ["early"]
    assert await jobs.unfinished(set()) == []
    assert await jobs.count_by_state() == {JobState.QUEUED: 2, JobState.CANCELLED: 1}


async def test_poll_counts_reach_submitted_jobs_only_and_never_go_down(store: Store) -> None:
    jobs = store.jobs
    for job_id in ("a", "b", "c"):
        await jobs.insert(make_job(job_id))
    await jobs.transition("a", JobState.QUEUED, JobState.SUBMITTED, now=1.0, poll_count=9)
    await jobs.transition("b", JobState.QUEUED, JobState.SUBMITTED, now=1.0)
    await jobs.save_poll_counts([("a", 4, None), ("b", 6, "generating"), ("c", 7, "x")])
    await jobs.save_poll_counts([])
    a, b, c = [await jobs.get(job_id) for job_id in ("a", "b", "c")]
    assert a is not None and (a.poll_count, a.provider_status) == (9, None)
    assert b is not None and (b.poll_count, b.provider_status) == (6, "generating")
    assert c is not None and (c.poll_count, c.provider_status) == (0, None)


async def test_generation_time_history_is_bounded_and_learnt_with_an_update(
    store: Store,
) -> None:
    jobs = jobs_with_history(store, limit=5)
    for i in range(7):
        await jobs.record_generation_time(f"j{i}", 30.0 + i, now=float(i))
    await jobs.insert(make_job("j9"))
    refused = Observation(0.5, 98.0, 99.0)
    assert await jobs.update("j9", expected=JobState.SUBMITTED, now=1.0, learn=refused) is None
    seen = Observation(100.0, 39.0, 40.5, started_after=1.5, started_by=3.0)
    assert await jobs.update("j9", now=140.5, learn=seen, provider_status="done")
    assert await jobs.generation_times() == [33.0, 34.0, 35.0, 36.0, 40.5]
    assert (await jobs.generation_observations())[-1] == seen


async def test_observations_round_trip_oldest_first_and_bounded(store: Store) -> None:
    jobs = jobs_with_history(store, limit=3)
    seen = [
        Observation(1000.0 + i, lower=30.0 + i, upper=31.5 + i, started_after=1.5, started_by=3.0)
        for i in range(4)
    ]
    seen.append(Observation(1004.0, lower=0.0, upper=1.5))  # the first poll saw it done
    for i, observation in enumerate(seen):
        await jobs.record_observation(f"j{i}", observation, now=2000.0 + i)
    assert await jobs.generation_observations() == seen[2:]
    assert await jobs.generation_times() == [33.5, 34.5, 1.5]  # the upper bounds


async def test_single_times_and_rows_from_before_intervals_read_as_exact(store: Store) -> None:
    jobs = store.jobs
    await jobs.record_generation_time("new", 40.0, now=1100.0)
    # A row as written before migration 0005: no bounds, no submission time.
    await execute(
        store,
        "INSERT INTO generation_times (job_id, seconds, recorded_at) VALUES ('old', 42.0, 1200.0)",
    )
    assert await jobs.generation_observations() == [
        Observation.exact(1060.0, 40.0),
        Observation.exact(1158.0, 42.0),
    ]


async def test_only_finished_generations_are_recorded(store: Store) -> None:
    jobs = store.jobs
    with pytest.raises(ValueError, match="finished"):
        await jobs.record_observation("j", Observation(0.0, 5.0, None), now=1.0)
    await jobs.insert(make_job("j"))
    with pytest.raises(ValueError, match="finished"):
        await jobs.update("j", now=1.0, learn=Observation(0.0, 5.0, None), provider_status="x")
    assert await jobs.generation_observations() == []
    job = await jobs.get("j")
    assert job is not None and job.provider_status is None  # nothing written


async def test_a_generation_id_belongs_to_one_job_only(store: Store) -> None:
    jobs = store.jobs
    await jobs.insert(make_job("a"))
    await jobs.insert(make_job("b"))
    await jobs.update("a", now=1.0, generation_id="gen-1")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await jobs.update("b", now=2.0, generation_id="gen-1")
    b = await jobs.get("b")
    assert b is not None and b.generation_id is None and b.updated_at == 100.0
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await jobs.insert(make_job("a"))


async def test_history_lists_one_members_delivered_tracks_here_newest_first(
    store: Store,
) -> None:
    jobs = store.jobs
    record = Delivery(DeliveryVia.INTERACTION, message_id=1, channel_id=2)
    for i, (guild, requester) in enumerate(
        [(str(BIG_ID), "alice"), (str(BIG_ID), "alice"), (None, "alice"), (str(BIG_ID), "bob")]
    ):
        job_id = f"h{i}"
        await jobs.insert(
            make_job(job_id, created_at=100.0 + i, guild_id=guild, requester_id=requester)
        )
        await jobs.transition(job_id, JobState.QUEUED, JobState.COMPLETED, now=200.0)
        await jobs.deliver(job_id, record, now=201.0)
        await jobs.insert(make_job(f"failed{i}", created_at=100.0 + i, guild_id=guild))
    assert [job.id for job in await jobs.history("bob", str(BIG_ID), limit=5)] == ["h3"]
    here = await jobs.history("alice", str(BIG_ID), limit=5)
    assert [job.id for job in here] == ["h1", "h0"]  # not the DM one, not bob's, not undelivered
    assert [job.id for job in await jobs.history("alice", str(BIG_ID), limit=1, offset=1)] == ["h0"]
    assert [job.id for job in await jobs.history("alice", None, limit=5)] == ["h2"]


async def test_unreported_failures_are_recent_failed_jobs_nobody_was_told_of(
    store: Store,
) -> None:
    jobs = store.jobs
    for job_id, origin in (("told", Origin.DISCORD), ("untold", Origin.DISCORD)):
        await jobs.insert(make_job(job_id, origin=origin))
        await jobs.transition(job_id, JobState.QUEUED, JobState.FAILED, now=500.0)
    await jobs.insert(make_job("old", origin=Origin.DISCORD))
    await jobs.transition("old", JobState.QUEUED, JobState.FAILED, now=100.0)
    await jobs.insert(make_job("terminal"))
    await jobs.transition("terminal", JobState.QUEUED, JobState.FAILED, now=500.0)
    await jobs.insert(make_job("running", origin=Origin.DISCORD))
    await jobs.update("told", now=501.0, failure_reported_at=501.0)
    found = await jobs.unreported_failures([Origin.DISCORD], since=400.0)
    assert [job.id for job in found] == ["untold"]
    assert {job.id for job in await jobs.unreported_failures(None, since=400.0)} == {
        "untold",
        "terminal",
    }
    assert await jobs.unreported_failures([], since=0.0) == []


# -- quota: the ledger --------------------------------------------------------------------------


async def test_a_grant_takes_pool_cap_and_window_and_a_refund_gives_them_back(
    store: Store,
) -> None:
    decision = await reserve(store, member(7), "j1", guild_daily_pool=3, member_limit_per_window=2)
    assert decision.outcome == Grant("j1", member_remaining=1, pool_remaining=2)
    stored = await store.quota.reservation("j1")
    assert stored is not None and stored == decision.reservation
    period = pool_key(NOW, 0)
    assert await store.quota.pool_used(GUILD, period) == 1
    query = UsageQuery(
        in_flight_since=0.0, window_since=0.0, pool_period=period, bot_day=utc_day(NOW)
    )
    usage = await store.quota.usage(GUILD, 7, query)
    assert (usage.in_flight, usage.window_times, usage.pool_used, usage.bot_used) == (
        1,
        (NOW,),
        1,
        1,
    )

    assert await store.quota.refund("j1", now=NOW + 1) is True
    assert await store.quota.refund("j1", now=NOW + 2) is False  # idempotent
    assert await store.quota.commit("j1", now=NOW + 3) is False  # refunded stays refunded
    usage = await store.quota.usage(GUILD, 7, query)
    assert (usage.in_flight, usage.window_times, usage.pool_used, usage.bot_used) == (0, (), 0, 0)
    refunded = await store.quota.reservation("j1")
    assert refunded is not None and refunded.state is ReservationState.REFUNDED
    assert not refunded.in_flight and refunded.updated_at == NOW + 1


async def test_commit_is_idempotent_and_a_committed_credit_is_not_refunded(store: Store) -> None:
    assert granted(await reserve(store, member(7), "j1"))
    assert await store.quota.commit("j1", now=NOW + 1) is True
    assert await store.quota.commit("j1", now=NOW + 2) is False
    assert await store.quota.refund("j1", now=NOW + 3) is False
    kept = await store.quota.reservation("j1")
    assert kept is not None and kept.state is ReservationState.COMMITTED and kept.in_flight
    await store.quota.finish("j1", now=NOW + 4)
    done = await store.quota.reservation("j1")
    assert done is not None and not done.in_flight and done.state is ReservationState.COMMITTED
    assert await store.quota.commit("missing", now=NOW) is False
    assert await store.quota.refund("missing", now=NOW) is False


async def test_a_retry_with_the_same_job_id_takes_nothing_more(store: Store) -> None:
    first = await reserve(store, member(7), "j1", guild_daily_pool=3)
    again = await reserve(store, member(7), "j1", guild_daily_pool=3, now=NOW + 5)
    assert again.outcome == first.outcome and again.reservation is None
    assert await store.quota.pool_used(GUILD, pool_key(NOW, 0)) == 1
    with pytest.raises(ValueError, match="someone else"):
        await reserve(store, member(8), "j1")
    await store.quota.refund("j1", now=NOW + 6)
    assert (await reserve(store, member(7), "j1")).outcome == Refusal(Limit.DUPLICATE_JOB)


async def test_concurrent_reservations_never_exceed_the_pool(store: Store) -> None:
    decisions = await asyncio.gather(
        *(reserve(store, member(i % 40), f"j{i}", guild_daily_pool=50) for i in range(200))
    )
    assert sum(granted(d) for d in decisions) == 50
    assert await count(store, "quota_reservations") == 50
    assert await store.quota.pool_used(GUILD, pool_key(NOW, 0)) == 50
    refused = {d.outcome.limit for d in decisions if isinstance(d.outcome, Refusal)}
    assert refused == {Limit.GUILD_POOL}


async def test_concurrent_reservations_by_one_member_never_exceed_the_limits(
    store: Store,
) -> None:
    window = await asyncio.gather(
        *(reserve(store, member(7), f"w{i}", member_limit_per_window=5) for i in range(60))
    )
    assert sum(granted(d) for d in window) == 5
    flight = await asyncio.gather(
        *(reserve(store, member(8), f"f{i}", member_max_in_flight=2) for i in range(60))
    )
    assert sum(granted(d) for d in flight) == 2
    assert await count(store, "quota_reservations", "user_id = 8 AND in_flight") == 2


async def test_the_bot_wide_cap_spans_servers_and_direct_messages(store: Store) -> None:
    outcomes = [
        await reserve(store, member(1, GUILD), "a", bot_daily_cap=3),
        await reserve(store, member(2, OTHER_GUILD), "b", bot_daily_cap=3),
        await reserve(store, member(3, None), "c", bot_daily_cap=3),
        await reserve(store, member(4, OTHER_GUILD), "d", bot_daily_cap=3),
    ]
    assert [granted(d) for d in outcomes] == [True, True, True, False]
    refusal = outcomes[-1].outcome
    assert isinstance(refusal, Refusal) and refusal.limit is Limit.BOT_CAP
    dm = await store.quota.reservation("c")
    assert dm is not None and dm.guild_id == DM_GUILD_ID and dm.pool_period is None
    tomorrow = NOW + 86_400
    assert granted(await reserve(store, member(4, OTHER_GUILD), "e", now=tomorrow, bot_daily_cap=3))


async def test_extra_credit_is_spent_after_the_window_and_returned_on_refund(
    store: Store,
) -> None:
    assert await store.quota.add_extra_credit(GUILD, 7, 2) == 2
    assert granted(await reserve(store, member(7), "w", member_limit_per_window=1))
    extra = await reserve(store, member(7), "x", member_limit_per_window=1)
    assert extra.outcome == Grant("x", member_remaining=1, pool_remaining=100_000 - 2)
    assert (await store.quota.member(GUILD, 7)).extra_credit == 1
    await store.quota.refund("x", now=NOW + 1)
    assert (await store.quota.member(GUILD, 7)).extra_credit == 2
    assert await store.quota.add_extra_credit(GUILD, 7, -5) == 0  # never below nothing


async def test_a_members_window_can_be_reset(store: Store) -> None:
    assert granted(await reserve(store, member(7), "a", member_limit_per_window=1))
    assert not granted(await reserve(store, member(7), "b", member_limit_per_window=1))
    await store.quota.reset_member_window(GUILD, 7, now=NOW + 1)
    assert (await store.quota.member(GUILD, 7)).window_reset_at == NOW + 1
    assert granted(await reserve(store, member(7), "c", now=NOW + 2, member_limit_per_window=1))


async def test_release_orphans_refunds_only_old_reservations_without_a_job(store: Store) -> None:
    for job_id in ("orphan", "live"):
        assert granted(await reserve(store, member(7), job_id))
    await store.jobs.insert(make_job("live"))
    assert granted(await reserve(store, member(8), "young", now=NOW + 500))
    assert await store.quota.release_orphans(created_before=NOW + 100, now=NOW + 600) == 1
    states = {
        job_id: (r.state, r.in_flight)
        for job_id in ("orphan", "live", "young")
        if (r := await store.quota.reservation(job_id)) is not None
    }
    assert states == {
        "orphan": (ReservationState.REFUNDED, False),
        "live": (ReservationState.RESERVED, True),
        "young": (ReservationState.RESERVED, True),
    }


async def test_finish_ended_frees_the_slots_of_jobs_that_ended_without_finishing(
    store: Store,
) -> None:
    for job_id in ("ended", "running"):
        assert granted(await reserve(store, member(7), job_id))
        await store.jobs.insert(make_job(job_id))
    await store.jobs.transition("ended", JobState.QUEUED, JobState.FAILED, now=NOW)
    assert await store.quota.finish_ended(now=NOW + 1) == 1
    assert await store.quota.finish_ended(now=NOW + 2) == 0
    ended, running = [await store.quota.reservation(j) for j in ("ended", "running")]
    assert ended is not None and not ended.in_flight
    assert running is not None and running.in_flight


async def test_moving_the_pool_reset_carries_todays_usage_and_reservations(store: Store) -> None:
    old, new = pool_key(NOW, 0), pool_key(NOW, 600)
    assert old != new
    for job_id in ("j1", "j2"):
        assert granted(await reserve(store, member(7), job_id))
    carried = await store.quota.move_pool_period(
        GUILD, 600, old_period=old, new_period=new, now=NOW
    )
    assert carried == 2
    assert (await store.quota.pool_used(GUILD, old), await store.quota.pool_used(GUILD, new)) == (
        0,
        2,
    )
    settings = await store.quota.guild(GUILD)
    assert settings is not None and settings.reset_minute == 600
    assert await store.quota.refund("j1", now=NOW + 1) is True  # finds the moved usage
    assert await store.quota.pool_used(GUILD, new) == 1
    same = await store.quota.move_pool_period(GUILD, 600, old_period=new, new_period=new, now=NOW)
    assert same == 0 and await store.quota.pool_used(GUILD, new) == 1


async def test_finishing_with_a_note_records_the_outcome_once(store: Store) -> None:
    assert granted(await reserve(store, member(7), "j1"))
    note = GenerationNote("j1", GUILD, 7, "calm piano", "failed")
    await store.quota.finish("j1", now=NOW + 1, note=note)
    await store.quota.finish("j1", now=NOW + 2, note=replace(note, outcome="delivered", link="l"))
    assert await count(store, "quota_generation_log") == 1
    assert await count(store, "quota_generation_log", "outcome = 'delivered' AND link = 'l'") == 1
    finished = await store.quota.reservation("j1")
    assert finished is not None and not finished.in_flight


async def test_the_leaderboard_counts_spent_and_reserved_credit(store: Store) -> None:
    for i, user in enumerate([7, 7, 8, 9, 9, 9]):
        assert granted(await reserve(store, member(user), f"j{i}"))
    await store.quota.refund("j5", now=NOW + 1)
    await store.quota.commit("j0", now=NOW + 1)
    assert await store.quota.leaderboard(GUILD, NOW - 1, 10) == [(7, 2), (9, 2), (8, 1)]
    assert await store.quota.leaderboard(GUILD, NOW - 1, 1) == [(7, 2)]
    assert await store.quota.leaderboard(GUILD, NOW + 1, 10) == []


# -- quota: settings --------------------------------------------------------------------------


async def test_server_settings_are_set_put_back_and_refuse_unknown_columns(store: Store) -> None:
    assert await store.quota.guild(GUILD) is None
    await store.quota.set_guild(GUILD, {"daily_pool": 7, "paused": True}, now=NOW)
    await store.quota.set_guild(GUILD, {"modlog_channel_id": BIG_ID, "reset_minute": 90}, now=NOW)
    record = await store.quota.guild(GUILD)
    assert record is not None and (record.daily_pool, record.paused) == (7, True)
    assert (record.modlog_channel_id, record.reset_minute) == (BIG_ID, 90)
    await store.quota.set_guild(GUILD, {"daily_pool": None, "paused": False}, now=NOW)
    back = await store.quota.guild(GUILD)
    assert back is not None and back.daily_pool is None and not back.paused
    with pytest.raises(ValueError, match="unknown settings"):
        await store.quota.set_guild(GUILD, {"guild_id": 1}, now=NOW)  # type: ignore[typeddict-unknown-key]
    assert await store.quota.forget_modlog_channel(GUILD, BIG_ID + 1, now=NOW) is False
    assert await store.quota.forget_modlog_channel(GUILD, BIG_ID, now=NOW) is True
    gone = await store.quota.guild(GUILD)
    assert gone is not None and gone.modlog_channel_id is None


async def test_channels_overrides_bars_and_block_lists(store: Store) -> None:
    quota = store.quota
    await quota.set_allowed_channels(GUILD, [3, BIG_ID, 3], now=NOW)
    assert await quota.allowed_channels(GUILD) == frozenset({3, BIG_ID})
    record = await quota.guild(GUILD)
    assert record is not None and record.channels_restricted
    await quota.set_allowed_channels(GUILD, [], now=NOW)
    assert await quota.allowed_channels(GUILD) == frozenset()
    record = await quota.guild(GUILD)
    assert record is not None and not record.channels_restricted

    await quota.set_role_override(GUILD, RoleOverride(BIG_ID, 9, None, False))
    await quota.set_role_override(GUILD, RoleOverride(5, None, 2, True))
    await quota.set_role_override(GUILD, RoleOverride(5, 1, 3, False))
    assert await quota.role_overrides(GUILD) == [
        RoleOverride(5, 1, 3, False),
        RoleOverride(BIG_ID, 9, None, False),
    ]
    assert await quota.clear_role_override(GUILD, 5) is True
    assert await quota.clear_role_override(GUILD, 5) is False

    assert await quota.set_barred(GUILD, 7, False) is False  # not barred: nothing changes
    assert await quota.set_barred(GUILD, 7, True) is True
    assert await quota.set_barred(GUILD, 7, True) is False
    assert await quota.barred_members(GUILD) == [7]
    assert await quota.set_barred(GUILD, 7, False) is True
    assert await quota.barred_members(GUILD) == []

    word, regex = BlockedTerm(TermKind.WORD, "drill"), BlockedTerm(TermKind.REGEX, r"\bx+\b")
    assert await quota.add_blocked_term(GUILD, word, added_by=BIG_ID, now=NOW) is True
    assert await quota.add_blocked_term(GUILD, word, added_by=None, now=NOW) is False
    assert await quota.add_blocked_term(GUILD, regex, added_by=None, now=NOW) is True
    assert await quota.blocked_terms(GUILD) == [regex, word]
    assert await quota.blocked_terms(OTHER_GUILD) == []
    assert await quota.remove_blocked_term(GUILD, word) is True
    assert await quota.remove_blocked_term(GUILD, word) is False


async def test_the_rules_see_bars_pauses_channels_and_overrides(store: Store) -> None:
    quota = store.quota
    await quota.set_barred(GUILD, 7, True)
    barred = await reserve(store, member(7), "a")
    assert barred.outcome == Refusal(Limit.BARRED)
    await quota.set_guild(GUILD, {"paused": True}, now=NOW)
    assert (await reserve(store, member(8), "b")).outcome == Refusal(Limit.PAUSED)
    await quota.set_guild(GUILD, {"paused": False}, now=NOW)
    await quota.set_allowed_channels(GUILD, [CHANNEL + 1], now=NOW)
    assert (await reserve(store, member(8), "c")).outcome == Refusal(Limit.CHANNEL)
    assert granted(await reserve(store, member(8, is_moderator=True), "d"))
    await quota.set_allowed_channels(GUILD, [CHANNEL], now=NOW)
    await quota.set_role_override(GUILD, RoleOverride(5, None, None, True))
    exempt = member(9, role_ids=frozenset({5}))
    assert granted(await reserve(store, exempt, "e", member_limit_per_window=0))
    assert not granted(await reserve(store, member(9), "f", member_limit_per_window=0))
    blocked = await store.quota.reserve(
        member(9),
        "g",
        now=NOW,
        blocked_term=BlockedTerm(TermKind.WORD, "x"),
        rules=ReservationRules(ROOMY),
    )
    assert blocked.outcome == Refusal(Limit.BLOCKED_PROMPT)
    assert await store.quota.reservation("g") is None


# -- quota through the ledger, and across a restart ----------------------------------------------


async def test_the_quota_service_runs_on_the_store(store: Store) -> None:
    quota = Quota.build(store.quota, replace(ROOMY, guild_daily_pool=2), tasks=TaskTracker())
    results = [await quota.ledger.reserve(member(i), f"j{i}", "calm piano") for i in range(3)]
    assert [isinstance(r, Grant) for r in results] == [True, True, False]
    await quota.ledger.refund("j0")
    assert isinstance(await quota.ledger.reserve(member(3), "j3", "calm piano"), Grant)


async def test_a_reservation_survives_a_restart_and_stays_refundable(
    database_url: DatabaseUrl,
) -> None:
    first = await open_url(database_url)
    try:
        assert granted(await reserve(first, member(7), "kept", guild_daily_pool=1))
    finally:
        await first.close()
    second = await open_url(database_url)
    try:
        assert not granted(await reserve(second, member(8), "next", guild_daily_pool=1))
        assert await second.quota.refund("kept", now=NOW + 1) is True
        assert granted(await reserve(second, member(8), "next", guild_daily_pool=1))
        assert await second.schema_version() == second.expected_schema_version()
    finally:
        await second.close()
