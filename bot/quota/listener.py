"""Ends a reservation's in-flight status when the job engine reports a job finished.

Register with `engine.add_listener(QuotaJobListener(quota))`; the engine itself calls
`quota.commit`/`quota.refund` through the CreditLedger protocol.
"""

from __future__ import annotations

from bot.jobs.models import Job, Progress
from bot.quota.service import QuotaService


class QuotaJobListener:
    def __init__(self, quota: QuotaService) -> None:
        self.quota = quota

    async def on_progress(self, job: Job, progress: Progress) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        await self.quota.finish(job.id)
