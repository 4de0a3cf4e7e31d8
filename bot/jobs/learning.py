"""How long generations take, learnt as they finish, and the poll schedule made from it.

The history (bounded, stored with each completion) feeds `PollSchedule`; generations still
running count too (`survival_samples`), so a burst of jobs does not learn only from its fastest
members. Rebuilding the plan costs ~2 ms: it is done for every early sample, then every tenth,
and at least every `REPLAN_SECONDS` while generations run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bot.jobs.poll_schedule import PollSchedule, survival_samples

# Below this many learnt generation times the schedule pools them with the vendor prior.
MIN_HISTORY = 20
HISTORY_LIMIT = 200
REPLAN_SECONDS = 10.0

ScheduleFactory = Callable[[Sequence[float]], PollSchedule]


class GenerationTimes:
    def __init__(self, schedule_factory: ScheduleFactory, clock: Callable[[], float]) -> None:
        self._factory = schedule_factory
        self._clock = clock
        self._history: list[float] = []
        self._learnt_since_refresh = 0
        self._refreshed_at = 0.0
        self.schedule = schedule_factory([])

    def load(self, history: Iterable[float], running: Iterable[float] = ()) -> None:
        """Start from stored durations (oldest first)."""
        self._history = list(history)[-HISTORY_LIMIT:]
        self.refresh(running)

    def learn(self, seconds: float, running: Iterable[float]) -> None:
        """Add a generation time (already stored with the completion) to the plan."""
        self._history.append(seconds)
        del self._history[:-HISTORY_LIMIT]
        self._learnt_since_refresh += 1
        if len(self._history) <= 50 or self._learnt_since_refresh >= 10:
            self.refresh(running)

    def refresh_due(self) -> bool:
        return self._clock() - self._refreshed_at >= REPLAN_SECONDS

    def refresh(self, running: Iterable[float]) -> None:
        """Rebuild the plan from the history and the seconds the running jobs have taken so far."""
        self._learnt_since_refresh = 0
        self._refreshed_at = self._clock()
        elapsed = list(running)
        if len(self._history) >= MIN_HISTORY and elapsed:
            samples: Sequence[float] = survival_samples(self._history, elapsed)
        else:
            samples = self._history
        self.schedule = self._factory(samples)

    def typical(self) -> float:
        """The typical generation time (median of the learnt history, or of the prior)."""
        return self.schedule.typical()
