"""The adaptive poll schedule: sparse while completion is unlikely, dense where it is likely,
early status checks, and never later than the vendor's 10 s loop (+ 0.3 s) for any time."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from bot.jobs.poll_schedule import VENDOR_PRIOR, PollSchedule


def simulate(schedule: PollSchedule, durations: list[float]) -> tuple[list[float], list[int]]:
    """Detection lag and poll count for each duration, following the schedule exactly."""
    lags, polls = [], []
    for duration in durations:
        t, count, last = 0.0, 0, None
        while t < duration:
            t += schedule.next_delay(t, last_poll=last)
            count += 1
            last = t
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
    schedule = PollSchedule(
        (40.0,) * 10, target_lag=1.0, tail_growth=2.0, max_interval=8.0, vendor_period=None
    )
    times = schedule.poll_times(until=100)
    tail = [t for t in times if t > 41]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(tail)]
    assert gaps[:3] == [4.0, 8.0, 8.0]
    assert all(gap <= 8.0 for gap in gaps)


def test_the_tail_still_polls_once_in_every_vendor_window() -> None:
    schedule = PollSchedule((40.0,) * 10, target_lag=1.0, max_interval=60.0)
    tail = [t for t in schedule.poll_times(until=400) if t > 41]
    for k in range(5, 40):
        assert any(10 * k <= t <= 10 * k + 0.3 for t in tail), k
    assert len(tail) < 45  # ... and little more


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
    assert statistics.fmean(polls) <= 15  # 4 of them early and for the vendor bound


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


def test_a_rebuilt_plan_keeps_its_spacing_from_the_jobs_last_poll() -> None:
    schedule = PollSchedule(tuple(float(x) for x in range(30, 51)), target_lag=1.0)
    index = next(i for i, t in enumerate(schedule.plan) if 35 < t < 39)
    planned, gap = schedule.plan[index], schedule.plan[index] - schedule.plan[index - 1]
    # The job last polled just before a planned time (the plan it followed was slightly off):
    # not again 0.1 s later, but one planned gap after its own poll.
    delay = schedule.next_delay(planned - 0.1, last_poll=planned - 0.1)
    assert delay == pytest.approx(gap)
    assert schedule.next_delay(planned - 0.1) == pytest.approx(0.1)
    # A job that fell behind (a retry) polls now rather than waiting for the next planned time.
    assert schedule.next_delay(planned - 0.1, last_poll=planned - 3 * gap) == 0.0


def vendor_lag(duration: float) -> float:
    return 10 * math.ceil(duration / 10 - 1e-12) - duration


def distributions() -> list[tuple[float, ...]]:
    rng = random.Random(7)
    return [
        VENDOR_PRIOR,
        tuple(rng.uniform(25, 60) for _ in range(400)),
        tuple(rng.uniform(3, 12) for _ in range(400)),
        tuple(rng.expovariate(1 / 20) for _ in range(400)),
        (0.3,) * 5,
        (240.0, 241.0),
        tuple(rng.choice((5.0, 50.0)) + rng.random() for _ in range(200)),
    ]


@pytest.mark.parametrize("samples", distributions())
def test_for_every_time_the_lag_is_at_most_the_vendor_loops_plus_its_slack(
    samples: tuple[float, ...],
) -> None:
    """Whatever was learnt: the guarantee is built into the plan, not tuned."""
    schedule = PollSchedule(samples)
    times = schedule.poll_times(until=130)
    # Between consecutive poll times (ours or the vendor's) the difference is constant: one T
    # inside every piece, and both ends of each, covers every T in 0.5-120 s.
    breaks = sorted({0.5, 120.0, *(t for t in times if 0.5 < t < 120), *range(10, 120, 10)})
    probes = [*breaks, *((a + b) / 2 for a, b in itertools.pairwise(breaks))]
    for duration in probes:
        (lag,), _ = simulate(schedule, [duration])
        assert lag <= vendor_lag(duration) + 0.3 + 1e-9, duration


@pytest.mark.parametrize("samples", distributions())
def test_early_polls_notice_short_generations_and_quick_failures(
    samples: tuple[float, ...],
) -> None:
    schedule = PollSchedule(samples)
    assert schedule.plan[0] <= 1.5 and 3.0 in schedule.plan
    for tenths in range(5, 31):
        (lag,), _ = simulate(schedule, [tenths / 10])
        assert lag <= 2.0


def test_learnt_polls_continue_from_the_fixed_ones_instead_of_adding_to_them() -> None:
    rng = random.Random(8)
    schedule = PollSchedule(tuple(rng.uniform(2, 14) for _ in range(400)))
    dense = [t for t in schedule.plan if 2 <= t <= 14]
    gaps = [b - a for a, b in itertools.pairwise(dense)]
    assert min(gaps) >= 0.3 and max(gaps) <= 1.6  # no pile-up at 3.0 or 10.3
    assert any(10.0 <= t <= 10.3 for t in dense)


def test_a_job_that_missed_a_vendor_window_is_polled_by_the_next_window_end() -> None:
    schedule = PollSchedule((30.0,) * 5)
    rng = random.Random(9)
    for _ in range(500):
        elapsed = rng.uniform(0, 200)
        last = elapsed - rng.uniform(0, 12)
        due = elapsed + schedule.next_delay(elapsed, last_poll=last)
        k = math.ceil((elapsed - 0.3) / 10)  # the first window not yet over
        served = 10 * k <= last <= 10 * k + 0.3
        deadline = 10 * (k + 1) + 0.3 if served or 10 * k + 0.3 <= elapsed else 10 * k + 0.3
        assert due <= max(deadline, elapsed) + 1e-9
