"""This process's job leases: its owner id, the jobs it holds, claiming, renewing, releasing.

Several processes may share one database's jobs. A process works on a job only while it holds
the job's lease (`lease_owner`, `lease_expires_at` on the row), renewed every third of
`seconds`; a process that dies stops renewing, and once its leases expire another process
claims its jobs and resumes them where they were. The lease only says who should work on a job:
what makes a late writer harmless is that every state change is still guarded by the state it
expects (a job found `submitting` by its new owner becomes `submit_unknown`, never resubmitted).

`sole`: this process is the only one running these jobs (SQLite). Every lease then reads as
expired to it, so a restart after a crash resumes at once instead of waiting for the old
process's leases to run out.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
from collections.abc import Callable, Collection

from bot.jobs.models import Job, Origin
from bot.store.base import JobRepository

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0
CLAIM_BATCH = 100  # in-flight jobs claimed per query when taking over


def new_owner_id() -> str:
    """hostname-pid-random: unique per process start, readable in the table."""
    host = socket.gethostname().split(".", 1)[0] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class LeaseKeeper:
    def __init__(
        self,
        store: JobRepository,
        *,
        owner: str,
        seconds: float,
        clock: Callable[[], float],
        sole: bool,
    ) -> None:
        if seconds <= 0:
            raise ValueError("the lease must last some time")
        self._store = store
        self.owner = owner
        self.seconds = seconds
        self.sole = sole
        self._clock = clock
        self.held: set[str] = set()  # jobs claimed and not seen finished or lost

    def until(self) -> float:
        return self._clock() + self.seconds

    def now(self) -> float:
        """The time leases are compared with: the clock, or (sole) past every lease."""
        return math.inf if self.sole else self._clock()

    def lease_for(self, job_id: str) -> tuple[str, float]:
        """The lease of a job written as claimed (counted as held from now on)."""
        self.held.add(job_id)
        return self.owner, self.until()

    async def claim(self, job_id: str, *, active_limit: int | None = None) -> Job | None:
        job = await self._store.claim(
            job_id,
            owner=self.owner,
            until=self.until(),
            now=self.now(),
            active_limit=None if self.sole else active_limit,
        )
        if job is not None:
            self.held.add(job_id)
        return job

    async def claim_in_flight(self, origins: Collection[Origin] | None) -> list[Job]:
        """Every job in flight (submitting, submitted, completed) whose lease is free or expired."""
        claimed: list[Job] = []
        while True:
            batch = await self._store.claim_in_flight(
                owner=self.owner,
                until=self.until(),
                now=self.now(),
                limit=CLAIM_BATCH,
                origins=origins,
            )
            self.held.update(job.id for job in batch)
            claimed.extend(batch)
            if len(batch) < CLAIM_BATCH:
                return claimed

    async def claim_queued(
        self,
        limit: int,
        *,
        origins: Collection[Origin] | None,
        created_before: float,
        active_limit: int | None,
    ) -> list[Job]:
        jobs = await self._store.claim_queued(
            owner=self.owner,
            until=self.until(),
            now=self.now(),
            limit=limit,
            created_before=created_before,
            origins=origins,
            active_limit=None if self.sole else active_limit,
        )
        self.held.update(job.id for job in jobs)
        return jobs

    async def renew(self) -> set[str]:
        """Extend the leases held; the ids no longer held (finished, or taken by another
        process after ours expired)."""
        if not self.held:
            return set()
        before = set(self.held)
        now = self._clock()
        renewed = set(await self._store.renew_leases(self.owner, until=now + self.seconds, now=now))
        gone = before - renewed
        self.held -= gone
        return gone

    async def release(self, job_ids: Collection[str] | None = None) -> int:
        """Give leases up (all of them by default) so that others may claim the jobs at once."""
        ids = set(self.held) if job_ids is None else set(job_ids)
        if not ids:
            return 0
        self.held -= ids
        return await self._store.release_leases(self.owner, ids)
