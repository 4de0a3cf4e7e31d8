"""What the engine needs from the outside: a provider client and a credit ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission


class ProviderClient(Protocol):
    """What the engine needs from `bot.aimlapi.client.LyriaClient`."""

    async def submit(self, request: GenerationRequest) -> Submission: ...

    async def poll(self, generation_id: str) -> PollResult: ...

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> DownloadedAudio: ...


class CreditLedger(Protocol):
    """Credit reserved under the job id before enqueueing. Both calls are idempotent."""

    async def commit(self, job_id: str) -> None:
        """The provider accepted the job: the reserved credit is spent."""

    async def refund(self, job_id: str) -> None:
        """The job ended before the provider charged: give the credit back."""

    async def finish_ended(self) -> int:
        """End the in-flight status of every reservation whose job has ended (a process that
        died between ending a job and its reservation cannot); how many."""


class NoCreditLedger:
    """For the terminal: nothing is reserved, so nothing is committed or refunded."""

    async def commit(self, job_id: str) -> None:
        return None

    async def refund(self, job_id: str) -> None:
        return None

    async def finish_ended(self) -> int:
        return 0
