"""The adaptive poll schedule: sparse while completion is unlikely, dense where it is likely."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from bot.jobs.poll_schedule import VENDOR_PRIOR, PollSchedule, survival_samples


def simulate(schedule: PollSchedule, durations: list[float]) -> tuple[list[float], list[int]]:
    """Detection lag and poll count for each duration, following the schedule exactly."""
    lags, polls = [], []
    for duration in durations:
        t, count = 0.0, 0
        while t < duration:
            t += schedule.next_delay(t)
            count += 1
        lags.append(t - duration)
        polls.append(count)
    return lags, polls


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values))]


def bell(rng: random.Random) -> float:
    while True:
        value = rng.gauss(42, 6)
        if 25 <= value <= 60:
            return value


def test_the_prior_follows_the_vendor_guidance() -> None:
    assert len(VENDOR_PRIOR) >= 20
    under_40 = sum(1 for value in VENDOR_PRIOR if value <= 40) / len(VENDOR_PRIOR)
    assert 0.85 <= under_40 <= 0.95


def test_without_history_the_prior_is_used_and_history_takes_over() -> None:
    cold = PollSchedule.from_history([])
    assert cold.samples == tuple(sorted(VENDOR_PRIOR))
    warm = PollSchedule.from_history([50.0 + i / 10 for i in range(30)])
    assert min(warm.samples) == 50.0
    assert warm.typical() == pytest.approx(51.45)


def test_polls_are_dense_where_completion_is_likely_and_sparse_elsewhere() -> None:
    rng = random.Random(1)
    schedule = PollSchedule(tuple(bell(rng) for _ in range(300)), target_lag=1.0, lead_polls=1)
    times = schedule.poll_times(until=90)
    gaps = {round(t, 1): b - t for t, b in itertools.pairwise(times)}
    near_mode = [gap for t, gap in gaps.items() if 38 <= t <= 46]
    in_tails = [gap for t, gap in gaps.items() if t < 29 or t > 59]
    assert near_mode and max(near_mode) <= 1.2
    assert in_tails and min(in_tails) > max(near_mode)
    assert times[0] < 20  # the lead poll shows the provider's status early


def test_the_miss_budget_bounds_the_share_of_late_detections() -> None:
    rng = random.Random(2)
    samples = tuple(rng.uniform(25, 60) for _ in range(400))
    schedule = PollSchedule(samples, target_lag=1.0, miss_budget=0.05)
    lags, _ = simulate(schedule, list(samples))
    late = sum(1 for lag in lags if lag > 1.0 + 1e-9) / len(lags)
    assert 0 < late <= 0.05 + 0.01


def test_the_tail_backs_off_geometrically_up_to_the_cap() -> None:
    schedule = PollSchedule((40.0,) * 10, target_lag=1.0, tail_growth=2.0, max_interval=8.0)
    times = schedule.poll_times(until=100)
    tail = [t for t in times if t > 41]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(tail)]
    assert gaps[:3] == [4.0, 8.0, 8.0]
    assert all(gap <= 8.0 for gap in gaps)


def test_next_delay_is_always_positive_and_consistent() -> None:
    schedule = PollSchedule.from_history([])
    for elapsed in [0.0, 0.5, 10.0, 33.3, 45.0, 120.0, 600.0]:
        delay = schedule.next_delay(elapsed)
        assert delay > 0
        # Asking again at the planned time moves on to the following poll.
        assert schedule.next_delay(elapsed + delay) > 0


def test_a_learnt_bell_distribution_meets_the_lag_and_poll_targets() -> None:
    rng = random.Random(3)
    schedule = PollSchedule.from_history([bell(rng) for _ in range(200)])
    lags, polls = simulate(schedule, [bell(rng) for _ in range(2000)])
    assert p95(lags) <= 1.5
    assert statistics.fmean(polls) <= 12


def test_adaptive_beats_a_fixed_ten_second_loop_on_lag() -> None:
    rng = random.Random(4)
    durations = [rng.uniform(25, 60) for _ in range(1000)]
    schedule = PollSchedule.from_history([rng.uniform(25, 60) for _ in range(200)])
    lags, _ = simulate(schedule, durations)
    fixed_lags = [(-(-d // 10)) * 10 - d for d in durations]
    assert p95(lags) <= 1.5 < p95(fixed_lags)


def test_the_distribution_functions_are_consistent() -> None:
    schedule = PollSchedule(tuple(float(x) for x in range(10, 51)))
    for p in (0.05, 0.25, 0.5, 0.9):
        assert schedule.cdf(schedule.quantile(p)) == pytest.approx(p, abs=1e-9)
    assert schedule.cdf(5) == 0.0 and schedule.cdf(60) == 1.0


def test_expected_remaining_is_conditional_on_elapsed_time() -> None:
    schedule = PollSchedule((10.0, 20.0, 30.0))
    assert schedule.expected_remaining(0) == pytest.approx(20.0)
    assert schedule.expected_remaining(15) == pytest.approx(10.0)
    assert schedule.expected_remaining(31) is None
    assert schedule.completion_probability(20) == pytest.approx(2 / 3)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        PollSchedule(())
    with pytest.raises(ValueError, match="invalid"):
        PollSchedule((1.0,), target_lag=0)


def test_a_rebuilt_plan_never_polls_twice_in_quick_succession() -> None:
    schedule = PollSchedule(tuple(float(x) for x in range(30, 51)), target_lag=1.0)
    planned = schedule.plan[3]
    # The job last polled just before a planned time (the plan it followed was slightly off).
    delay = schedule.next_delay(planned - 0.1, last_poll=planned - 0.1)
    assert 0.5 <= delay <= 1.0  # at most one target lag after the previous poll
    assert schedule.next_delay(planned - 0.1) == pytest.approx(0.1)


def test_survival_samples_without_running_jobs_are_the_finished_ones() -> None:
    finished = [float(x) for x in range(10, 51)]
    samples = survival_samples(finished, [], points=100)
    assert len(samples) == 100
    assert min(samples) >= 10 and max(samples) <= 50
    assert statistics.median(samples) == pytest.approx(30, abs=1)


def test_running_jobs_stop_the_fast_finishers_from_dominating() -> None:
    # A burst: the first 10 of 100 jobs finished within 25-30 s, 90 still run at 31 s.
    finished = [25.0 + i / 2 for i in range(10)]
    naive = PollSchedule(tuple(finished))
    samples = survival_samples(finished, [31.0] * 90, prior=(), points=200)
    later = sum(1 for x in samples if x > 29.5) / len(samples)
    assert later >= 0.85  # most of the mass is still to come
    assert max(samples) > 40  # spread beyond the slowest finished job
    informed = PollSchedule(tuple(samples))
    assert informed.poll_times(until=45)[-1] > naive.plan[-1]  # keeps polling densely later


def test_the_unplaced_share_follows_the_prior_tail() -> None:
    samples = survival_samples([20.0] * 5, [21.0] * 15, prior=[10.0, 30.0, 35.0, 40.0, 45.0])
    assert min(x for x in samples if x > 20) >= 30
    assert max(samples) == 45
