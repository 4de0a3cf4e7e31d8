"""When to poll a running generation. Pure computation, no I/O.

The plan (seconds after submission) merges three kinds of polls:

1. Early polls (`early_polls`, 1.5 s and 3 s): cheap status checks, so that a failure the
   provider reports at once, or a generation of a few seconds, reaches the member within ~3 s
   whatever the history says, and the status message shows the provider's state early.
2. The vendor bound: for every k ≥ 1, one poll in the window [k·P, k·P + `vendor_slack`]
   (P = `vendor_period`, 10 s, the loop of the vendor's example). That loop polls at 0, P, 2P …
   and so notices a generation of T seconds at P·⌈T/P⌉; this plan has polled by then plus the
   slack. So for *every* T, with any learnt distribution however wrong, the lag is at most the
   vendor loop's plus `vendor_slack` (0.3 s: 0.2 s of the 0.5 s allowance is left for the
   request's own latency).
3. Learnt polls, from the distribution F of generation times (given as `samples`): poll again
   `target_lag` seconds after the moment by which a further share of the jobs still running
   would have finished:  t[i+1] = Q(F(t[i]) + step_mass · S(t[i])) + target_lag,  with
   S = max(1 - F, 0.1) the share still running.
   A completion in (t[i], t[i+1] - target_lag) is the only way to be noticed later than
   `target_lag`; `step_mass` is the largest for which all gaps together hold at most
   `miss_budget` of such completions. So polls are dense where completions are likely and
   sparse elsewhere, and at least 1 - miss_budget of jobs are noticed within `target_lag`.
   Scaling by S lets each gap hold the same share of the jobs *still running*: an early poll
   is paid by every job, a late one only by the few still running, so late polls are the
   cheaper way to keep completions on time (on a uniform 25-60 s spread this saves about
   one poll per job at the same lag; the floor keeps the far tail from being polled densely).

Early polls and vendor windows are fixed points the learnt rule continues from: a learnt poll
that would fall just after one is replaced by it, and one that would fall just before a vendor
window moves into it when that costs little, so they are not added on top. Past the plan the
gaps grow by `tail_growth` up to `max_interval`, still one poll in every vendor window.

The samples come from `bot.jobs.learning` (an interval-censored estimate from what polling saw);
`from_history` keeps the older use, a list of generation times pooled with a prior.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

EARLY_POLLS: tuple[float, ...] = (1.5, 3.0)
VENDOR_PERIOD = 10.0
VENDOR_SLACK = 0.3
SURVIVAL_FLOOR = 0.1


def _vendor_prior(points: int = 40) -> tuple[float, ...]:
    bell = statistics.NormalDist(mu=32.0, sigma=6.0)
    return tuple(
        round(min(90.0, max(10.0, bell.inv_cdf((i + 0.5) / points))), 3) for i in range(points)
    )


# The vendor's guidance that a generation "rarely exceeds 40 seconds" (a bell around 32 s,
# 90 % under 40 s), for schedules built without a learner.
VENDOR_PRIOR: tuple[float, ...] = _vendor_prior()


@dataclass(frozen=True)
class PollSchedule:
    samples: tuple[float, ...]  # generation times in seconds (sorted on construction)
    target_lag: float = 1.4
    miss_budget: float = 0.045
    lead_polls: int = 0  # extra polls spread evenly before the first learnt one
    tail_growth: float = 1.5
    max_interval: float = 15.0
    early_polls: tuple[float, ...] = EARLY_POLLS
    vendor_period: float | None = VENDOR_PERIOD  # None: no vendor bound
    vendor_slack: float = VENDOR_SLACK
    plan: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a poll schedule needs at least one sample")
        if self.target_lag <= 0 or self.tail_growth < 1 or not 0 < self.miss_budget < 1:
            raise ValueError("invalid poll schedule parameters")
        if self.vendor_period is not None and not 0 <= self.vendor_slack < self.vendor_period:
            raise ValueError("invalid poll schedule parameters")
        ordered = tuple(sorted(max(0.0, s) for s in self.samples))
        object.__setattr__(self, "samples", ordered)
        object.__setattr__(self, "early_polls", tuple(sorted(p for p in self.early_polls if p > 0)))
        object.__setattr__(self, "plan", self._make_plan())

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> PollSchedule:
        """A schedule for a distribution given as samples (the vendor prior when empty)."""
        return cls(tuple(samples) if samples else VENDOR_PRIOR)

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

    # -- the vendor bound ------------------------------------------------------------------------

    def _window(self, t: float) -> int | None:
        """The vendor window k that time t lies in ([k·P, k·P + slack], k ≥ 1), if any."""
        period = self.vendor_period
        if period is None or t < period:
            return None
        k = math.floor(t / period + 1e-9)
        return k if t <= k * period + self.vendor_slack + 1e-9 else None

    def _deadline(self, after: float, last_poll: float | None = None) -> float:
        """The end of the first vendor window ending after `after` that `last_poll` (if any)
        has not already served; infinity without a vendor bound."""
        period = self.vendor_period
        if period is None:
            return math.inf
        k = max(1, math.ceil((after - self.vendor_slack) / period - 1e-9))
        end = k * period + self.vendor_slack
        if end <= after + 1e-9 or (last_poll is not None and self._window(last_poll) == k):
            end += period
        return end

    # -- the plan --------------------------------------------------------------------------------

    def _plan_for(self, step_mass: float) -> tuple[list[float], float]:
        """The plan for one `step_mass` and the share of jobs it notices later than target_lag."""
        plan: list[float] = []
        early = list(self.early_polls)
        spacing = self.target_lag / 4
        t = 0.0
        late = 0.0
        last_poll: float | None = None
        while len(plan) < 10_000:
            mass = self.cdf(t)
            while early and early[0] <= t + 1e-9:
                early.pop(0)
            if mass >= 1.0 and not early:
                break
            learnt = allowed = math.inf
            if mass < 1.0:
                allowed = step_mass * max(1.0 - mass, SURVIVAL_FLOOR)
                learnt = max(t + spacing, self.quantile(mass + allowed) + self.target_lag)
            deadline = self._deadline(t, last_poll)
            opens = deadline - self.vendor_slack  # the start of that vendor window
            # Just before a vendor window: a little later serves it (one poll, not two), if
            # that gap still holds at most twice its share of late completions.
            if (
                learnt < opens <= learnt + self.target_lag / 2
                and self.cdf(opens - self.target_lag) - mass <= 2 * allowed
            ):
                learnt = opens
            nxt = min(learnt, early[0] if early else math.inf, deadline)
            late += max(0.0, self.cdf(nxt - self.target_lag) - mass)
            plan.append(nxt)
            t = last_poll = nxt
        return plan, late

    def _make_plan(self) -> tuple[float, ...]:
        # The largest step_mass whose plan notices at most miss_budget late (binary search).
        low, high = 1e-5, self.miss_budget
        for _ in range(14):
            middle = (low + high) / 2
            if self._plan_for(middle)[1] <= self.miss_budget:
                low = middle
            else:
                high = middle
        plan, _ = self._plan_for(low)
        fixed = set(self.early_polls)
        first = next((p for p in plan if p not in fixed and self._window(p) is None), None)
        if self.lead_polls and first is not None and first > 2 * self.target_lag:
            lead = [first * i / (self.lead_polls + 1) for i in range(1, self.lead_polls + 1)]
            plan = sorted({*plan, *lead})
        return tuple(round(p, 6) for p in plan)

    def poll_times(self, until: float) -> list[float]:
        """Every poll time up to `until` (the plan followed by the tail)."""
        times: list[float] = []
        t = 0.0
        last: float | None = None
        while True:
            t += self.next_delay(t, last_poll=last)
            if t > until:
                return times
            times.append(t)
            last = t

    def next_delay(self, elapsed: float, *, last_poll: float | None = None) -> float:
        """Seconds from now (`elapsed` seconds after submission) until the next poll.

        `last_poll` (seconds after submission) keeps the plan's spacing when the plan was
        rebuilt while the job was running, and tells whether the current vendor window was
        already served. Never later than the vendor
        bound allows, whatever the plan says.
        """
        t = self._next_planned(elapsed)
        if last_poll is not None:
            # The job may have polled on an older plan: keep this plan's spacing here from
            # its own last poll, rather than polling twice in quick succession (or, if it fell
            # behind, wait no longer than that spacing).
            gap = t - self._previous_planned(t)
            t = min(self._next_planned(t), max(elapsed, last_poll + gap))
        t = min(t, self._deadline(elapsed, last_poll))
        return max(0.0, t - elapsed)

    def _previous_planned(self, t: float) -> float:
        """The planned poll before the planned poll at `t` (0 for the first)."""
        index = bisect.bisect_left(self.plan, t - 1e-9)
        if index == 0:
            return 0.0
        if index < len(self.plan):
            return self.plan[index - 1]
        previous = self.plan[-1]  # in the tail: walk it up to t
        while True:
            following = self._next_planned(previous)
            if following >= t - 1e-9:
                return previous
            previous = following

    def _next_planned(self, after: float) -> float:
        index = bisect.bisect_right(self.plan, after + 1e-9)
        if index < len(self.plan):
            return self.plan[index]
        # The tail: gaps grow geometrically from the last planned poll, one poll per window.
        t = self.plan[-1] if self.plan else 0.0
        gap = self.target_lag
        while t <= after + 1e-9:
            gap = min(self.max_interval, gap * self.tail_growth)
            t = min(t + gap, self._deadline(t, t))
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
