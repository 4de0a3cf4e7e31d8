"""The fair queue: round-robin between requesters, FIFO within one, positions for everyone."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bot.jobs.fair_queue import FairQueue


def drain(queue: FairQueue) -> list[str]:
    order = []
    while (job_id := queue.pop()) is not None:
        order.append(job_id)
    return order


def test_one_requester_is_first_come_first_served() -> None:
    queue = FairQueue()
    for i in range(3):
        queue.push(f"a{i}", "alice")
    assert drain(queue) == ["a0", "a1", "a2"]
    assert queue.pop() is None


def test_a_late_requester_does_not_wait_behind_a_flood() -> None:
    queue = FairQueue()
    for i in range(10):
        queue.push(f"a{i}", "alice")
    queue.push("b0", "bob")
    assert queue.position("b0") == 2
    assert drain(queue)[:3] == ["a0", "b0", "a1"]


def test_three_requesters_take_turns() -> None:
    queue = FairQueue()
    for i in range(3):
        queue.push(f"a{i}", "alice")
    for i in range(2):
        queue.push(f"b{i}", "bob")
    queue.push("c0", "carol")
    assert drain(queue) == ["a0", "b0", "c0", "a1", "b1", "a2"]


def test_positions_match_the_pop_order_in_random_mixes() -> None:
    rng = random.Random(7)
    for _ in range(50):
        queue = FairQueue()
        pops_between = []
        for i in range(rng.randint(1, 30)):
            queue.push(f"j{i}", f"user{rng.randint(0, 4)}")
            if rng.random() < 0.2:
                pops_between.append(queue.pop())
        expected = queue.positions()
        order = drain(queue)
        assert {job_id: index for index, job_id in enumerate(order, 1)} == expected


def test_every_requester_gets_a_fair_share_of_the_first_slots() -> None:
    queue = FairQueue()
    for user, count in {"alice": 20, "bob": 5, "carol": 5, "dave": 1}.items():
        for i in range(count):
            queue.push(f"{user}{i}", user)
    first_twelve = Counter(job_id.rstrip("0123456789") for job_id in drain(queue)[:12])
    assert first_twelve == {"alice": 4, "bob": 4, "carol": 3, "dave": 1}


def test_remove_updates_positions_and_an_emptied_requester_rejoins_at_the_back() -> None:
    queue = FairQueue()
    queue.push("a0", "alice")
    queue.push("b0", "bob")
    queue.push("c0", "carol")
    assert queue.remove("a0") is True
    assert queue.remove("a0") is False
    assert queue.position("b0") == 1
    queue.push("a1", "alice")
    assert queue.positions() == {"b0": 1, "c0": 2, "a1": 3}
    assert "a1" in queue and "a0" not in queue
    assert len(queue) == 3


def test_a_job_cannot_be_queued_twice() -> None:
    queue = FairQueue()
    queue.push("a0", "alice")
    with pytest.raises(ValueError, match="already queued"):
        queue.push("a0", "alice")


def test_a_requester_just_served_waits_behind_one_not_yet_served() -> None:
    queue = FairQueue()
    queue.push("a0", "alice")
    assert queue.pop() == "a0"
    queue.push("a1", "alice")
    queue.push("b0", "bob")
    assert queue.positions() == {"b0": 1, "a1": 2}
    assert drain(queue) == ["b0", "a1"]


def test_five_hundred_jobs_from_fifty_requesters_drain_one_per_requester_per_round() -> None:
    queue = FairQueue()
    for i in range(500):
        queue.push(f"j{i}", f"user{i % 50}")
    assert queue.position("j499") == 500
    order = drain(queue)
    assert len(order) == 500
    for start in range(0, 500, 50):
        assert len({int(job_id[1:]) % 50 for job_id in order[start : start + 50]}) == 50
