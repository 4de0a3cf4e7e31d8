"""How long generations take, learnt from what polling saw, and the poll schedule made from it.

`GenerationTimeLearner` keeps the newest observations (`bot.jobs.models.Observation`: still
running at one poll, done by the next) and estimates the distribution of generation times from
them (`bot.jobs.estimate`). It weighs them by recency: an observation's weight halves with every
`half_life` newer submission rounds (jobs submitted within a second of each other form one
round), so a shift of the provider (quiet hours, a faster backend, a shorter model) in either
direction is followed within tens of jobs. Ranking by submission rather than completion keeps a
burst unbiased: its fast members finish (and would be learnt) first. Jobs still running count
too ("longer than my last in-progress poll"), except the two that have run longest.

`GenerationTimes` is the one owner of the current `PollSchedule`: the learner, the jobs still
running, and when to rebuild (`refresh_due`: soon after completions, every few seconds while
jobs run; a rebuild costs a few milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from bot.jobs.estimate import (
    PRIOR_WEIGHT,
    Estimate,
    estimate,
    interval,
    recency_weights,
    vendor_prior_cdf,
    work_interval,
)
from bot.jobs.models import Observation
from bot.jobs.poll_schedule import PollSchedule

HALF_LIFE = 12.0  # rounds: an observation's weight halves with every this many newer ones
OUTLIERS = 2  # the longest-running jobs left out of an estimate (see GenerationTimeLearner)
HISTORY_LIMIT = 200  # observations kept (the store keeps as many)

# When to rebuild the schedule: soon after new completions (at most once a second, so a burst
# of completions costs one rebuild a second), and every few seconds while jobs run (each
# in-progress poll says "longer than this").
REFRESH_AFTER_LEARNING = 1.0
REFRESH_WHILE_RUNNING = 5.0
# A job waiting for its next poll looks at the schedule again at least this often, so a plan
# rebuilt from new evidence applies to jobs already waiting (not only to their next poll).
RECHECK_SECONDS = 2.0

ScheduleFactory = Callable[[Sequence[float]], PollSchedule]


def refresh_due(*, since_refresh: float, learnt_since_refresh: int, running: bool) -> bool:
    """Whether the schedule should be rebuilt now."""
    if learnt_since_refresh and since_refresh >= REFRESH_AFTER_LEARNING:
        return True
    return running and since_refresh >= REFRESH_WHILE_RUNNING


class GenerationTimeLearner:
    """Keeps the newest `capacity` observations and estimates generation times from them.

    `observe` adds a finished generation; `estimate(running)` also counts the generations still
    running (each says "longer than its last in-progress poll"), which keeps a burst from
    learning only its fastest members. Each estimate starts from the previous one, so an update
    after one more observation costs a few EM iterations.
    """

    def __init__(
        self,
        observations: Iterable[Observation] = (),
        *,
        half_life: float = HALF_LIFE,
        prior_cdf: Callable[[float], float] = vendor_prior_cdf,
        prior_weight: float = PRIOR_WEIGHT,
        capacity: int = HISTORY_LIMIT,
        outliers: int = OUTLIERS,
    ) -> None:
        if half_life <= 0 or prior_weight <= 0 or capacity < 1 or outliers < 0:
            raise ValueError("invalid learner parameters")
        self.half_life = half_life
        self.outliers = outliers
        self.prior_cdf = prior_cdf
        self.prior_weight = prior_weight
        self.capacity = capacity
        self._observations: list[Observation] = []
        self._last: Estimate | None = None
        for observation in observations:
            self.observe(observation)

    @property
    def observations(self) -> list[Observation]:
        """The kept finished observations, oldest first."""
        return list(self._observations)

    def observe(self, observation: Observation) -> None:
        if not observation.finished:
            raise ValueError("observe() takes finished generations; estimate() takes running ones")
        self._observations.append(observation)
        del self._observations[: -self.capacity]

    def estimate(self, running: Sequence[Observation] = ()) -> Estimate:
        """The distribution of generation times, from the kept observations and `running`
        (jobs still in progress: upper None), leaving out the `outliers` that have run longest.

        Those say "longer than anything else running", evidence about the far tail that only
        more jobs can confirm. Counted alone, a single stuck job would carry the distribution
        along with it, and the schedule would keep polling densely just past its age.
        """
        ranked = sorted(running, key=lambda o: o.lower, reverse=True)[self.outliers :]
        everything = [*self._observations, *ranked]
        weights = recency_weights([o.submitted_at for o in everything], self.half_life)
        result = estimate(
            [interval(o) for o in everything],
            weights,
            prior_cdf=self.prior_cdf,
            prior_weight=self.prior_weight,
            start=self._last,
        )
        self._last = result
        return result

    def samples(self, running: Sequence[Observation] = (), points: int = 400) -> list[float]:
        """The current estimate as `points` quantiles (what a PollSchedule is built from)."""
        return self.estimate(running).samples(points)

    def work_times(self) -> Estimate | None:
        """Time from the provider's start of work to completion, from the observations whose
        statuses bounded the start (None when there are none)."""
        pairs = [(o.submitted_at, work_interval(o)) for o in self._observations]
        known = [(moment, bounds) for moment, bounds in pairs if bounds is not None]
        if not known:
            return None
        weights = recency_weights([moment for moment, _ in known], self.half_life)
        return estimate(
            [bounds for _, bounds in known],
            weights,
            prior_cdf=self.prior_cdf,
            prior_weight=self.prior_weight,
        )


class GenerationTimes:
    """The current poll schedule, rebuilt from what polling saw when new evidence calls for it.

    The runner reports each in-progress answer (`still_running`), each completion (`learn`, once
    stored) and each job that stops polling otherwise (`stopped`); it asks `current()` before
    each wait. `schedule` is the plan as last built, for estimates shown to members.
    """

    def __init__(
        self,
        schedule_factory: ScheduleFactory,
        clock: Callable[[], float],
        learner: GenerationTimeLearner | None = None,
    ) -> None:
        self._factory = schedule_factory
        self._clock = clock
        self._learner = learner or GenerationTimeLearner()
        # job id -> (submitted at, last poll that said "in progress"), unix seconds
        self._running: dict[str, tuple[float, float]] = {}
        self._learnt_since_refresh = 0
        self._refreshed_at = -math.inf
        self.schedule = self._build()

    def load(self, observations: Iterable[Observation]) -> None:
        """Start from the stored observations (oldest first)."""
        self._learner = GenerationTimeLearner(observations, capacity=self._learner.capacity)
        self.refresh()

    def still_running(self, job_id: str, *, submitted_at: float, seen_at: float) -> None:
        """A poll sent at `seen_at` found the job still in progress."""
        self._running[job_id] = (submitted_at, seen_at)

    def stopped(self, job_id: str) -> None:
        """The job no longer polls (finished, failed, timed out, or its task ended)."""
        self._running.pop(job_id, None)

    def learn(self, job_id: str, observation: Observation) -> None:
        """What polling saw of a finished generation (already stored with its completion)."""
        self._running.pop(job_id, None)
        self._learner.observe(observation)
        self._learnt_since_refresh += 1
        self.current()

    def current(self) -> PollSchedule:
        """The schedule, rebuilt first when new completions or running jobs call for it."""
        if refresh_due(
            since_refresh=self._clock() - self._refreshed_at,
            learnt_since_refresh=self._learnt_since_refresh,
            running=bool(self._running),
        ):
            self.refresh()
        return self.schedule

    def refresh(self) -> None:
        """Rebuild the plan from what polling saw, finished and still running."""
        self.schedule = self._build()

    def typical(self) -> float:
        """The typical generation time (the median of the current estimate)."""
        return self.schedule.typical()

    def _build(self) -> PollSchedule:
        self._learnt_since_refresh = 0
        self._refreshed_at = self._clock()
        running = [
            Observation(submitted_at, max(0.0, seen_at - submitted_at), None)
            for submitted_at, seen_at in self._running.values()
        ]
        return self._factory(self._learner.samples(running))
