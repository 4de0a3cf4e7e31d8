"""Two job engines (two processes, as far as the database can tell) sharing one PostgreSQL
database's jobs, against the real LyriaClient and the fake AI/ML API over loopback.

Work one engine cannot start goes to the other; an engine "killed" (its tasks cancelled and
its connections dropped, leases left as they were, as SIGKILL would) has its jobs taken over
by the other once the leases expire, each job submitted at most once and completed once; a
global limit holds across both. Leases last a second here; tests wait on conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest

from bot.aimlapi.client import LyriaClient
from bot.aimlapi.models import GenerationRequest, PollResult, Submission
from bot.jobs.engine import JobEngine
from bot.jobs.models import ErrorKind, Job, JobRequest, JobState, Progress
from bot.jobs.poll_schedule import PollSchedule
from bot.store.postgres import PostgresStore
from bot.store.postgres.signals import PostgresJobSignals
from bot.tasks import TaskTracker
from tests.fakes.aimlapi import FakeAimlApi, RecordedRequest
from tests.postgres_support import fresh_schema

LEASE = 1.0


def fast_schedule(history: object) -> PollSchedule:
    return PollSchedule((0.3, 0.6, 0.9), target_lag=0.1)


class Listener:
    def __init__(self, changed: asyncio.Event) -> None:
        self.finished: list[Job] = []
        self.changed = changed

    async def on_progress(self, job: Job, progress: Progress) -> None:
        self.changed.set()

    async def on_finished(self, job: Job) -> None:
        self.finished.append(job)
        self.changed.set()


class Counting:
    """Generations in flight at the provider, across every engine's client."""

    def __init__(self) -> None:
        self.active = 0
        self.most = 0


class CountingClient(LyriaClient):
    counting: Counting

    async def submit(self, request: GenerationRequest) -> Submission:
        self.counting.active += 1
        self.counting.most = max(self.counting.most, self.counting.active)
        return await super().submit(request)

    async def poll(self, generation_id: str) -> PollResult:
        result = await super().poll(generation_id)
        if result.state == "completed":
            self.counting.active -= 1
        return result


@dataclass
class Process:
    engine: JobEngine
    store: PostgresStore
    tasks: TaskTracker
    listener: Listener
    alive: bool = True

    def finished(self, job_id: str) -> list[Job]:
        return [job for job in self.listener.finished if job.id == job_id]


@dataclass
class Rig:
    api: FakeAimlApi
    session: aiohttp.ClientSession
    url: object
    tmp_path: Path
    counting: Counting = field(default_factory=Counting)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    processes: list[Process] = field(default_factory=list)

    async def process(
        self, name: str, *, max_concurrent: int = 2, lease: float = LEASE, **options: object
    ) -> Process:
        store = await PostgresStore.open(self.url)  # type: ignore[arg-type]
        client = CountingClient(self.session, api_key="test-key", base_url=self.api.base_url)
        client.counting = self.counting
        tasks = TaskTracker()
        engine = JobEngine(
            store=store.jobs,
            client=client,
            audio_dir=self.tmp_path / "audio",
            model="google/lyria2",
            max_concurrent=max_concurrent,
            generation_timeout=60.0,
            max_audio_bytes=10 * 1024 * 1024,
            schedule_factory=fast_schedule,
            tasks=tasks,
            owner=name,
            lease_seconds=lease,
            sole=False,
            signals=PostgresJobSignals(store.database),
            **options,  # type: ignore[arg-type]
        )
        listener = Listener(self.changed)
        engine.add_listener(listener)
        process = Process(engine, store, tasks, listener)
        self.processes.append(process)
        await engine.start()
        return process

    async def kill(self, process: Process) -> None:
        """What SIGKILL leaves: every task gone mid-step, connections dropped, leases kept."""
        process.alive = False
        await process.tasks.close()
        signals = process.engine._signals  # its listening connection dies too
        assert signals is not None
        await signals.close()
        await process.store.close()

    async def wait_until(self, predicate: Callable[[], bool], within: float = 20.0) -> None:
        """Until `predicate()` holds: checked on every listener event, and at least every
        0.1 s for what no listener hears (a kill)."""
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.1)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with (
        fresh_schema("shared") as url,
        FakeAimlApi(generation_seconds=1.0) as api,
        aiohttp.ClientSession() as session,
    ):
        r = Rig(api, session, url, tmp_path)
        yield r
        for process in r.processes:
            if process.alive:
                await process.engine.stop()
                await process.tasks.close()
                await process.store.close()
        assert api.schema_errors == []


def ask(prompt: str, requester: str) -> JobRequest:
    return JobRequest(prompt=prompt, requester_id=requester)


async def state_of(process: Process, job_id: str) -> JobState:
    job = await process.engine.get(job_id)
    assert job is not None
    return job.state


async def test_work_one_engine_cannot_start_is_run_by_the_other(rig: Rig) -> None:
    # Leases of a minute: no periodic check comes before the end, only the notifications.
    full = await rig.process("full", max_concurrent=1, lease=60)
    idle = await rig.process("idle", max_concurrent=3, lease=60)
    jobs = [await full.engine.enqueue(ask(f"piece {n}", f"member-{n}")) for n in range(4)]
    every = [job.id for job in jobs]
    await rig.wait_until(
        lambda: sorted(j.id for p in rig.processes for j in p.listener.finished) == sorted(every)
    )
    ran_here = {j.id for j in full.listener.finished}
    ran_there = {j.id for j in idle.listener.finished}
    assert jobs[0].id in ran_here  # it had a slot for the first one
    assert ran_there and not ran_here & ran_there
    assert len(rig.api.submissions) == 4
    for job in jobs:
        assert await state_of(idle, job.id) is JobState.COMPLETED


async def test_jobs_of_an_engine_killed_mid_poll_are_taken_over_once(rig: Rig) -> None:
    rig.api.generation_seconds = 2.0
    heir = await rig.process("heir", max_concurrent=1)
    doomed = await rig.process("doomed", max_concurrent=2)
    jobs = [await doomed.engine.enqueue(ask(f"tune {n}", f"m{n}")) for n in range(2)]

    async def kill(_request: RecordedRequest) -> None:
        await rig.kill(doomed)

    hook = rig.api.on_request(lambda r: r.method == "GET" and "generation_id" in r.query, kill)
    await rig.api.wait_for(lambda: len(rig.api.submissions) == 2 and hook.fired == 1)
    await rig.wait_until(lambda: not doomed.alive)
    # The heir takes both over once their leases expire (in flight: past its one slot).
    await rig.wait_until(lambda: all(heir.finished(job.id) for job in jobs))
    for job in jobs:
        assert len(heir.finished(job.id)) == 1
        done = heir.finished(job.id)[0]
        assert done.state is JobState.COMPLETED and done.audio_path is not None
    assert len(rig.api.submissions) == 2  # never submitted again
    assert doomed.listener.finished == []


async def test_a_job_killed_mid_download_is_downloaded_by_the_other(rig: Rig) -> None:
    heir = await rig.process("heir", max_concurrent=1)
    doomed = await rig.process("doomed", max_concurrent=1)

    async def kill(_request: RecordedRequest) -> None:
        await rig.kill(doomed)

    rig.api.on_request(lambda r: r.path.startswith("/cdn/"), kill, when="before")
    job = await doomed.engine.enqueue(ask("drone", "zoe"))
    await rig.wait_until(lambda: not doomed.alive)
    await rig.wait_until(lambda: bool(heir.finished(job.id)))
    done = heir.finished(job.id)[0]
    assert done.state is JobState.COMPLETED and done.audio_path is not None
    assert await asyncio.to_thread(Path(done.audio_path).read_bytes) == rig.api.audio
    assert len(rig.api.submissions) == 1
    assert len(heir.finished(job.id)) == 1


async def test_a_job_left_submitting_by_a_dead_engine_becomes_submit_unknown(rig: Rig) -> None:
    survivor = await rig.process("survivor")
    job = await survivor.engine.enqueue(ask("never twice", "bob"))
    await rig.wait_until(lambda: bool(survivor.finished(job.id)))
    # What a process killed between "submitting" and the provider's answer leaves behind.
    now = time.time()
    fresh = replace(job, id="deadbeef0001", created_at=now, updated_at=now)
    await survivor.store.jobs.insert(fresh, lease=("dead-process", now + LEASE))
    await survivor.store.jobs.transition(fresh.id, JobState.QUEUED, JobState.SUBMITTING, now=now)
    await rig.wait_until(lambda: bool(survivor.finished(fresh.id)))
    ended = survivor.finished(fresh.id)[0]
    assert ended.state is JobState.SUBMIT_UNKNOWN
    assert ended.error_kind is ErrorKind.INTERRUPTED
    assert len(rig.api.submissions) == 1  # the first job only


async def test_the_global_limit_holds_across_two_engines(rig: Rig) -> None:
    first = await rig.process("first", max_concurrent=3, global_limit=2, lease=60)
    second = await rig.process("second", max_concurrent=3, global_limit=2, lease=60)
    jobs = [await first.engine.enqueue(ask(f"a{n}", f"a{n}")) for n in range(4)]
    jobs += [await second.engine.enqueue(ask(f"b{n}", f"b{n}")) for n in range(4)]
    every = sorted(job.id for job in jobs)
    await rig.wait_until(
        lambda: sorted(j.id for p in rig.processes for j in p.listener.finished) == every,
        within=40,
    )
    assert rig.counting.most == 2
    assert len(rig.api.submissions) == 8


async def test_a_stopping_engine_hands_its_jobs_in_flight_over_at_once(rig: Rig) -> None:
    rig.api.generation_seconds = 2.0
    heir = await rig.process("heir", max_concurrent=1, lease=60)
    leaving = await rig.process("leaving", max_concurrent=2, lease=60)
    jobs = [await leaving.engine.enqueue(ask(f"song {n}", f"m{n}")) for n in range(2)]
    await rig.api.wait_for(lambda: len(rig.api.submissions) == 2)
    await rig.wait_until(lambda: len(rig.api.polls) >= 1)
    await leaving.engine.stop()  # releases its leases and says so: no minute's wait
    leaving.alive = False
    await leaving.tasks.close()
    await leaving.store.close()
    await rig.wait_until(lambda: all(heir.finished(job.id) for job in jobs))
    assert len(rig.api.submissions) == 2
    assert [j.id for j in leaving.listener.finished] == []
