"""`python -m bot compose --resume JOB`: finish a terminal job that an interruption left behind.

Ctrl-C (or a crash) after submission leaves the job `submitted`: the provider has it and
charges for it. Resuming polls it, downloads the audio and saves it like a fresh run, without
ever submitting again. It uses the engine's own resume (`JobEngine.start` resumes what the
repository lists as unfinished) on a view of the repository that lists only this job, so no
other job (another terminal's, the bot's) is touched. A job resumed by hand gets a fresh
deadline: the provider may long have finished it, and one poll says so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Collection
from typing import TextIO

from bot.cli.compose import (
    DEFAULT_OUTPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    output_options,
    prepare_terminal,
    report_ended,
    run_job,
)
from bot.cli.output import OutputOptions
from bot.config import Settings
from bot.jobs.engine import JobEngine
from bot.jobs.models import (
    UNFINISHED_STATES,
    Job,
    JobState,
    Origin,
)
from bot.store.base import JobRepository
from bot.store.connect import open_store
from bot.store.errors import StoreError
from bot.store.forwarding import ForwardingJobs


def run_resume(settings: Settings, args: argparse.Namespace) -> int:
    job_id: str = args.resume.strip()
    if args.prompt is not None:
        print("error: give a prompt or --resume JOB, not both", file=sys.stderr)
        return EXIT_USAGE
    output = output_options(args)
    if output is None:
        return EXIT_USAGE
    problem = prepare_terminal(settings)
    if problem is not None:
        return problem
    try:
        return asyncio.run(resume(settings, job_id, output=output))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


async def resume(
    settings: Settings,
    job_id: str,
    *,
    output: OutputOptions = DEFAULT_OUTPUT,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        store = await open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_FAILED
    try:
        job = await store.jobs.get(job_id)
        if job is None:
            print(f"error: there is no job {job_id!r} in {store.description}", file=stderr)
            return EXIT_USAGE
        if job.origin is not Origin.TERMINAL:
            print(
                f"error: job {job_id} was asked for on Discord; the bot resumes it itself",
                file=stderr,
            )
            return EXIT_USAGE
        if job.state is JobState.DELIVERED:
            saved = job.delivery.saved_to if job.delivery else None
            print(f"Already saved: {saved or 'unknown'}", file=stdout)
            return EXIT_OK
        if job.state.is_final:
            return report_ended(job, stderr)
        if job.state is JobState.SUBMITTED:
            now = time.time()
            await store.jobs.update(
                job_id,
                expected=JobState.SUBMITTED,
                now=now,
                deadline_at=max(job.deadline_at, now + settings.generation_timeout_seconds),
            )

        async def the_job(engine: JobEngine) -> Job:
            current = await engine.get(job_id)
            assert current is not None
            return current

        return await run_job(
            settings,
            OnlyJob(store.jobs, job_id),
            the_job,
            resume_origins=None,
            output=output,
            stdout=stdout,
            stderr=stderr,
        )
    finally:
        await store.close()


class OnlyJob(ForwardingJobs):
    """A `JobRepository` that lists (and claims) only `job_id` as unfinished (everything else
    passes through): an engine started on it resumes that one job and no other."""

    def __init__(self, inner: JobRepository, job_id: str) -> None:
        super().__init__(inner)
        self._job_id = job_id

    async def unfinished(self, origins: Collection[Origin] | None = None) -> list[Job]:
        job = await self._inner.get(self._job_id)
        if job is None or job.state not in UNFINISHED_STATES:
            return []
        return [job]

    async def claim_in_flight(
        self,
        *,
        owner: str,
        until: float,
        now: float,
        limit: int,
        origins: Collection[Origin] | None = None,
    ) -> list[Job]:
        job = await self._inner.get(self._job_id)
        if job is None or job.state not in UNFINISHED_STATES or job.state is JobState.QUEUED:
            return []
        claimed = await self._inner.claim(self._job_id, owner=owner, until=until, now=now)
        return [] if claimed is None else [claimed]

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
        return []
