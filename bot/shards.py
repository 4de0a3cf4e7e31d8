"""Which shards a process runs: in words (the start-up log, `python -m bot check`), and which
unfinished jobs are its own to resume when several processes share the database."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.jobs.models import Job, Origin
from bot.store.base import JobRepository
from bot.store.forwarding import ForwardingJobs


def shard_plan(count: int | None, ids: Sequence[int] | None) -> str:
    """`count`: SHARD_COUNT (None: Discord's advice); `ids`: SHARD_IDS (None: every one)."""
    if count is None:
        return "as many shards as Discord recommends, all in this process"
    if ids is None or runs_every_shard(count, ids):
        return f"all {count} shard(s) in this process"
    shown = ", ".join(str(i) for i in ids)
    return f"shard(s) {shown} of {count} (other processes run the rest)"


def runs_every_shard(count: int | None, ids: Sequence[int] | None) -> bool:
    """Whether no other process is needed for the rest of the shards."""
    return count is None or ids is None or sorted(ids) == list(range(count))


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard Discord sends a server's events to (DMs: shard 0)."""
    return 0 if guild_id is None else (guild_id >> 22) % count


class OwnShardJobs(ForwardingJobs):
    """Lists only this process's jobs: those of the servers on its shards (DMs: shard 0's).

    Several processes share one database; at start a process queues the waiting jobs of its
    own shards and reports their unreported failures. Jobs in flight go by their leases
    instead (`bot.jobs.leases`): a running process's are never taken, a dead one's are taken
    over by whichever process claims them first. Terminal jobs are never filtered."""

    def __init__(self, inner: JobRepository, count: int, ids: Collection[int]) -> None:
        super().__init__(inner)
        self._count = count
        self._ids = frozenset(ids)

    def owns(self, job: Job) -> bool:
        if job.origin is not Origin.DISCORD:
            return True
        guild = int(job.guild_id) if job.guild_id else None
        return shard_of(guild, self._count) in self._ids

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]:
        return [job for job in await super().unfinished(origins) if self.owns(job)]

    async def unreported_failures(
        self, origins: Collection[Origin] | None, *, since: float
    ) -> list[Job]:
        jobs = await super().unreported_failures(origins, since=since)
        return [job for job in jobs if self.owns(job)]
