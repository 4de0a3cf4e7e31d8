"""The estimator: what polling saw as intervals, recency weights, the prior, and a smooth
interval-censored estimate of generation times."""

from __future__ import annotations

import random
import statistics

import pytest

from bot.jobs.estimate import (
    HORIZON,
    Estimate,
    estimate,
    interval,
    recency_weights,
    vendor_prior_cdf,
    work_interval,
)
from bot.jobs.models import Observation
from tests.bot.jobs.support import polled


def test_an_observation_is_kept_in_seconds_after_submission() -> None:
    seen = Observation.from_polls(
        submitted_at=1000.0,
        seen_at=1031.5,
        last_pending_at=1030.0,
        last_queued_at=1004.0,
        generating_at=1006.0,
    )
    assert seen == Observation(1000.0, 30.0, 31.5, started_after=4.0, started_by=6.0)
    assert interval(seen) == (30.0, 31.5)
    assert work_interval(seen) == (24.0, 27.5)  # completion 30-31.5 s, start 4-6 s
    first_poll = Observation.from_polls(submitted_at=1000.0, seen_at=1001.5)
    assert interval(first_poll) == (0.0, 1.5)  # nothing in progress seen: only the upper bound
    assert work_interval(first_poll) is None
    assert not first_poll.is_exact and Observation.exact(0.0, 3.0).is_exact


def test_inconsistent_poll_times_are_clamped_not_trusted() -> None:
    # A `queued` answer later than the `generating` one says nothing about the start.
    odd = Observation.from_polls(
        submitted_at=0.0, seen_at=20.0, last_pending_at=25.0, last_queued_at=9.0, generating_at=6.0
    )
    assert (odd.lower, odd.upper) == (20.0, 20.0)
    assert (odd.started_after, odd.started_by) == (None, 6.0)
    # `queued` seen but never `generating`: no start bounds at all.
    queued_only = Observation.from_polls(submitted_at=0.0, seen_at=9.0, last_queued_at=3.0)
    assert (queued_only.started_after, queued_only.started_by) == (None, None)


def test_single_times_and_running_jobs_become_intervals() -> None:
    assert interval(Observation.exact(0.0, 40.0)) == (39.5, 40.5)  # from old history rows
    assert interval(Observation.exact(0.0, 0.2)) == (0.0, 1.0)
    running = Observation(0.0, 12.0, None)
    assert not running.finished and interval(running) == (12.0, HORIZON)


def test_recent_rounds_weigh_more_and_a_burst_counts_as_one_round() -> None:
    weights = recency_weights([0.0, 100.0, 200.0, 200.4, 200.9], half_life=1.0)
    assert weights == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert recency_weights([0.0, 10.0], half_life=4.0) == [pytest.approx(2**-0.25), 1.0]


def test_the_prior_follows_the_vendor_guidance() -> None:
    # "30-40 seconds or a bit more", "rarely exceeds 40 seconds"
    assert 0.07 <= vendor_prior_cdf(30.0) <= 0.14
    assert 0.75 <= vendor_prior_cdf(40.0) <= 0.85
    assert vendor_prior_cdf(45.0) >= 0.94
    assert vendor_prior_cdf(0.0) == 0.0
    assert estimate([], []).quantile(0.5) == pytest.approx(35.5, abs=0.5)


def test_intervals_recover_the_distribution_better_than_the_times_seen() -> None:
    rng = random.Random(1)
    truth = [rng.uniform(20.0, 40.0) for _ in range(300)]
    seen = [polled(rng, t, submitted_at=0.0) for t in truth]
    learnt = estimate([interval(o) for o in seen], [1.0] * len(seen), prior_weight=0.1)
    naive = sorted(o.upper or 0.0 for o in seen)  # the old way: when completion was seen
    for p, expected in ((0.1, 22.0), (0.5, 30.0), (0.9, 38.0)):
        assert learnt.quantile(p) == pytest.approx(expected, abs=0.8)
    assert statistics.median(naive) - 30.0 > 1.0  # biased late by about half a poll gap
    assert abs(learnt.quantile(0.5) - 30.0) < statistics.median(naive) - 30.0


def test_starting_from_an_earlier_estimate_converges_to_the_same_place() -> None:
    rng = random.Random(2)
    seen = [interval(polled(rng, rng.uniform(25.0, 60.0), submitted_at=0.0)) for _ in range(150)]
    weights = [1.0] * len(seen)
    cold = estimate(seen, weights)
    warm = estimate(seen, weights, start=estimate(seen[:-10], weights[:-10]))
    for p in (0.1, 0.5, 0.9):
        assert warm.quantile(p) == pytest.approx(cold.quantile(p), abs=0.3)


def test_an_estimate_is_a_consistent_distribution() -> None:
    learnt = Estimate((0.0, 10.0, 20.0), (1.0, 3.0))
    assert learnt.cumulative == (0.0, 0.25, 1.0)
    assert learnt.cdf(5.0) == 0.125 and learnt.cdf(-1.0) == 0.0 and learnt.cdf(25.0) == 1.0
    for p in (0.1, 0.25, 0.6, 0.99):
        assert learnt.cdf(learnt.quantile(p)) == pytest.approx(p)
    assert learnt.mean() == pytest.approx(0.25 * 5 + 0.75 * 15)
    samples = learnt.samples(8)
    assert len(samples) == 8 and samples == sorted(samples)
    with pytest.raises(ValueError, match="one more edge"):
        Estimate((0.0, 1.0), (1.0, 2.0))
    with pytest.raises(ValueError, match="some mass"):
        Estimate((0.0, 1.0), (0.0,))
