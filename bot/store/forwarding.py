"""A job repository that hands every call to another one: the base for wrappers that change one
or two calls (the metrics note deliveries; the terminal's resume lists one job) and must not
copy the rest — a method added to `JobRepository` is then forwarded in one place."""

from __future__ import annotations

from collections.abc import Collection
from typing import Unpack

from bot.jobs.models import Delivery, Job, JobChanges, JobState, Observation, Origin
from bot.store.base import JobRepository


class ForwardingJobs:
    def __init__(self, inner: JobRepository) -> None:
        self._inner = inner

    async def insert(self, job: Job, *, lease: tuple[str, float] | None = None) -> None:
        await self._inner.insert(job, lease=lease)

    async def get(self, job_id: str) -> Job | None:
        return await self._inner.get(job_id)

    async def transition(
        self,
        job_id: str,
        expected: JobState | Collection[JobState],
        new_state: JobState,
        *,
        now: float,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        return await self._inner.transition(job_id, expected, new_state, now=now, **changes)

    async def update(
        self,
        job_id: str,
        *,
        expected: JobState | Collection[JobState] | None = None,
        now: float,
        learn: Observation | None = None,
        **changes: Unpack[JobChanges],
    ) -> Job | None:
        return await self._inner.update(job_id, expected=expected, now=now, learn=learn, **changes)

    async def deliver(self, job_id: str, delivery: Delivery, *, now: float) -> Job | None:
        return await self._inner.deliver(job_id, delivery, now=now)

    async def save_poll_counts(self, counts: Collection[tuple[str, int, str | None]]) -> None:
        await self._inner.save_poll_counts(counts)

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]:
        return await self._inner.unfinished(origins)

    async def count_by_state(self) -> dict[JobState, int]:
        return await self._inner.count_by_state()

    async def history(
        self, requester_id: str, guild_id: str | None, *, limit: int, offset: int = 0
    ) -> list[Job]:
        return await self._inner.history(requester_id, guild_id, limit=limit, offset=offset)

    async def unreported_failures(
        self, origins: Collection[Origin] | None, *, since: float
    ) -> list[Job]:
        return await self._inner.unreported_failures(origins, since=since)

    async def record_generation_time(self, job_id: str, seconds: float, *, now: float) -> None:
        await self._inner.record_generation_time(job_id, seconds, now=now)

    async def record_observation(
        self, job_id: str, observation: Observation, *, now: float
    ) -> None:
        await self._inner.record_observation(job_id, observation, now=now)

    async def generation_times(self) -> list[float]:
        return await self._inner.generation_times()

    async def generation_observations(self) -> list[Observation]:
        return await self._inner.generation_observations()

    async def audio_to_prune(self, *, finished_before: float, limit: int) -> list[Job]:
        return await self._inner.audio_to_prune(finished_before=finished_before, limit=limit)

    async def mark_audio_pruned(self, job_ids: Collection[str], *, now: float) -> int:
        return await self._inner.mark_audio_pruned(job_ids, now=now)

    async def delete_finished(self, *, updated_before: float, limit: int) -> int:
        return await self._inner.delete_finished(updated_before=updated_before, limit=limit)

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        until: float,
        now: float,
        active_limit: int | None = None,
    ) -> Job | None:
        return await self._inner.claim(
            job_id, owner=owner, until=until, now=now, active_limit=active_limit
        )

    async def claim_in_flight(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        origins: Collection[Origin] | None = None,
    ) -> list[Job]:
        return await self._inner.claim_in_flight(
            owner=owner, until=until, now=now, limit=limit, origins=origins
        )

    async def claim_queued(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        created_before: float,
        origins: Collection[Origin] | None = None,
        active_limit: int | None = None,
    ) -> list[Job]:
        return await self._inner.claim_queued(
            owner=owner,
            until=until,
            now=now,
            limit=limit,
            created_before=created_before,
            origins=origins,
            active_limit=active_limit,
        )

    async def renew_leases(self, owner: str, *, until: float, now: float) -> list[str]:
        return await self._inner.renew_leases(owner, until=until, now=now)

    async def release_leases(self, owner: str, job_ids: Collection[str] | None = None) -> int:
        return await self._inner.release_leases(owner, job_ids)
