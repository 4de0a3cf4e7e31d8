"""Job leases between two engines sharing one PostgreSQL database (fake AI/ML API, loopback).

1. Spread: N jobs enqueued in one engine (MAX_CONCURRENT k each); the other, idle, hears of the
   work it cannot start (LISTEN/NOTIFY) and claims it. Printed: who ran how many, the wall time
   against the same N in one engine alone, submissions (must be N).
2. Take-over: M jobs generating in one engine, which is then "killed" (tasks cancelled,
   connections dropped, leases kept); the other takes them over once the leases expire.
   Printed: seconds from the kill to the last job resumed (polled by the heir) and to the last
   completed, against the lease time; submissions (must be M: never twice).

    .venv/bin/python bench/lease_takeover.py [--database-url postgresql://...] [--n 60]
        [--k 4] [--m 20] [--lease 3] [--generation 2]

The database gets a fresh schema for the run, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.aimlapi.client import LyriaClient  # noqa: E402
from bot.config import DatabaseUrl  # noqa: E402
from bot.jobs.engine import JobEngine  # noqa: E402
from bot.jobs.models import Delivery, DeliveryVia, Job, JobRequest, JobState, Progress  # noqa: E402
from bot.jobs.poll_schedule import PollSchedule  # noqa: E402
from bot.store.postgres import PostgresStore  # noqa: E402
from bot.store.postgres.signals import PostgresJobSignals  # noqa: E402
from bot.tasks import TaskTracker  # noqa: E402


class Done:
    """Delivers (to nowhere) what completes, as the bot would; remembers when each ended."""

    def __init__(self, engine: JobEngine) -> None:
        self.engine = engine
        self.finished: dict[str, float] = {}

    async def on_progress(self, job: Job, progress: Progress) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        self.finished[job.id] = time.monotonic()
        if job.state is JobState.COMPLETED:
            await self.engine.mark_delivered(job.id, Delivery(DeliveryVia.NOTHING))


def schedule(history: object) -> PollSchedule:
    return PollSchedule((0.5, 1.0, 1.5, 2.0), target_lag=0.2)


async def engine(
    url: DatabaseUrl,
    api_url: str,
    session: aiohttp.ClientSession,
    audio: Path,
    name: str,
    *,
    k: int,
    lease: float,
) -> tuple[JobEngine, PostgresStore, TaskTracker, Done]:
    store = await PostgresStore.open(url)
    tasks = TaskTracker()
    eng = JobEngine(
        store=store.jobs,
        client=LyriaClient(session, api_key="test-key", base_url=api_url),
        audio_dir=audio,
        model="google/lyria2",
        max_concurrent=k,
        generation_timeout=300.0,
        max_audio_bytes=10 * 1024 * 1024,
        schedule_factory=schedule,
        tasks=tasks,
        owner=name,
        lease_seconds=lease,
        sole=False,
        signals=PostgresJobSignals(store.database),
    )
    done = Done(eng)
    eng.add_listener(done)
    await eng.start()
    return eng, store, tasks, done


async def until(predicate: object, within: float = 600.0) -> None:
    """Wait for `predicate()`, looking every 20 ms (a benchmark's resolution, not a test's)."""
    assert callable(predicate)
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def run(url: DatabaseUrl, args: argparse.Namespace) -> None:
    from tests.fakes.aimlapi import FakeAimlApi

    audio = Path(tempfile.mkdtemp()) / "audio"
    async with (
        FakeAimlApi(generation_seconds=args.generation) as api,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session,
    ):
        # 1. one engine alone, then two sharing
        alone = await engine(url, api.base_url, session, audio, "alone", k=args.k, lease=args.lease)
        started = time.monotonic()
        jobs = [await alone[0].enqueue(JobRequest(f"p{n}", f"m{n % 13}")) for n in range(args.n)]
        await until(lambda: len(alone[3].finished) == len(jobs))
        one_engine = time.monotonic() - started
        await alone[0].stop()
        await alone[2].close()
        await alone[1].close()

        submitted_before = len(api.submissions)
        a = await engine(url, api.base_url, session, audio, "a", k=args.k, lease=args.lease)
        b = await engine(url, api.base_url, session, audio, "b", k=args.k, lease=args.lease)
        started = time.monotonic()
        jobs = [await a[0].enqueue(JobRequest(f"q{n}", f"m{n % 13}")) for n in range(args.n)]
        await until(lambda: len(a[3].finished) + len(b[3].finished) == len(jobs))
        two_engines = time.monotonic() - started
        print(f"spread: N={args.n}, k={args.k}, generation {args.generation:.1f} s")
        print(f"  one engine alone: {one_engine:.2f} s")
        submissions = len(api.submissions) - submitted_before
        print(
            f"  two engines: {two_engines:.2f} s; ran by the enqueuing one {len(a[3].finished)}, "
            f"by the other {len(b[3].finished)}; submissions {submissions}"
        )
        for eng, store, tasks, _ in (a, b):
            await eng.stop()
            await tasks.close()
            await store.close()

        # 2. take-over
        submitted_before = len(api.submissions)
        heir = await engine(url, api.base_url, session, audio, "heir", k=1, lease=args.lease)
        doomed = await engine(
            url, api.base_url, session, audio, "doomed", k=args.m, lease=args.lease
        )
        api.generation_seconds = max(args.generation, 2.0 * args.lease + 2.0)
        jobs = [await doomed[0].enqueue(JobRequest(f"t{n}", f"m{n}")) for n in range(args.m)]
        await until(lambda: len(api.submissions) - submitted_before == args.m)
        await asyncio.sleep(0.5)  # polls under way
        polls_before = len(api.polls)
        killed = time.monotonic()
        await doomed[2].close()
        await doomed[1].close()
        ids = {job.generation_id for job in [await heir[0].get(j.id) for j in jobs] if job}
        await until(lambda: {r.query.get("generation_id") for r in api.polls[polls_before:]} >= ids)
        resumed = time.monotonic() - killed
        await until(lambda: len(heir[3].finished) == args.m)
        completed = max(heir[3].finished.values()) - killed
        every = args.lease / 3
        print(f"take-over: M={args.m}, lease {args.lease:.1f} s (renewed every {every:.1f} s)")
        print(f"  kill -> every job polled by the heir: {resumed:.2f} s")
        print(f"  kill -> every job completed: {completed:.2f} s")
        print(f"  submissions {len(api.submissions) - submitted_before} (of {args.m} jobs)")
        await heir[0].stop()
        await heir[2].close()
        await heir[1].close()


async def schema(url: DatabaseUrl, drop: str | None = None) -> DatabaseUrl:
    admin = await asyncpg.connect(url.reveal())
    try:
        if drop:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{drop}" CASCADE')
            return url
        name = f"bench_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await admin.close()
    joiner = "&" if "?" in url.reveal() else "?"
    return DatabaseUrl.parse(f"{url.reveal()}{joiner}search_path={name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--m", type=int, default=20)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--generation", type=float, default=2.0)
    args = parser.parse_args()
    url = DatabaseUrl.parse(args.database_url)
    scoped = asyncio.run(schema(url))
    try:
        asyncio.run(run(scoped, args))
    finally:
        asyncio.run(schema(url, drop=scoped.reveal().rsplit("search_path=", 1)[1]))


if __name__ == "__main__":
    main()
