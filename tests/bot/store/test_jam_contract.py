"""The jam repository's contract, held against every backend (SQLite and PostgreSQL): each
`JamRepository` call gives the same answers and leaves the same rows, with the rules
(`JamRules`, `ReservationRules`) handed in as the service hands them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.jams.models import (
    Accepted,
    EndReason,
    EntryProblem,
    EntryRefusal,
    EntryState,
    Jam,
    JamPhase,
    Post,
    PostKind,
    Transition,
    VoteChange,
    VoteProblem,
)
from bot.quota.models import Limit, Refusal
from bot.store.base import Store
from tests.bot.store.backends import count, execute
from tests.bot.store.jam_support import (
    BIG,
    CHANNEL,
    GUILD,
    HOST,
    NOW,
    RULES,
    assert_budget_invariant,
    draft,
    enter,
    pool_used,
    quota_rules,
    started,
)
from tests.bot.store.test_contract import make_job

ROUND = 20 * 60
VOTE = 10 * 60


async def to_voting(store: Store, jam: Jam) -> Jam:
    moved = await store.jams.advance(jam.id, now=NOW + ROUND, rules=RULES)
    assert moved is not None and moved.jam.phase is JamPhase.VOTING
    return moved.jam


# -- settings and creation -----------------------------------------------------------------------


async def test_the_host_role_is_kept_per_server(store: Store) -> None:
    assert await store.jams.host_role(GUILD) is None
    await store.jams.set_host_role(GUILD, BIG)
    await store.jams.set_host_role(GUILD + 1, 5)
    assert await store.jams.host_role(GUILD) == BIG
    await store.jams.set_host_role(GUILD, None)
    assert await store.jams.host_role(GUILD) is None
    assert await store.jams.host_role(GUILD + 1) == 5


async def test_create_takes_the_budget_from_the_pool(store: Store) -> None:
    made = await store.jams.create(
        draft(channel_id=BIG, style="jazz", negative_prompt="vocals"), now=NOW, rules=quota_rules()
    )
    assert isinstance(made, Jam)
    assert (made.phase, made.round, made.channel_id, made.settled) == (
        JamPhase.STARTING,
        1,
        BIG,
        False,
    )
    assert (made.settings.style, made.settings.negative_prompt) == ("jazz", "vocals")
    assert made.thread_id is None and made.phase_ends_at is None
    assert await pool_used(store) == 10
    assert await store.jams.get("jam1") == made
    await assert_budget_invariant(store)


async def test_a_budget_over_the_pool_left_is_refused_and_writes_nothing(store: Store) -> None:
    refused = await store.jams.create(draft(budget=101), now=NOW, rules=quota_rules())
    assert isinstance(refused, Refusal) and refused.limit is Limit.GUILD_POOL
    assert refused.remaining == 100
    assert await count(store, "jams") == 0
    assert await pool_used(store) == 0
    await store.quota.set_barred(GUILD, HOST, True)
    barred = await store.jams.create(draft(), now=NOW, rules=quota_rules())
    assert isinstance(barred, Refusal) and barred.limit is Limit.BARRED


async def test_one_running_jam_per_channel(store: Store) -> None:
    first = await started(store, "jam1")
    assert await store.jams.create(draft("jam2"), now=NOW, rules=quota_rules()) is None
    assert await pool_used(store) == 10  # the second took nothing
    other = await store.jams.create(
        draft("jam3", channel_id=CHANNEL + 1), now=NOW, rules=quota_rules()
    )
    assert isinstance(other, Jam)
    await store.jams.finish(first.id, EndReason.CANCELLED, by=HOST, now=NOW + 5, rules=RULES)
    again = await store.jams.create(draft("jam2"), now=NOW + 6, rules=quota_rules())
    assert isinstance(again, Jam)


async def test_open_starts_round_one_once(store: Store) -> None:
    await store.jams.create(draft(), now=NOW, rules=quota_rules())
    opened = await store.jams.open(
        "jam1", thread_id=BIG, card_message_id=BIG - 1, now=NOW, rules=RULES
    )
    assert isinstance(opened, Transition)
    jam = opened.jam
    assert (jam.phase, jam.round, jam.thread_id, jam.card_message_id) == (
        JamPhase.SUBMITTING,
        1,
        BIG,
        BIG - 1,
    )
    assert jam.phase_ends_at == NOW + ROUND
    assert (
        await store.jams.open("jam1", thread_id=1, card_message_id=2, now=NOW, rules=RULES) is None
    )
    assert (
        await store.jams.open("nope", thread_id=1, card_message_id=2, now=NOW, rules=RULES) is None
    )
    assert [(p.kind, p.round) for p in await store.jams.pending_posts()] == [(PostKind.OPEN, 1)]


async def test_find_prefers_the_thread_then_the_running_jam(store: Store) -> None:
    jam = await started(store, "jam1")
    assert jam.thread_id is not None
    assert await store.jams.find(jam.thread_id) == jam
    assert await store.jams.find(CHANNEL) == jam
    assert await store.jams.find(12345) is None
    await store.jams.finish(jam.id, EndReason.ENDED, by=HOST, now=NOW + 5, rules=RULES)
    ended = await store.jams.find(CHANNEL)
    assert ended is not None and ended.id == "jam1" and ended.phase is JamPhase.ENDED
    second = await started(store, "jam2")
    assert await store.jams.find(CHANNEL) == second  # the running one, though not the first
    found = await store.jams.find(jam.thread_id)
    assert found is not None and found.id == "jam1"


# -- entries -------------------------------------------------------------------------------------


async def test_an_entry_is_reserved_from_the_jams_budget_and_written(store: Store) -> None:
    jam = await started(store, entries_per_round=2)
    accepted = await enter(store, jam, BIG, "job-1")
    assert isinstance(accepted, Accepted)
    assert (accepted.budget_left, accepted.entries_left) == (9, 1)
    e = accepted.entry
    assert (e.number, e.round, e.user_id, e.state, e.counted) == (
        1,
        1,
        BIG,
        EntryState.PENDING,
        True,
    )
    assert (e.prompt, e.final_prompt, e.seed) == ("lofi", "lofi, jazz", 7)
    reservation = await store.quota.reservation("job-1")
    assert reservation is not None
    assert (reservation.jam_id, reservation.pool_period, reservation.counts_member) == (
        jam.id,
        None,
        False,
    )
    assert await pool_used(store) == 10  # the jam holds it already
    again = await enter(store, jam, BIG, "job-1")  # a retry: the same entry, nothing more
    assert isinstance(again, Accepted) and again.entry == e
    assert await count(store, "quota_reservations") == 1
    second = await enter(store, jam, 42, "job-2", riff_of="job-1")
    assert isinstance(second, Accepted)
    assert second.entry.number == 2 and second.entry.riff_of == "job-1"
    assert second.riff_target == e
    await assert_budget_invariant(store)


async def test_entries_are_refused_for_the_rules_reasons(store: Store) -> None:
    jam = await started(store)
    assert isinstance(await enter(store, jam, 1, "a"), Accepted)
    used = await enter(store, jam, 1, "b")
    assert isinstance(used, EntryRefusal) and used.problem is EntryProblem.ENTRIES_USED
    assert used.allowance == 1 and used.next_round_at == NOW + ROUND + VOTE
    riff = await enter(store, jam, 2, "c", riff_of="no-such-entry")
    assert isinstance(riff, EntryRefusal) and riff.problem is EntryProblem.RIFF_UNKNOWN
    late = await enter(store, jam, 3, "d", now=NOW + ROUND)
    assert isinstance(late, EntryRefusal) and late.problem is EntryProblem.ROUND_OVER
    await to_voting(store, jam)
    voting = await enter(store, jam, 4, "e", now=NOW + ROUND + 1)
    assert isinstance(voting, EntryRefusal) and voting.problem is EntryProblem.VOTING
    await store.jams.finish(jam.id, EndReason.CANCELLED, by=HOST, now=NOW + ROUND + 2, rules=RULES)
    over = await enter(store, jam, 5, "f", now=NOW + ROUND + 3)
    assert isinstance(over, EntryRefusal) and over.problem is EntryProblem.NOT_RUNNING
    assert await count(store, "jam_entries") == 1
    assert await count(store, "quota_reservations") == 1
    with pytest.raises(LookupError):
        await enter(store, replace(jam, id="nope"), 6, "g")


async def test_a_spent_budget_refuses_and_a_refund_gives_it_back(store: Store) -> None:
    jam = await started(store, budget=2)
    assert isinstance(await enter(store, jam, 1, "a"), Accepted)
    last = await enter(store, jam, 2, "b")
    assert isinstance(last, Accepted) and last.budget_left == 0
    out = await enter(store, jam, 3, "c")
    assert isinstance(out, Refusal) and out.limit is Limit.JAM_BUDGET
    assert await store.quota.refund("a", now=NOW + 2) is True
    assert await pool_used(store) == 2  # still the jam's
    back = await enter(store, jam, 3, "c", now=NOW + 3)
    assert isinstance(back, Accepted) and back.budget_left == 0
    again = await enter(store, jam, 1, "a2", now=NOW + 4)  # the refund freed member 1's slot
    assert isinstance(again, Refusal) and again.limit is Limit.JAM_BUDGET
    await assert_budget_invariant(store)


async def test_set_entry_state_follows_the_job(store: Store) -> None:
    jam = await started(store)
    await enter(store, jam, 1, "a")
    assert await store.jams.set_entry_state("a", EntryState.READY, audio_path="/x/a.mp3") is True
    assert await store.jams.set_entry_state("a", EntryState.READY) is True  # the path stays
    assert await store.jams.set_entry_state("zzz", EntryState.FAILED) is False
    snap = await store.jams.snapshot(jam.id)
    assert snap is not None
    assert [(e.state, e.audio_path) for e in snap.entries] == [(EntryState.READY, "/x/a.mp3")]


# -- votes and steps -----------------------------------------------------------------------------


async def test_votes_cast_move_and_are_refused(store: Store) -> None:
    jam = await started(store)
    await enter(store, jam, 1, "a")
    await enter(store, jam, 2, "b")
    early = await store.jams.vote(jam.id, 1, 3, now=NOW + 2, rules=RULES)
    assert early.problem is VoteProblem.NOT_VOTING
    await to_voting(store, jam)
    at = NOW + ROUND + 1
    cast = await store.jams.vote(jam.id, 1, BIG, now=at, rules=RULES)
    assert (cast.problem, cast.change, cast.number, cast.round) == (None, VoteChange.CAST, 1, 1)
    assert cast.closes_at == NOW + ROUND + VOTE
    moved = await store.jams.vote(jam.id, 2, BIG, now=at, rules=RULES)
    assert (moved.change, moved.previous) == (VoteChange.MOVED, 1)
    same = await store.jams.vote(jam.id, 2, BIG, now=at, rules=RULES)
    assert same.change is VoteChange.UNCHANGED
    own = await store.jams.vote(jam.id, 1, 1, now=at, rules=RULES)
    assert own.problem is VoteProblem.OWN_ENTRY
    unknown = await store.jams.vote(jam.id, 9, 3, now=at, rules=RULES)
    assert unknown.problem is VoteProblem.UNKNOWN_ENTRY
    nojam = await store.jams.vote("nope", 1, 3, now=at, rules=RULES)
    assert nojam.problem is VoteProblem.NOT_RUNNING
    await store.quota.set_barred(GUILD, 4, True)
    barred = await store.jams.vote(jam.id, 1, 4, now=at, rules=RULES)
    assert barred.problem is VoteProblem.BARRED
    assert await count(store, "jam_votes") == 1
    hidden = await store.jams.snapshot(jam.id)
    assert hidden is not None and [e.votes for e in hidden.entries] == [0, 0]
    assert hidden.voters == {}


async def test_advance_takes_each_deadline_once_and_the_last_settles(store: Store) -> None:
    jam = await started(store, rounds=2)
    assert await store.jams.advance(jam.id, now=NOW + ROUND - 1, rules=RULES) is None
    await enter(store, jam, 1, "a")
    await enter(store, jam, 2, "b")
    voting = await to_voting(store, jam)
    assert voting.phase_ends_at == NOW + ROUND + VOTE
    assert await store.jams.advance(jam.id, now=NOW + ROUND, rules=RULES) is None
    await store.jams.vote(jam.id, 2, 3, now=NOW + ROUND + 1, rules=RULES)
    second = await store.jams.advance(jam.id, now=NOW + ROUND + VOTE, rules=RULES)
    assert second is not None and (second.jam.phase, second.jam.round) == (JamPhase.SUBMITTING, 2)
    assert second.step.posts == (PostKind.RESULTS, PostKind.OPEN)
    shown = await store.jams.snapshot(jam.id)
    assert shown is not None and [e.votes for e in shown.entries] == [0, 1]
    assert shown.voters == {1: 1}
    end_at = NOW + 2 * ROUND + VOTE
    ended = await store.jams.advance(jam.id, now=end_at, rules=RULES)  # no entries: no vote
    assert ended is not None and ended.jam.phase is JamPhase.ENDED
    assert ended.jam.end_reason is EndReason.COMPLETED and ended.jam.ended_by is None
    assert (ended.spent, ended.returned, ended.jam.settled, ended.jam.returned) == (2, 8, True, 8)
    assert await pool_used(store) == 2
    assert await store.jams.advance(jam.id, now=end_at + 999, rules=RULES) is None
    await assert_budget_invariant(store)


async def test_finish_gives_the_unspent_budget_back_and_later_refunds_too(store: Store) -> None:
    jam = await started(store)
    await enter(store, jam, 1, "a")
    await enter(store, jam, 2, "b")
    done = await store.jams.finish(jam.id, EndReason.CANCELLED, by=BIG, now=NOW + 9, rules=RULES)
    assert done is not None and done.jam.phase is JamPhase.CANCELLED
    assert (done.spent, done.returned, done.jam.ended_by, done.jam.ended_at) == (2, 8, BIG, NOW + 9)
    assert done.step.posts == (PostKind.CANCELLED, PostKind.ANNOUNCE, PostKind.ARCHIVE)
    assert await pool_used(store) == 2
    again = await store.jams.finish(jam.id, EndReason.ENDED, by=HOST, now=NOW + 10, rules=RULES)
    assert again is None
    assert await store.quota.refund("a", now=NOW + 11) is True  # after settling: to the pool
    assert await pool_used(store) == 1
    after = await store.jams.get(jam.id)
    assert after is not None and after.returned == 9
    await assert_budget_invariant(store)


async def test_snapshot_reads_the_whole_jam(store: Store) -> None:
    assert await store.jams.snapshot("nope") is None
    jam = await started(store)
    await enter(store, jam, 1, "a", prompt="rain")
    await store.quota.refund("a", now=NOW + 2)
    await enter(store, jam, 2, "b", now=NOW + 3)
    await store.jobs.insert(make_job("b"))
    snap = await store.jams.snapshot(jam.id)
    assert snap is not None
    assert snap.jam == jam and snap.spent == 1 and snap.budget_left == 9
    assert [(r.number, r.opened_at, r.submit_ends_at) for r in snap.rounds] == [
        (1, NOW, NOW + ROUND)
    ]
    assert [(e.number, e.user_id, e.counted) for e in snap.entries] == [(1, 1, False), (2, 2, True)]
    assert snap.entries[0].model is None  # its job row is not there
    assert snap.entries[1].model == "google/lyria2"  # from the entry's job
    assert snap.participants == [2]


# -- what the scheduler reads --------------------------------------------------------------------


async def test_due_stale_and_the_next_wakeup(store: Store) -> None:
    assert await store.jams.next_wakeup() is None
    assert await store.jams.due(NOW + 10**6) == []
    await store.jams.create(draft("stuck"), now=NOW - 100, rules=quota_rules())
    assert await store.jams.stale_starting(NOW - 100) == []
    assert await store.jams.stale_starting(NOW) == ["stuck"]
    late = await started(store, "late", channel_id=CHANNEL + 1, round_seconds=ROUND * 2)
    early = await started(store, "early", channel_id=CHANNEL + 2)
    assert await store.jams.next_wakeup() == NOW  # the OPEN posts are due now
    for post in await store.jams.pending_posts():
        await store.jams.post_done(post, now=NOW)
    assert await store.jams.next_wakeup() == NOW + ROUND
    assert await store.jams.due(NOW + ROUND - 1) == []
    assert await store.jams.due(NOW + ROUND) == [early.id]
    assert await store.jams.due(NOW + 2 * ROUND) == [early.id, late.id]


async def test_posts_are_claimed_by_one_done_once_and_put_off(store: Store) -> None:
    jam = await started(store)
    await store.jams.finish(jam.id, EndReason.ENDED, by=HOST, now=NOW + 5, rules=RULES)
    pending = await store.jams.pending_posts()
    assert [(p.kind, p.round, p.attempts) for p in pending] == [
        (PostKind.OPEN, 1, 0),
        (PostKind.SUMMARY, 1, 0),
        (PostKind.ANNOUNCE, 1, 0),
        (PostKind.ARCHIVE, 1, 0),
    ]
    post = pending[1]
    assert await store.jams.claim_post(post, now=NOW + 6, until=NOW + 66) is True
    assert await store.jams.claim_post(post, now=NOW + 7, until=NOW + 67) is False  # held
    assert await store.jams.claim_post(post, now=NOW + 66, until=NOW + 126) is True  # lapsed
    await store.jams.post_later(post, at=NOW + 200)
    moved = [p for p in await store.jams.pending_posts() if p.kind is PostKind.SUMMARY]
    assert moved == [Post(jam.id, PostKind.SUMMARY, 1, NOW + 200, 2)]
    assert await store.jams.claim_post(moved[0], now=NOW + 70, until=NOW + 130) is True
    await store.jams.post_done(moved[0], now=NOW + 71)
    assert await store.jams.claim_post(moved[0], now=NOW + 300, until=NOW + 360) is False
    assert PostKind.SUMMARY not in [p.kind for p in await store.jams.pending_posts()]
    await execute(store, "UPDATE jam_posts SET done_at = 1")
    assert await store.jams.pending_posts() == []


async def test_an_entry_that_fails_among_others_fails_alone(store: Store) -> None:
    jam = await started(store)
    results = await asyncio.gather(
        enter(store, jam, 1, "a"),
        enter(store, replace(jam, id="nope"), 2, "b"),
        enter(store, jam, 3, "c"),
        return_exceptions=True,
    )
    assert isinstance(results[0], Accepted) and isinstance(results[2], Accepted)
    assert isinstance(results[1], LookupError)
    assert await count(store, "jam_entries") == 2
    assert await count(store, "quota_reservations") == 2
    await assert_budget_invariant(store)
