"""A distribution of generation times from what polling saw. Pure computation, no I/O.

Polling never sees a completion happen; it sees that a job was still running at one poll and
finished by the next. So each finished job gives an *interval* (lower, upper] of seconds after
submission, and each job still running gives (lower, ∞). Recording the upper end (the time the
completion was *seen*) as if it were the generation time leaves the history unable to learn
that generations got faster: a sparse schedule sees fast jobs late, records them as slow, and
keeps polling sparsely where they now finish.

`estimate` is the maximum-likelihood estimate for interval-censored data (Turnbull's
self-consistency EM) on a fixed grid of cells (0.2 s wide for short times, 1.5 % of the time
for longer ones), with

* smoothing of the finished jobs' share at every step (EMS), since plain EM piles mass onto
  the few cells where intervals overlap and leaves holes a schedule would take for truth;
  within a wide interval the mass ends up spread about evenly, so the schedule polls through
  it, and the narrower intervals those polls produce sharpen the estimate;
* a Dirichlet prior (MAP): `prior_weight` pseudo-jobs spread along the vendor's guidance, so a
  cold start has a distribution, nothing is ever ruled out, and the shape beyond the last
  completion seen (where running jobs put their mass) follows the prior's tail;
* SQUAREM acceleration, and a start from the previous estimate: a few milliseconds a rebuild.

`recency_weights` weighs observations by how many submission rounds are newer; the learner
(`bot.jobs.learning`) decides which observations to pass.
"""

from __future__ import annotations

import bisect
import functools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from bot.jobs.models import Observation


def _grid(horizon: float = 1800.0) -> tuple[float, ...]:
    """Cell edges: 0.2 s apart for short times, then 1.5 % of the time (0.6 s at 40 s), and
    5 % past two minutes: a lag of a second is resolved where it matters, minutes cost few
    cells."""
    edges = [0.0]
    while edges[-1] < horizon:
        t = edges[-1]
        edges.append(round(t + max(0.2, (0.015 if t < 120 else 0.05) * t), 6))
    return tuple(edges)


_EDGES = _grid()
HORIZON = _EDGES[-1]  # a job still running is assumed to finish by then
# A time recorded as one number (history from before intervals) was a random point between
# two polls about a second apart: it counts as (t - 0.5, t + 0.5].
_EXACT_WIDTH = 1.0
ROUND_SECONDS = 1.0  # jobs submitted within this many seconds of each other are equally recent
SMOOTHING = 1.5  # cells (a Gaussian's sd): about 0.3 s for short times, 2 % of longer ones
PRIOR_WEIGHT = 1.0  # jobs: how much the vendor's guidance counts against what was seen
PRIOR_SPREAD = 0.01
_BELL = statistics.NormalDist(mu=math.log(35.5), sigma=math.log(42 / 30) / 2.5631)
_BROAD = statistics.NormalDist(mu=math.log(40.0), sigma=1.2)


def vendor_prior_cdf(t: float) -> float:
    """The vendor's guidance as a distribution of generation times (seconds).

    "Completed in 30-40 seconds or a bit more", "rarely exceeds 40 seconds": 99 % log-normal
    with 10 % under 30 s and 90 % under 42 s, and 1 % spread thinly over seconds to minutes
    (log-normal, median 40 s). The thin part costs the cold schedule almost no polls, yet
    shapes what the bell cannot: where in an observed interval far from the bell a completion
    lay (about evenly, not at the end nearest the bell), and how long a job that outlasted the
    bell may still run.
    """
    if t <= 0:
        return 0.0
    log_t = math.log(t)
    return (1 - PRIOR_SPREAD) * _BELL.cdf(log_t) + PRIOR_SPREAD * _BROAD.cdf(log_t)


def interval(observation: Observation) -> tuple[float, float]:
    """(lower, upper] for the estimator: a single time gets the width of the interval it was
    drawn from, a job still running is assumed to finish by the horizon."""
    if observation.upper is None:
        return min(max(0.0, observation.lower), HORIZON - _EXACT_WIDTH), HORIZON
    upper = min(observation.upper, HORIZON)
    lower = min(max(0.0, observation.lower), upper)
    if upper - lower < _EXACT_WIDTH:
        middle = (lower + upper) / 2
        lower = max(0.0, middle - _EXACT_WIDTH / 2)
        upper = lower + _EXACT_WIDTH
    return lower, upper


def work_interval(observation: Observation) -> tuple[float, float] | None:
    """(lower, upper] of the time from the provider's start of work to completion, when the
    polls bounded both (None otherwise)."""
    if observation.upper is None or observation.started_by is None:
        return None
    after = observation.started_after or 0.0
    low = max(0.0, observation.lower - observation.started_by)
    high = max(low, observation.upper - after)
    return low, high


@dataclass(frozen=True)
class Estimate:
    """A distribution of generation times: `masses[i]` spread evenly over
    (edges[i], edges[i + 1]]."""

    edges: tuple[float, ...]
    masses: tuple[float, ...]
    # The distribution function at each edge (0 at the first, 1 at the last).
    cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.masses) + 1 or not self.masses:
            raise ValueError("an estimate needs one more edge than masses")
        cumulative = [0.0]
        for mass in self.masses:
            cumulative.append(cumulative[-1] + mass)
        total = cumulative[-1]
        if total <= 0:
            raise ValueError("an estimate needs some mass")
        object.__setattr__(self, "cumulative", tuple(c / total for c in cumulative))

    def cdf(self, t: float) -> float:
        edges, cumulative = self.edges, self.cumulative
        if t <= edges[0]:
            return 0.0
        if t >= edges[-1]:
            return 1.0
        i = bisect.bisect_right(edges, t) - 1
        fraction = (t - edges[i]) / (edges[i + 1] - edges[i])
        return cumulative[i] + fraction * (cumulative[i + 1] - cumulative[i])

    def quantile(self, p: float) -> float:
        edges, cumulative = self.edges, self.cumulative
        if p <= 0:
            return edges[0]
        if p >= 1:
            return edges[-1]
        i = bisect.bisect_left(cumulative, p) - 1
        i = min(max(i, 0), len(self.masses) - 1)
        low, high = cumulative[i], cumulative[i + 1]
        fraction = 0.0 if high <= low else (p - low) / (high - low)
        return edges[i] + fraction * (edges[i + 1] - edges[i])

    def samples(self, points: int = 400) -> list[float]:
        """`points` evenly spaced quantiles: the distribution as a sample a schedule takes."""
        return [round(self.quantile((k + 0.5) / points), 4) for k in range(points)]

    def mean(self) -> float:
        return sum(
            mass * (low + high) / 2
            for mass, low, high in zip(self.masses, self.edges, self.edges[1:], strict=False)
        ) / sum(self.masses)


def recency_weights(
    submitted: Sequence[float], half_life: float, *, round_seconds: float = ROUND_SECONDS
) -> list[float]:
    """2^(-rounds / half_life), by how many submission rounds are newer than each job's.

    A round is a stretch of `round_seconds` from its newest submission back: jobs submitted
    together (a burst) are equally recent, so the order in which they finish cannot bias the
    estimate, and a burst counts as one step away for what came before it.
    """
    rounds: dict[float, int] = {}
    current = -1
    opened = math.inf
    for moment in sorted(set(submitted), reverse=True):
        if moment < opened - round_seconds:
            current += 1
            opened = moment
        rounds[moment] = current
    return [2.0 ** (-rounds[moment] / half_life) for moment in submitted]


def estimate(
    intervals: Sequence[tuple[float, float]],
    weights: Sequence[float],
    *,
    prior_cdf: Callable[[float], float] = vendor_prior_cdf,
    prior_weight: float = PRIOR_WEIGHT,
    smoothing: float = SMOOTHING,
    start: Estimate | None = None,
    tolerance: float = 2e-4,
    max_iterations: int = 200,
) -> Estimate:
    """A smooth estimate of a distribution from weighted interval observations (lower, upper];
    an upper bound at the horizon (or beyond) marks a job still running.

    EM: each observation's weight is shared among the cells inside its interval in proportion
    to their current mass, and `prior_weight` pseudo-observations as the prior says. The share
    of finished jobs is smoothed over neighbouring cells (a Gaussian of `smoothing` cells) at
    every step (EMS); the share of running jobs is not, as nothing bounds it on the right and
    repeated smoothing would spread it without end. `start` (an earlier estimate) speeds up
    convergence.
    """
    edges = _EDGES
    cells = len(edges) - 1
    prior_cells = _prior_cells(prior_cdf)

    # Observations over the same cells share one term.
    grouped: dict[tuple[int, int], float] = {}
    for (low, high), weight in zip(intervals, weights, strict=True):
        if weight <= 0:
            continue
        first = min(_nearest_edge(low), cells - 1)
        last = cells if high >= HORIZON else max(first + 1, min(_nearest_edge(high), cells))
        grouped[(first, last)] = grouped.get((first, last), 0.0) + weight
    if not grouped:
        return Estimate(edges, tuple(prior_cells))
    terms = list(grouped.items())
    denominator = sum(grouped.values()) + prior_weight
    kernel = _kernel(smoothing)
    prior_share = [prior_weight * m / denominator for m in prior_cells]

    def step(masses: list[float]) -> list[float]:
        """One EM step with smoothing of the finished share."""
        prefix = [0.0]
        for mass in masses:
            prefix.append(prefix[-1] + mass)
        finished = [0.0] * (cells + 1)
        running = [0.0] * (cells + 1)
        for (first, last), weight in terms:
            inside = prefix[last] - prefix[first]
            if inside > 0:
                shares = running if last == cells else finished
                shares[first] += weight / inside / denominator
                shares[last] -= weight / inside / denominator
        finished_mass: list[float] = []
        running_mass: list[float] = []
        level_finished = level_running = 0.0
        for j in range(cells):
            level_finished += finished[j]
            level_running += running[j]
            finished_mass.append(masses[j] * level_finished)
            running_mass.append(masses[j] * level_running)
        smoothed = _smooth(finished_mass, kernel)
        return [f + r + p for f, r, p in zip(smoothed, running_mass, prior_share, strict=True)]

    if start is not None and start.edges == edges:
        masses = [m + 1e-12 for m in start.masses]
    else:
        masses = list(prior_cells)
    steps = 0
    while steps < max_iterations:
        # SQUAREM (Varadhan & Roland 2008): two EM steps, then a step along their direction,
        # then one more EM step to settle; a few times fewer steps than plain EM.
        once = step(masses)
        twice = step(once)
        steps += 2
        if _drift(twice, once) < tolerance:
            masses = twice
            break
        r = [b - a for a, b in zip(masses, once, strict=True)]
        v = [c - 2 * b + a for a, b, c in zip(masses, once, twice, strict=True)]
        r_norm = math.sqrt(sum(x * x for x in r))
        v_norm = math.sqrt(sum(x * x for x in v))
        alpha = -1.0 if v_norm == 0 else min(-1.0, -r_norm / v_norm)
        jumped = [
            a - 2 * alpha * x + alpha * alpha * y for a, x, y in zip(masses, r, v, strict=True)
        ]
        if min(jumped) <= 0:
            jumped = twice
        settled = step(jumped)
        steps += 1
        done = _drift(settled, masses) < tolerance
        masses = settled
        if done:
            break
    return Estimate(edges, tuple(masses))


def _drift(new: Sequence[float], old: Sequence[float]) -> float:
    """How far the distribution function moved between two sets of masses, at its worst."""
    drift = change = 0.0
    for a, b in zip(new, old, strict=True):
        drift += a - b
        change = max(change, abs(drift))
    return change


@functools.lru_cache(maxsize=8)
def _prior_cells(prior_cdf: Callable[[float], float]) -> list[float]:
    """The prior's mass in each cell (normalised; every cell keeps a trace)."""
    masses = [max(prior_cdf(b) - prior_cdf(a), 0.0) + 1e-12 for a, b in pairwise(_EDGES)]
    total = sum(masses)
    return [m / total for m in masses]


def _nearest_edge(value: float) -> int:
    index = bisect.bisect_left(_EDGES, value)
    if index >= len(_EDGES):
        return len(_EDGES) - 1
    if index > 0 and value - _EDGES[index - 1] < _EDGES[index] - value:
        return index - 1
    return index


def _kernel(width: float) -> tuple[float, ...]:
    if width <= 0:
        return (1.0,)
    reach = max(1, math.ceil(2.5 * width))
    raw = [math.exp(-0.5 * (k / width) ** 2) for k in range(-reach, reach + 1)]
    total = sum(raw)
    return tuple(r / total for r in raw)


def _smooth(masses: list[float], kernel: tuple[float, ...]) -> list[float]:
    """Spread each cell's mass over its neighbours; what would spill past either end is
    folded back, so no mass is lost."""
    reach = len(kernel) // 2
    n = len(masses)
    if reach == 0 or n <= reach:
        return masses
    padded = [0.0] * (2 * reach) + masses + [0.0] * (2 * reach)
    width = n + 2 * reach
    full = [0.0] * width  # full[i] is cell i - reach
    for tap, share in enumerate(kernel):
        start = 2 * reach - tap
        shifted = padded[start : start + width]
        full = [total + share * mass for total, mass in zip(full, shifted, strict=True)]
    result = full[reach : reach + n]
    for i in range(reach):
        result[i] += full[reach - 1 - i]  # cell -1 - i folds onto cell i
        result[n - 1 - i] += full[reach + n + i]  # cell n + i folds onto cell n - 1 - i
    return result
