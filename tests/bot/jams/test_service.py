"""The jam service on each backend (SQLite, PostgreSQL): the budget against the quota, entries,
votes under concurrency, deadlines taken once, endings that give the rest back."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import DatabaseUrl
from bot.jams.events import JamBudgetMoved, JamCancelled, JamEnded, JamStarted
from bot.jams.models import (
    Accepted,
    EndReason,
    EntryProblem,
    EntryRefusal,
    EntryState,
    Jam,
    JamPhase,
    JamSettings,
    PostKind,
    VoteChange,
    VoteProblem,
)
from bot.jams.service import ChannelBusy
from bot.quota.events import ModEvent, PromptBlocked
from bot.quota.models import Grant, Limit, Refusal, Requester
from bot.store.base import Store
from bot.store.connect import open_url
from tests.bot.jams.support import (
    CHANNEL,
    GUILD,
    HOST,
    MIDNIGHT,
    Clock,
    World,
    assert_budget_invariants,
    build,
)
from tests.bot.store.backends import count


@pytest.fixture
def clock() -> Clock:
    return Clock(MIDNIGHT + 10 * 3600)


@pytest.fixture
def world(store: Store, clock: Clock) -> World:
    return build(store, clock)


def events_of(world: World) -> list[ModEvent]:
    seen: list[ModEvent] = []

    async def collect(event: ModEvent) -> None:
        seen.append(event)

    world.quota.events.subscribe(collect)
    return seen


def member(user_id: int, channel_id: int = CHANNEL) -> Requester:
    return Requester(user_id=user_id, guild_id=GUILD, channel_id=channel_id)


# -- the budget and the pool -------------------------------------------------------------------


async def test_starting_takes_the_budget_from_the_pool_and_ending_gives_the_rest_back(
    world: World, store: Store
) -> None:
    events = events_of(world)
    jam = await world.start(budget=30)
    assert jam.phase is JamPhase.SUBMITTING and jam.round == 1
    assert await world.pool_counter() == 30
    assert (await world.quota.queries.pool_usage(GUILD)).used == 30
    for i in range(4):
        assert isinstance(await world.enter(jam, 100 + i, f"job{i:04d}"), Accepted)
    assert await world.pool_counter() == 30  # entries do not draw from the pool again
    await assert_budget_invariants(store)

    ended = await world.jams.end(jam, by=HOST)
    assert ended is not None and (ended.spent, ended.returned) == (4, 26)
    assert ended.jam.phase is JamPhase.ENDED and ended.jam.settled
    assert await world.pool_counter() == 4
    await assert_budget_invariants(store)
    assert [type(e) for e in events] == [JamBudgetMoved, JamStarted, JamEnded, JamBudgetMoved]
    moved = events[-1]
    assert isinstance(moved, JamBudgetMoved) and (moved.amount, moved.to_pool) == (26, True)
    assert await world.jams.end(jam, by=HOST) is None  # once


async def test_a_budget_larger_than_the_pool_left_is_refused_and_changes_nothing(
    store: Store, clock: Clock
) -> None:
    world = build(store, clock, guild_daily_pool=40)
    grant = await world.quota.ledger.reserve(member(5), "plainjob", "piano")
    assert isinstance(grant, Grant)
    refused = await world.jams.create(
        guild_id=GUILD, channel_id=CHANNEL, host_id=HOST, settings=JamSettings("t", budget=40)
    )
    assert isinstance(refused, Refusal) and refused.limit is Limit.GUILD_POOL
    assert (refused.remaining, refused.allowance) == (39, 40)
    assert await world.pool_counter() == 1
    assert await count(store, "jams") == 0
    assert isinstance(
        await world.jams.create(
            guild_id=GUILD, channel_id=CHANNEL, host_id=HOST, settings=JamSettings("t", budget=39)
        ),
        Jam,
    )


async def test_one_running_jam_per_channel(world: World) -> None:
    await world.start(budget=5)
    with pytest.raises(ChannelBusy):
        await world.jams.create(
            guild_id=GUILD, channel_id=CHANNEL, host_id=HOST, settings=JamSettings("again")
        )
    await world.start(CHANNEL + 1, budget=5)  # another channel may


async def test_a_paused_server_or_a_barred_host_cannot_start(world: World) -> None:
    await world.quota.moderation.set_paused(GUILD, True, by=1)
    paused = await world.jams.create(
        guild_id=GUILD, channel_id=CHANNEL, host_id=HOST, settings=JamSettings("t")
    )
    assert isinstance(paused, Refusal) and paused.limit is Limit.PAUSED
    await world.quota.moderation.set_paused(GUILD, False, by=1)
    await world.quota.moderation.set_barred(GUILD, HOST, True, by=1)
    barred = await world.jams.create(
        guild_id=GUILD, channel_id=CHANNEL, host_id=HOST, settings=JamSettings("t")
    )
    assert isinstance(barred, Refusal) and barred.limit is Limit.BARRED
    assert await world.pool_counter() == 0


async def test_concurrent_entries_never_exceed_the_budget(world: World, store: Store) -> None:
    jam = await world.start(budget=10)
    results = await asyncio.gather(*(world.enter(jam, 1000 + i, f"job{i:04d}") for i in range(60)))
    accepted = [r for r in results if isinstance(r, Accepted)]
    refused = [r for r in results if isinstance(r, Refusal)]
    assert len(accepted) == 10 and len(refused) == 50
    assert {r.limit for r in refused} == {Limit.JAM_BUDGET}
    assert sorted(a.budget_left for a in accepted) == list(range(10))
    assert sorted(a.entry.number for a in accepted) == list(range(1, 11))
    await assert_budget_invariants(store)


async def test_a_refunded_entry_goes_back_to_the_budget_and_frees_the_members_slot(
    world: World, store: Store
) -> None:
    jam = await world.start(budget=1)
    first = await world.enter(jam, 7, "job0001")
    assert isinstance(first, Accepted) and first.entries_left == 0
    again = await world.enter(jam, 8, "job0002")
    assert isinstance(again, Refusal) and again.limit is Limit.JAM_BUDGET
    await world.quota.ledger.refund("job0001")  # the provider refused it
    await world.jams.entry_finished("job0001", ok=False, audio_path=None)
    retry = await world.enter(jam, 7, "job0003")
    assert isinstance(retry, Accepted) and retry.budget_left == 0
    await assert_budget_invariants(store)


async def test_a_refund_after_the_jam_ended_goes_to_the_pool(world: World, store: Store) -> None:
    jam = await world.start(budget=5)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    ended = await world.jams.end(jam, by=HOST)
    assert ended is not None and ended.returned == 4
    assert await world.pool_counter() == 1
    await world.quota.ledger.refund("job0001")  # it was still in the queue, then failed
    assert await world.pool_counter() == 0
    after = await world.jams.get(jam.id)
    assert after is not None and after.returned == 5
    await assert_budget_invariants(store)


# -- member limits on entries --------------------------------------------------------------------


async def test_jam_entries_keep_member_limits_but_not_the_window(
    store: Store, clock: Clock
) -> None:
    world = build(store, clock, member_limit_per_window=1, member_max_in_flight=1)
    jam = await world.start(budget=10, entries_per_round=3)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    busy = await world.enter(jam, 7, "job0002")
    assert isinstance(busy, Refusal) and busy.limit is Limit.MEMBER_IN_FLIGHT
    await world.quota.ledger.finish("job0001")
    assert isinstance(await world.enter(jam, 7, "job0002"), Accepted)
    await world.quota.ledger.finish("job0002")
    # The member's own window (1 per hour) is untouched by jam entries.
    assert isinstance(await world.quota.ledger.reserve(member(7), "own", "piano"), Grant)

    await world.quota.moderation.set_barred(GUILD, 8, True, by=1)
    barred = await world.enter(jam, 8, "job0003")
    assert isinstance(barred, Refusal) and barred.limit is Limit.BARRED


async def test_a_blocked_prompt_is_refused_free_and_reported(world: World) -> None:
    events = events_of(world)
    jam = await world.start(budget=10, style="warm tape hiss")
    await world.quota.moderation.add_blocked_term(GUILD, "forbidden", by=1)
    blocked = await world.enter(jam, 7, "job0001", prompt="a forbidden chord")
    assert isinstance(blocked, Refusal) and blocked.limit is Limit.BLOCKED_PROMPT
    reported = [e for e in events if isinstance(e, PromptBlocked)]
    assert len(reported) == 1 and reported[0].prompt == "a forbidden chord, warm tape hiss"
    assert reported[0].channel_id == CHANNEL  # the jam's channel, not its thread
    snapshot = await world.jams.snapshot(jam.id)
    assert snapshot is not None and snapshot.entries == () and snapshot.spent == 0


async def test_entries_per_round_and_deadlines(world: World) -> None:
    jam = await world.start(budget=20, entries_per_round=2, rounds=2)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    assert isinstance(await world.enter(jam, 7, "job0002"), Accepted)
    used = await world.enter(jam, 7, "job0003")
    assert isinstance(used, EntryRefusal) and used.problem is EntryProblem.ENTRIES_USED
    assert used.allowance == 2 and used.round == 1
    assert used.next_round_at == jam.phase_ends_at + jam.settings.vote_seconds  # type: ignore[operator]

    await world.expire(jam)
    late = await world.enter(jam, 8, "job0004")
    assert isinstance(late, EntryRefusal) and late.problem is EntryProblem.ROUND_OVER
    [step] = await world.jams.advance_due()
    assert step.jam.phase is JamPhase.VOTING
    voting = await world.enter(jam, 8, "job0005")
    assert isinstance(voting, EntryRefusal) and voting.problem is EntryProblem.VOTING
    assert voting.next_round_at == step.jam.phase_ends_at

    await world.expire(jam)
    [step] = await world.jams.advance_due()
    assert (step.jam.phase, step.jam.round) == (JamPhase.SUBMITTING, 2)
    assert isinstance(await world.enter(jam, 7, "job0006"), Accepted)  # a fresh round
    await world.expire(jam)
    await world.jams.advance_due()
    await world.expire(jam)
    [last] = await world.jams.advance_due()
    assert last.jam.phase is JamPhase.ENDED and last.step.end_reason is EndReason.COMPLETED
    over = await world.enter(jam, 8, "job0007")
    assert isinstance(over, EntryRefusal) and over.problem is EntryProblem.NOT_RUNNING


async def test_a_riff_records_what_it_riffs_on(world: World) -> None:
    jam = await world.start(budget=10, entries_per_round=3)
    first = await world.enter(jam, 7, "job0001")
    assert isinstance(first, Accepted)
    riff = await world.enter(jam, 8, "job0002", riff_of="job0001", seed=5)
    assert isinstance(riff, Accepted) and riff.entry.riff_of == "job0001"
    mark = riff.mark()
    assert (mark.number, mark.riff_number, mark.riff_user_id) == (2, 1, 7)
    stranger = await world.enter(jam, 8, "job0003", riff_of="nosuchjob")
    assert isinstance(stranger, EntryRefusal) and stranger.problem is EntryProblem.RIFF_UNKNOWN


# -- votes -----------------------------------------------------------------------------------------


async def voting_jam(world: World, entrants: int) -> Jam:
    jam = await world.start(budget=entrants + 5, rounds=2)
    for i in range(entrants):
        result = await world.enter(jam, 100 + i, f"job{i:04d}")
        assert isinstance(result, Accepted)
        await world.jams.entry_finished(f"job{i:04d}", ok=True, audio_path=None)
    await world.expire(jam)
    [step] = await world.jams.advance_due()
    assert step.jam.phase is JamPhase.VOTING
    return step.jam


async def test_200_concurrent_votes_are_each_counted_once(world: World) -> None:
    jam = await voting_jam(world, 3)
    voters = range(1000, 1200)
    outcomes = await asyncio.gather(
        *(world.jams.vote(jam.id, 1 + v % 3, v) for v in voters),
        world.jams.vote(jam.id, 2, 100),  # the author of #1 votes for #2: fine
        world.jams.vote(jam.id, 1, 100),  # …but not for their own entry
    )
    assert [o.problem for o in outcomes[:-1]] == [None] * 201
    assert outcomes[-1].problem is VoteProblem.OWN_ENTRY
    hidden = await world.jams.snapshot(jam.id)
    assert hidden is not None and [e.votes for e in hidden.entries] == [0, 0, 0]  # not yet

    await world.expire(jam)
    await world.jams.advance_due()
    shown = await world.jams.snapshot(jam.id)
    assert shown is not None
    assert [e.votes for e in shown.entries] == [66, 68, 67]
    assert shown.voters == {1: 201}


async def test_voting_again_moves_the_vote(world: World) -> None:
    jam = await voting_jam(world, 3)
    first = await world.jams.vote(jam.id, 1, 500)
    moved = await world.jams.vote(jam.id, 2, 500)
    same = await world.jams.vote(jam.id, 2, 500)
    assert (first.change, moved.change, same.change) == (
        VoteChange.CAST,
        VoteChange.MOVED,
        VoteChange.UNCHANGED,
    )
    assert moved.previous == 1 and moved.closes_at == jam.phase_ends_at
    await world.expire(jam)
    await world.jams.advance_due()
    snapshot = await world.jams.snapshot(jam.id)
    assert snapshot is not None and [e.votes for e in snapshot.entries] == [0, 1, 0]


async def test_votes_are_refused_politely_and_change_nothing(world: World) -> None:
    jam = await world.start(budget=5, rounds=1)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    early = await world.jams.vote(jam.id, 1, 8)
    assert early.problem is VoteProblem.NOT_VOTING
    await world.expire(jam)
    await world.jams.advance_due()
    await world.quota.moderation.set_barred(GUILD, 9, True, by=1)
    assert (await world.jams.vote(jam.id, 1, 9)).problem is VoteProblem.BARRED
    assert (await world.jams.vote(jam.id, 7, 8)).problem is VoteProblem.UNKNOWN_ENTRY
    assert (await world.jams.vote("0000000000", 1, 8)).problem is VoteProblem.NOT_RUNNING
    await world.jams.entry_finished("job0001", ok=False, audio_path=None)
    assert (await world.jams.vote(jam.id, 1, 8)).problem is VoteProblem.FAILED_ENTRY
    await world.expire(jam)
    await world.jams.advance_due()
    assert (await world.jams.vote(jam.id, 1, 8)).problem is VoteProblem.NOT_RUNNING
    assert await count(world.store, "jam_votes") == 0


# -- deadlines ------------------------------------------------------------------------------------


async def test_a_due_step_is_taken_once_even_by_two_services_at_once(
    world: World, database_url: DatabaseUrl, clock: Clock
) -> None:
    jam = await world.start(budget=5)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    second = await open_url(database_url)  # a second process on the same database
    other = build(second, clock)
    await world.expire(jam)
    try:
        steps = await asyncio.gather(world.jams.advance_due(), other.jams.advance_due())
    finally:
        await second.close()
    assert sorted(len(s) for s in steps) == [0, 1]
    posts = await world.jams.pending_posts()
    assert [(p.kind, p.round) for p in posts] == [(PostKind.OPEN, 1), (PostKind.BALLOT, 1)]


async def test_a_round_without_entries_skips_voting(world: World) -> None:
    jam = await world.start(budget=5, rounds=2)
    await world.expire(jam)
    [step] = await world.jams.advance_due()
    assert (step.jam.phase, step.jam.round) == (JamPhase.SUBMITTING, 2)
    assert step.step.posts == (PostKind.RESULTS, PostKind.OPEN)


async def test_cancelling_returns_the_whole_unspent_budget_without_results(
    world: World, store: Store
) -> None:
    events = events_of(world)
    jam = await world.start(budget=12)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    cancelled = await world.jams.cancel(jam, by=HOST)
    assert cancelled is not None and cancelled.jam.phase is JamPhase.CANCELLED
    assert cancelled.step.posts == (PostKind.CANCELLED, PostKind.ANNOUNCE, PostKind.ARCHIVE)
    assert cancelled.returned == 11 and cancelled.jam.ended_by == HOST
    assert [type(e) for e in events] == [JamBudgetMoved, JamStarted, JamCancelled, JamBudgetMoved]
    await assert_budget_invariants(store)


async def test_a_deleted_thread_cancels_the_jam(world: World, store: Store) -> None:
    events = events_of(world)
    jam = await world.start(budget=12, thread_id=777)
    gone = await world.jams.thread_gone(777)
    assert gone is not None and gone.step.end_reason is EndReason.THREAD_DELETED
    assert gone.step.posts == (PostKind.ANNOUNCE,)
    cancelled = [e for e in events if isinstance(e, JamCancelled)]
    assert len(cancelled) == 1 and cancelled[0].reason is EndReason.THREAD_DELETED
    assert await world.jams.thread_gone(777) is None
    assert await world.pool_counter() == 0
    await assert_budget_invariants(store)
    assert (await world.jams.get(jam.id)) is not None


async def test_a_start_that_crashed_midway_is_given_up_and_its_budget_returned(
    world: World, clock: Clock, store: Store
) -> None:
    created = await world.jams.create(
        guild_id=GUILD, channel_id=CHANNEL, host_id=HOST, settings=JamSettings("t", budget=8)
    )
    assert isinstance(created, Jam) and created.phase is JamPhase.STARTING
    assert await world.jams.sweep_starting(older_than=300) == 0  # it may still be starting
    clock.advance(301)
    assert await world.jams.sweep_starting(older_than=300) == 1
    after = await world.jams.get(created.id)
    assert after is not None and after.end_reason is EndReason.START_FAILED
    assert await world.pool_counter() == 0
    await assert_budget_invariants(store)


async def test_entry_states_follow_the_job(world: World) -> None:
    jam = await world.start(budget=5)
    assert isinstance(await world.enter(jam, 7, "job0001"), Accepted)
    await world.jams.entry_finished("job0001", ok=True, audio_path="/tmp/x.wav")
    snapshot = await world.jams.snapshot(jam.id)
    assert snapshot is not None
    [entry] = snapshot.entries
    assert entry.state is EntryState.READY and entry.audio_path == "/tmp/x.wav"
    assert entry.final_prompt == "lofi beat" and entry.counted
