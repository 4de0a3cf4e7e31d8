"""The generation-time learner (running jobs, outliers, recency, shifts, work times) and the one
owner of the current schedule (`GenerationTimes`: when it rebuilds, what it counts)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from bot.jobs.learning import GenerationTimeLearner, GenerationTimes, refresh_due
from bot.jobs.models import Observation
from bot.jobs.poll_schedule import PollSchedule
from tests.bot.jobs.support import polled


def test_a_cold_learner_follows_the_vendor_guidance() -> None:
    cold = GenerationTimeLearner().estimate()
    assert cold.quantile(0.5) == pytest.approx(35.5, abs=0.5)


def test_jobs_still_running_keep_a_burst_from_learning_only_its_fastest_members() -> None:
    rng = random.Random(2)
    truth = [rng.uniform(20.0, 60.0) for _ in range(200)]
    now = 35.0  # a burst submitted together, 35 s ago
    finished = [polled(rng, t, submitted_at=0.0) for t in truth if t < now - 3]
    running = [Observation(0.0, now - rng.uniform(0.0, 3.0), None) for t in truth if t >= now - 3]
    learner = GenerationTimeLearner(finished)
    assert learner.estimate().cdf(35.0) > 0.95  # without them: nearly all done by 35 s
    with_running = learner.estimate(running)
    assert with_running.cdf(35.0) == pytest.approx(15 / 40, abs=0.08)
    assert with_running.quantile(0.9) > 40.0


def test_the_longest_running_jobs_alone_do_not_carry_the_estimate() -> None:
    rng = random.Random(3)
    history = [polled(rng, rng.uniform(25.0, 60.0), submitted_at=float(i)) for i in range(100)]
    learner = GenerationTimeLearner(history)
    alone = learner.estimate()
    stuck = learner.estimate([Observation(500.0, 170.0, None), Observation(600.0, 90.0, None)])
    assert stuck.cdf(60.0) == pytest.approx(alone.cdf(60.0), abs=1e-3)
    many = learner.estimate([Observation(500.0, 90.0, None)] * 10)
    assert many.cdf(60.0) < alone.cdf(60.0) - 0.1


def test_only_the_newest_observations_are_kept() -> None:
    learner = GenerationTimeLearner(
        (Observation.exact(float(i), 30.0 + i) for i in range(10)), capacity=4
    )
    assert [o.upper for o in learner.observations] == [36.0, 37.0, 38.0, 39.0]


@pytest.mark.parametrize(
    ("before", "after"), [((25.0, 60.0), (3.0, 12.0)), ((3.0, 12.0), (25.0, 60.0))]
)
def test_a_shift_is_followed_within_tens_of_jobs(
    before: tuple[float, float], after: tuple[float, float]
) -> None:
    rng = random.Random(4)
    learner = GenerationTimeLearner(
        polled(rng, rng.uniform(*before), submitted_at=10.0 * i, gap=1.5) for i in range(200)
    )
    low, high = after
    moved = []
    for i in range(50):
        learner.observe(polled(rng, rng.uniform(*after), submitted_at=3000.0 + 10.0 * i))
        learnt = learner.estimate()
        moved.append(learnt.cdf(high + 3.0) - learnt.cdf(low - 3.0))  # 3 s: the poll gap
    assert moved[0] < 0.15  # one job does not overturn the history
    assert moved[19] > 0.6  # half the weight has moved over after 12 jobs (the half-life)
    assert moved[49] > 0.85  # the rest: ~5 % old jobs, ~5 % the vendor's guidance


def test_a_shift_to_faster_generations_is_polled_for_within_fifty_jobs() -> None:
    """What the learner is for: history of 25-60 s, then jobs of 3-12 s."""
    rng = random.Random(5)
    learner = GenerationTimeLearner(
        Observation.exact(float(i), rng.uniform(25.0, 60.0)) for i in range(200)
    )
    lags = []
    for i in range(80):
        schedule = PollSchedule.from_samples(learner.samples())
        duration = rng.uniform(3.0, 12.0)
        t, last_pending, last = 0.0, 0.0, None
        while t < duration:
            last_pending = t
            t += schedule.next_delay(t, last_poll=last)
            last = t
        lags.append(t - duration)
        learner.observe(Observation(1000.0 + 10.0 * i, last_pending, t))
    first = sorted(lags[:10])
    settled = sorted(lags[50:])
    assert first[-1] > 5.0  # the history said 25-60 s
    assert settled[int(0.95 * len(settled))] <= 2.0


def test_the_work_time_is_learnt_from_the_provider_statuses() -> None:
    rng = random.Random(6)
    learner = GenerationTimeLearner()
    assert learner.work_times() is None
    for i in range(100):
        queue, work = rng.uniform(0.0, 20.0), rng.uniform(28.0, 32.0)
        started = polled(rng, queue, submitted_at=0.0, gap=1.5)
        done = polled(rng, queue + work, submitted_at=0.0, gap=1.5)
        learner.observe(Observation(float(i), done.lower, done.upper, started.lower, started.upper))
    work_times = learner.work_times()
    assert work_times is not None
    assert work_times.quantile(0.5) == pytest.approx(30.0, abs=1.0)
    assert learner.estimate().quantile(0.9) - learner.estimate().quantile(0.1) > 12.0


def test_invalid_use_is_refused() -> None:
    with pytest.raises(ValueError, match="finished"):
        GenerationTimeLearner().observe(Observation(0.0, 5.0, None))
    with pytest.raises(ValueError, match="invalid"):
        GenerationTimeLearner(half_life=0)


def test_the_schedule_is_rebuilt_after_completions_and_while_jobs_run() -> None:
    assert refresh_due(since_refresh=1.0, learnt_since_refresh=1, running=False)
    assert not refresh_due(since_refresh=0.5, learnt_since_refresh=3, running=True)
    assert not refresh_due(since_refresh=4.0, learnt_since_refresh=0, running=True)
    assert refresh_due(since_refresh=5.0, learnt_since_refresh=0, running=True)
    assert not refresh_due(since_refresh=60.0, learnt_since_refresh=0, running=False)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Recording:
    """A schedule factory that remembers the samples of every schedule it built."""

    def __init__(self) -> None:
        self.built: list[list[float]] = []

    def __call__(self, samples: Sequence[float]) -> PollSchedule:
        self.built.append(list(samples))
        return PollSchedule.from_samples(samples)


def test_generation_times_rebuild_once_a_second_after_completions() -> None:
    clock, factory = Clock(), Recording()
    times = GenerationTimes(factory, clock)
    times.load([Observation.exact(float(i), 40.0) for i in range(20)])
    assert len(factory.built) == 2  # at construction (cold) and on load
    loaded = times.schedule
    assert times.current() is loaded  # nothing new: no rebuild
    clock.now += 0.5
    times.learn("a", Observation(clock.now - 10.0, 9.0, 10.0))
    times.learn("b", Observation(clock.now - 10.0, 9.0, 10.0))
    assert len(factory.built) == 2  # within a second of the last rebuild
    clock.now += 0.5
    assert times.current() is not loaded and len(factory.built) == 3  # both at once
    assert times.typical() < 40.0  # the two fast ones count (recent)
    clock.now += 60.0
    times.current()
    assert len(factory.built) == 3  # nothing running, nothing learnt: the plan stands


def test_generation_times_count_running_jobs_until_they_stop() -> None:
    clock, factory = Clock(), Recording()
    times = GenerationTimes(factory, clock)
    times.load([Observation.exact(clock.now - 100.0 + i, 20.0) for i in range(50)])
    before = times.schedule.cdf(30.0)
    # Five jobs of a burst still running at 30 s (two of them are left out as outliers).
    for job in "abcde":
        times.still_running(job, submitted_at=clock.now - 31.0, seen_at=clock.now - 1.0)
    clock.now += 5.0
    assert times.current().cdf(30.0) < before - 0.05  # "longer than 30 s" moved mass later
    for job in "abcde":
        times.stopped(job)
    clock.now += 60.0
    built = len(factory.built)
    assert times.current() is times.schedule and len(factory.built) == built  # none running
