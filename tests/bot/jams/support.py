"""What the jam tests share: a jam service on a real store (SQLite or PostgreSQL) with a clock
the test moves, and the budget invariant recounted from the rows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.jams.models import Accepted, EntryRefusal, Jam, JamSettings
from bot.jams.service import EntryTerms, JamService
from bot.quota.components import Quota
from bot.quota.models import QuotaDefaults, Refusal, Requester
from bot.store.base import Store
from bot.tasks import TaskTracker
from tests.bot.store.backends import scalar
from tests.bot.store.jam_support import assert_budget_invariant as assert_budget_invariants

__all__ = ["assert_budget_invariants"]

GUILD = 1111
CHANNEL = 50
HOST = 9
MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC).timestamp()

ROOMY = QuotaDefaults(
    member_limit_per_window=1000,
    member_window_seconds=3600,
    member_max_in_flight=1000,
    guild_daily_pool=1000,
    guild_reset_minute=0,
    bot_daily_cap=100_000,
    dm_policy="personal",
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    store: Store
    quota: Quota
    jams: JamService
    clock: Clock
    tasks: TaskTracker

    async def start(
        self, channel_id: int = CHANNEL, *, thread_id: int | None = None, **settings: object
    ) -> Jam:
        """A jam started and opened (round 1 taking entries)."""
        options: dict[str, object] = {"theme": "night drive", **settings}
        created = await self.jams.create(
            guild_id=GUILD,
            channel_id=channel_id,
            host_id=HOST,
            settings=JamSettings(**options),  # type: ignore[arg-type]
        )
        assert isinstance(created, Jam), created
        thread = thread_id or channel_id * 1000
        opened = await self.jams.opened(created, thread_id=thread, card_message_id=thread)
        assert opened is not None
        return opened.jam

    async def enter(
        self,
        jam: Jam,
        user_id: int,
        job_id: str,
        *,
        prompt: str = "lofi beat",
        riff_of: str | None = None,
        seed: int | None = None,
        **requester: object,
    ) -> Accepted | EntryRefusal | Refusal:
        terms = await self.jams.terms_in(jam.thread_id or 0)
        assert terms is not None
        who = Requester(
            user_id=user_id,
            guild_id=GUILD,
            channel_id=jam.thread_id,
            **requester,  # type: ignore[arg-type]
        )
        return await self.jams.enter(
            terms,
            who,
            job_id=job_id,
            display_name=f"member{user_id}",
            prompt=prompt,
            negative_prompt=None,
            seed=seed,
            riff_of=riff_of,
        )

    async def expire(self, jam: Jam) -> None:
        """Move the clock past the jam's current deadline."""
        current = await self.jams.get(jam.id)
        assert current is not None and current.phase_ends_at is not None
        self.clock.now = max(self.clock.now, current.phase_ends_at + 1)

    async def pool_counter(self, guild_id: int = GUILD) -> int:
        return int(
            await scalar(
                self.store,
                "SELECT COALESCE(SUM(used), 0) FROM quota_counters WHERE scope = 'guild' "  # noqa: S608
                f"AND scope_id = {int(guild_id)}",
            )
        )


def build(store: Store, clock: Clock, **defaults: object) -> World:
    tasks = TaskTracker()
    quota = Quota.build(store.quota, replace(ROOMY, **defaults), tasks=tasks, clock=clock)  # type: ignore[arg-type]
    jams = JamService(store.jams, quota.ledger, quota.events, clock=clock)
    return World(store, quota, jams, clock, tasks)


def terms_of(jam: Jam) -> EntryTerms:
    return EntryTerms(jam)
