"""A fair queue: round-robin between requesters, first come first served within one requester.

One member queueing ten jobs does not make everyone else wait for all ten: each turn takes the
oldest job of the requester at the front of the rotation, then sends that requester to the back.
A requester with nothing queued leaves the rotation and rejoins at the back.
"""

from __future__ import annotations

from collections import OrderedDict, deque


class FairQueue:
    """Job ids waiting for a slot. Not thread-safe; used from the event loop only."""

    def __init__(self) -> None:
        self._by_requester: OrderedDict[str, deque[str]] = OrderedDict()
        self._requester_of: dict[str, str] = {}
        self._positions: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._requester_of)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._requester_of

    def push(self, job_id: str, requester_id: str) -> None:
        if job_id in self._requester_of:
            raise ValueError(f"job {job_id} is already queued")
        self._by_requester.setdefault(requester_id, deque()).append(job_id)
        self._requester_of[job_id] = requester_id
        self._positions = None

    def pop(self) -> str | None:
        """The next job to run, or None when nothing waits."""
        if not self._by_requester:
            return None
        requester_id, jobs = next(iter(self._by_requester.items()))
        job_id = jobs.popleft()
        del self._requester_of[job_id]
        if jobs:
            self._by_requester.move_to_end(requester_id)
        else:
            del self._by_requester[requester_id]
        self._positions = None
        return job_id

    def remove(self, job_id: str) -> bool:
        requester_id = self._requester_of.pop(job_id, None)
        if requester_id is None:
            return False
        jobs = self._by_requester[requester_id]
        jobs.remove(job_id)
        if not jobs:
            del self._by_requester[requester_id]
        self._positions = None
        return True

    def position(self, job_id: str) -> int | None:
        """1 = next to run; None when the job is not waiting."""
        return self.positions().get(job_id)

    def positions(self) -> dict[str, int]:
        """Every waiting job's position if nothing new arrived (cached until the queue changes)."""
        if self._positions is None:
            self._positions = {job_id: index for index, job_id in enumerate(self.order(), 1)}
        return self._positions

    def order(self) -> list[str]:
        """The waiting jobs in the order they will run if nothing new arrives."""
        lanes = [list(jobs) for jobs in self._by_requester.values()]
        result: list[str] = []
        depth = 0
        while lanes:
            # Round `depth` serves each remaining requester once, in rotation order.
            result.extend(lane[depth] for lane in lanes)
            depth += 1
            lanes = [lane for lane in lanes if len(lane) > depth]
        return result
