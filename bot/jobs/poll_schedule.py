"""When to poll a running generation, learnt from how long past generations took.

Pure computation, no I/O. With F the distribution of generation times (from history), the plan
of poll times t1 < t2 < ... (seconds after submission) follows one rule:

    poll again `target_lag` seconds after the moment by which a further `step_mass` of jobs
    would have finished:  t[i+1] = Q(F(t[i]) + step_mass) + target_lag

A completion in (t[i], t[i+1] - target_lag) is the only way to be noticed later than
`target_lag`, and each gap holds exactly `step_mass` of such completions; `step_mass` is chosen
so that all gaps together hold at most `miss_budget`. So polls are sparse where completion is
unlikely (before and after the bulk of the distribution) and dense where it is likely, and at
least 1 - miss_budget of jobs are noticed within `target_lag`. Optional `lead_polls` add early
status checks. Past the slowest known time the gap grows by `tail_growth` up to `max_interval`.

Generations still running count too (`survival_samples`): a job running for `e` seconds says
"longer than `e`", so a burst of jobs does not learn only from its fastest members.

With no history yet, a prior stands in, built from the vendor's guidance that a generation
"rarely exceeds 40 seconds" (a bell around 32 s, 90 % under 40 s). While the history is shorter
than `min_samples`, history and prior are pooled.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def _vendor_prior(points: int = 40) -> tuple[float, ...]:
    bell = statistics.NormalDist(mu=32.0, sigma=6.0)
    return tuple(
        round(min(90.0, max(10.0, bell.inv_cdf((i + 0.5) / points))), 3) for i in range(points)
    )


VENDOR_PRIOR: tuple[float, ...] = _vendor_prior()


def survival_samples(
    finished: Sequence[float],
    running: Sequence[float],
    *,
    prior: Sequence[float] = VENDOR_PRIOR,
    points: int = 200,
) -> list[float]:
    """`points` generation times that represent both finished jobs and jobs still running.

    Learning only from finished jobs is biased when many run at once: the fast ones finish
    (and are learnt) first. A job still running after `e` seconds says "longer than `e`"; the
    Kaplan-Meier estimate uses both. The share it cannot place (beyond the slowest finished
    job) follows the prior's tail above that point, or, past the prior, a spread of half that
    time again.
    """
    observations = sorted([(t, 1) for t in finished] + [(t, 0) for t in running])
    at_risk = len(observations)
    survival = 1.0
    curve: list[tuple[float, float]] = []  # (time, share finished by then)
    i = 0
    while i < len(observations):
        t = observations[i][0]
        events = leaving = 0
        while i < len(observations) and observations[i][0] == t:
            events += observations[i][1]
            leaving += 1
            i += 1
        if events:
            survival *= 1 - events / at_risk
            curve.append((t, 1 - survival))
        at_risk -= leaving
    if not curve:
        return list(prior)
    placed = curve[-1][1]
    last = curve[-1][0]
    tail = sorted(x for x in prior if x > last)
    if len(tail) < 3:
        tail = [last + last * 0.5 * (k + 0.5) / points for k in range(points)]
    shares = [share for _, share in curve]
    samples: list[float] = []
    for k in range(points):
        p = (k + 0.5) / points
        if p <= placed:
            index = bisect.bisect_left(shares, p)
            samples.append(curve[min(index, len(curve) - 1)][0])
        else:
            q = (p - placed) / (1 - placed)
            samples.append(tail[min(len(tail) - 1, int(q * len(tail)))])
    return samples


@dataclass(frozen=True)
class PollSchedule:
    samples: tuple[float, ...]  # generation times in seconds (sorted on construction)
    target_lag: float = 1.2
    miss_budget: float = 0.04
    lead_polls: int = 0
    tail_growth: float = 1.5
    max_interval: float = 15.0
    plan: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a poll schedule needs at least one sample")
        if self.target_lag <= 0 or self.tail_growth < 1 or not 0 < self.miss_budget < 1:
            raise ValueError("invalid poll schedule parameters")
        ordered = tuple(sorted(max(0.0, s) for s in self.samples))
        object.__setattr__(self, "samples", ordered)
        object.__setattr__(self, "plan", self._make_plan())

    @classmethod
    def from_history(
        cls,
        history: Sequence[float],
        *,
        min_samples: int = 20,
        prior: Sequence[float] = VENDOR_PRIOR,
    ) -> PollSchedule:
        """Learn from `history` (pooled with `prior` while it has fewer than `min_samples`)."""
        samples = list(history)
        if len(samples) < min_samples:
            samples.extend(prior)
        return cls(tuple(samples))

    # -- the distribution (piecewise-linear between the sorted samples) --------------------------

    def cdf(self, t: float) -> float:
        xs = self.samples
        n = len(xs)
        if t < xs[0]:
            return 0.0
        if t >= xs[-1]:
            return 1.0
        i = bisect.bisect_right(xs, t) - 1  # xs[i] <= t < xs[i + 1]
        span = xs[i + 1] - xs[i]
        fraction = (t - xs[i]) / span if span > 0 else 0.0
        return (i + 0.5 + fraction) / n if n > 1 else 1.0

    def quantile(self, p: float) -> float:
        xs = self.samples
        n = len(xs)
        position = p * n - 0.5
        if position <= 0:
            return xs[0]
        if position >= n - 1:
            return xs[-1]
        i = math.floor(position)
        return xs[i] + (position - i) * (xs[i + 1] - xs[i])

    # -- the plan --------------------------------------------------------------------------------

    def _plan_for(self, step_mass: float) -> list[float]:
        plan: list[float] = []
        t = 0.0
        mass = 0.0
        while mass < 1.0 and len(plan) < 10_000:
            mass = min(1.0, mass + step_mass)
            t = max(t + 0.1, self.quantile(mass) + self.target_lag)
            plan.append(t)
            mass = self.cdf(t)
        return plan

    def _make_plan(self) -> tuple[float, ...]:
        # The largest step_mass whose gaps together hold at most miss_budget (binary search).
        low, high = 1e-5, self.miss_budget
        for _ in range(40):
            middle = (low + high) / 2
            if middle * len(self._plan_for(middle)) <= self.miss_budget:
                low = middle
            else:
                high = middle
        plan = self._plan_for(low)
        first = plan[0]
        if first > 2 * self.target_lag:
            lead = [first * i / (self.lead_polls + 1) for i in range(1, self.lead_polls + 1)]
            plan = lead + plan
        return tuple(round(p, 6) for p in plan)

    def poll_times(self, until: float) -> list[float]:
        """Every poll time up to `until` (the plan followed by the tail)."""
        times: list[float] = []
        t = 0.0
        while True:
            t += self.next_delay(t)
            if t > until:
                return times
            times.append(t)

    def next_delay(self, elapsed: float, *, last_poll: float | None = None) -> float:
        """Seconds from now (`elapsed` seconds after submission) until the next poll.

        `last_poll` (seconds after submission) keeps polls at least half a `target_lag` apart
        when the plan was rebuilt from new history while the job was running.
        """
        t = self._next_planned(elapsed)
        if last_poll is not None and t - last_poll < self.target_lag / 2:
            # Too close to the previous poll: take the following planned time, but no later
            # than one target lag after the previous poll.
            t = min(self._next_planned(t), max(elapsed, last_poll + self.target_lag))
        return t - elapsed

    def _next_planned(self, after: float) -> float:
        index = bisect.bisect_right(self.plan, after + 1e-9)
        if index < len(self.plan):
            return self.plan[index]
        # The tail: gaps grow geometrically from the last planned poll.
        t = self.plan[-1]
        gap = self.target_lag
        while t <= after + 1e-9:
            gap = min(self.max_interval, gap * self.tail_growth)
            t += gap
        return t

    # -- estimates -------------------------------------------------------------------------------

    def typical(self) -> float:
        """The median generation time."""
        return float(statistics.median(self.samples))

    def expected_remaining(self, elapsed: float) -> float | None:
        """Mean remaining time given the job has run `elapsed` seconds; None past all samples."""
        index = bisect.bisect_right(self.samples, elapsed)
        later = self.samples[index:]
        if not later:
            return None
        return max(0.0, statistics.fmean(later) - elapsed)

    def completion_probability(self, elapsed: float) -> float:
        """Fraction of past generations that finished within `elapsed` seconds."""
        return bisect.bisect_right(self.samples, elapsed) / len(self.samples)
