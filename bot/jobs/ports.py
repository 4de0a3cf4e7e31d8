"""What the engine needs from the outside: a provider client, a credit ledger, and (with several
processes on one database) signals between them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


class NoCreditLedger:
    """For the terminal: nothing is reserved, so nothing is committed or refunded."""

    async def commit(self, job_id: str) -> None:
        return None

    async def refund(self, job_id: str) -> None:
        return None


@dataclass(frozen=True)
class Signal:
    """A note from one process to the others sharing the database: `work` (a queued job
    nobody started is claimable), `released` (a stopping process gave its leases up: its jobs
    in flight are claimable) or `taken` (these queued jobs left the table's pool: claimed to
    run, or cancelled)."""

    sender: str
    kind: str
    job_ids: tuple[str, ...] = ()


class JobSignals(Protocol):
    """How processes on one database tell each other about jobs (PostgreSQL's LISTEN/NOTIFY);
    none with SQLite, which one process owns."""

    async def listen(self, on_signal: Callable[[Signal], None]) -> None:
        """Start calling `on_signal` (from the event loop) for every signal sent, own too."""

    async def notify(self, signal: Signal) -> None: ...

    async def close(self) -> None: ...
