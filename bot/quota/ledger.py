"""One job's credit: reserve before the job, commit or refund after, finish when it ends.

Lifecycle (one reservation row per job, keyed by the job id):

    reserve ──▶ reserved ──commit──▶ committed      (the provider accepted: credit spent)
                    └─────refund──▶ refunded       (ended before the provider charged)

Independently, a reservation is *in flight* from reserve until `finish` (the job's generation
ended: delivered, failed, timed out...) or `refund`; the member's in-flight limit counts those.
`finish` never changes whether the credit is spent. A job whose submission outcome is unknown
stays reserved and keeps counting (conservative), unless `release_orphans` finds no job for it.

`reserve` is one transaction in the store, decided by `bot.quota.rules`; concurrent
reservations therefore never over-grant, and a retry with the same job id returns the same
Grant without taking more. Satisfies the job engine's `CreditLedger`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.quota.caches import BlockLists
from bot.quota.events import GenerationFinished, ModEventBus, PromptBlocked
from bot.quota.models import (
    DM_GUILD_ID,
    GenerationNote,
    Grant,
    Limit,
    QuotaDefaults,
    Refusal,
    Requester,
)
from bot.quota.rules import ReservationRules
from bot.store.base import QuotaRepository
from bot.tasks import TaskTracker

log = logging.getLogger(__name__)


class QuotaLedger:
    def __init__(
        self,
        store: QuotaRepository,
        defaults: QuotaDefaults,
        *,
        block_lists: BlockLists,
        events: ModEventBus,
        tasks: TaskTracker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._rules = ReservationRules(defaults)
        self._block_lists = block_lists
        self._events = events
        self._tasks = tasks
        self._clock = clock
        self._observers: list[Callable[[Requester, Grant | Refusal], None]] = []

    def add_observer(self, observer: Callable[[Requester, Grant | Refusal], None]) -> None:
        """`observer(requester, outcome)` after every decision (metrics count refusals)."""
        self._observers.append(observer)

    async def reserve(self, requester: Requester, job_id: str, prompt: str) -> Grant | Refusal:
        """Reserve one piece's credit under `job_id`, or say (in numbers) why not."""
        hit = None
        if requester.guild_id is not None:
            hit = await self._block_lists.match(requester.guild_id, prompt)
        try:
            decision = await self._store.reserve(
                requester, job_id, now=self._clock(), blocked_term=hit, rules=self._rules
            )
        except asyncio.CancelledError:
            # The caller gave up, perhaps just after the row was written: give the credit back
            # (a no-op when nothing was reserved). Queued behind the reservation, so it sees it.
            self._tasks.spawn(self.refund(job_id), name=f"quota-refund-{job_id}")
            raise
        outcome = decision.outcome
        for observer in self._observers:
            observer(requester, outcome)
        if isinstance(outcome, Refusal) and outcome.limit is Limit.BLOCKED_PROMPT and hit:
            await self._events.publish(
                PromptBlocked(
                    guild_id=requester.scope_id,
                    user_id=requester.user_id,
                    channel_id=requester.channel_id,
                    term=hit,
                    prompt=prompt,
                )
            )
        return outcome

    async def commit(self, job_id: str) -> None:
        """The provider accepted the job: its credit is spent. Idempotent."""
        await self._store.commit(job_id, now=self._clock())

    async def refund(self, job_id: str) -> None:
        """Give back a reservation's credit (only while still reserved). Idempotent."""
        await self._store.refund(job_id, now=self._clock())

    async def finish(self, job_id: str, note: GenerationNote | None = None) -> None:
        """The job's generation ended: it no longer counts as in flight. With `note`, its
        outcome is recorded in the same transaction and told to the server's mod log."""
        await self._store.finish(job_id, now=self._clock(), note=note)
        if note is not None and note.guild_id != DM_GUILD_ID:
            await self._events.publish(GenerationFinished(note))

    async def finish_ended(self) -> int:
        """End the in-flight status of reservations whose job has ended; returns how many."""
        finished = await self._store.finish_ended(now=self._clock())
        if finished:
            log.info("ended the in-flight status of %d finished job(s)", finished)
        return finished

    async def release_orphans(self, *, older_than: float) -> int:
        """Refund reservations older than `older_than` seconds that have no job (a crash between
        reserve and enqueue); returns how many."""
        now = self._clock()
        refunded = await self._store.release_orphans(created_before=now - older_than, now=now)
        if refunded:
            log.info("released %d orphaned quota reservations", refunded)
        return refunded
