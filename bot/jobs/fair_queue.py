"""A fair queue: the next slot goes to the requester served least recently.

One member queueing ten jobs does not make everyone else wait for all ten, and a member who
just got a slot waits behind members who have not: requesters are ordered by when they were
last served (never served first, then by arrival), and each turn takes the oldest job of the
first requester. With everyone waiting, this is plain round-robin.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque

_REMEMBERED_REQUESTERS = 10_000


class FairQueue:
    """Job ids waiting for a slot. Not thread-safe; used from the event loop only."""

    def __init__(self) -> None:
        self._lanes: dict[str, deque[str]] = {}
        self._lane_opened: dict[str, int] = {}  # when each lane last became non-empty
        self._requester_of: dict[str, str] = {}
        self._last_served: OrderedDict[str, int] = OrderedDict()
        self._counter = itertools.count(1)
        self._positions: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._requester_of)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._requester_of

    def push(self, job_id: str, requester_id: str) -> None:
        if job_id in self._requester_of:
            raise ValueError(f"job {job_id} is already queued")
        lane = self._lanes.get(requester_id)
        if lane is None:
            lane = self._lanes[requester_id] = deque()
            self._lane_opened[requester_id] = next(self._counter)
        lane.append(job_id)
        self._requester_of[job_id] = requester_id
        self._positions = None

    def pop(self) -> str | None:
        """The next job to run, or None when nothing waits."""
        if not self._lanes:
            return None
        requester_id = min(self._lanes, key=self._turn_key)
        lane = self._lanes[requester_id]
        job_id = lane.popleft()
        del self._requester_of[job_id]
        if not lane:
            self._close_lane(requester_id)
        self._last_served[requester_id] = next(self._counter)
        self._last_served.move_to_end(requester_id)
        while len(self._last_served) > _REMEMBERED_REQUESTERS:
            self._last_served.popitem(last=False)
        self._positions = None
        return job_id

    def remove(self, job_id: str) -> bool:
        requester_id = self._requester_of.pop(job_id, None)
        if requester_id is None:
            return False
        lane = self._lanes[requester_id]
        lane.remove(job_id)
        if not lane:
            self._close_lane(requester_id)
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
        # Serving a requester sends it behind everyone, so after the first round the order of
        # requesters stays the same: rounds of one job each, in turn order.
        lanes = [list(self._lanes[r]) for r in sorted(self._lanes, key=self._turn_key)]
        result: list[str] = []
        depth = 0
        while lanes:
            result.extend(lane[depth] for lane in lanes)
            depth += 1
            lanes = [lane for lane in lanes if len(lane) > depth]
        return result

    def _turn_key(self, requester_id: str) -> tuple[int, int]:
        return (self._last_served.get(requester_id, 0), self._lane_opened[requester_id])

    def _close_lane(self, requester_id: str) -> None:
        del self._lanes[requester_id]
        del self._lane_opened[requester_id]
