"""The quota's parts (ledger, moderation, queries, events) wired over one store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.quota.caches import BlockLists, ModlogChannels
from bot.quota.events import ModEventBus
from bot.quota.ledger import QuotaLedger
from bot.quota.models import QuotaDefaults
from bot.quota.moderation import Moderation
from bot.quota.queries import QuotaQueries
from bot.store.base import QuotaRepository
from bot.tasks import TaskTracker


@dataclass(frozen=True)
class Quota:
    ledger: QuotaLedger
    moderation: Moderation
    queries: QuotaQueries
    events: ModEventBus

    @classmethod
    def build(
        cls,
        store: QuotaRepository,
        defaults: QuotaDefaults,
        *,
        tasks: TaskTracker,
        clock: Callable[[], float] = time.time,
    ) -> Quota:
        events = ModEventBus()
        block_lists = BlockLists(store)
        modlog_channels = ModlogChannels(store)
        return cls(
            ledger=QuotaLedger(
                store, defaults, block_lists=block_lists, events=events, tasks=tasks, clock=clock
            ),
            moderation=Moderation(
                store,
                defaults,
                block_lists=block_lists,
                modlog_channels=modlog_channels,
                events=events,
                clock=clock,
            ),
            queries=QuotaQueries(
                store,
                defaults,
                block_lists=block_lists,
                modlog_channels=modlog_channels,
                clock=clock,
            ),
            events=events,
        )
