"""The job engine's state machine, driven by a scripted in-memory client and a fake clock."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.aimlapi.errors import (
    AmbiguousSubmission,
    BadRequest,
    DownloadError,
    GenerationFailed,
    NotFound,
    RateLimited,
    ServerError,
)
from bot.aimlapi.models import GenerationRequest, PollResult
from bot.jobs.engine import JobEngine, JobError
from bot.jobs.models import (
    Delivery,
    DeliveryVia,
    ErrorKind,
    Job,
    JobState,
    Origin,
    Phase,
    Progress,
)
from bot.jobs.poll_schedule import PollSchedule
from bot.store.errors import StoreBusy
from bot.store.sqlite import SqliteStore
from tests.bot.jobs.support import WAV, Harness, Recorder, ScriptedClient, finished, request


async def test_a_job_runs_from_queued_to_delivered(harness: Harness) -> None:
    engine = await harness.started()
    job = await engine.enqueue(request(seed=9, negative_prompt="drums", context={"k": 1}))
    done = await finished(engine, job)

    assert done.state is JobState.COMPLETED
    assert done.generation_id == "gen-1" and done.credits_used == 5.0
    assert done.usage_headers == {"x-a": "1"}
    assert done.poll_count == 3 and done.provider_status == "completed"
    assert done.audio_path is not None
    assert await asyncio.to_thread(Path(done.audio_path).read_bytes) == WAV
    assert Path(done.audio_path).name == f"{job.id}.wav"
    assert done.audio_duration_seconds == 1.5 and done.audio_size_bytes == len(WAV)
    assert done.submitted_at is not None and done.provider_completed_at is not None
    assert harness.client.submits == [GenerationRequest("calm piano", "drums", 9)]
    assert harness.recorder.commits == [job.id] and harness.recorder.refunds == []
    assert harness.recorder.finished == [done]
    assert harness.recorder.phases(job.id) == [
        Phase.QUEUED,
        Phase.SUBMITTING,
        Phase.GENERATING,
        Phase.DOWNLOADING,
        Phase.COMPLETED,
    ]
    assert len(await harness.store.generation_times()) == 1

    record = Delivery(DeliveryVia.CHANNEL, message_id=77, channel_id=5)
    delivered = await engine.mark_delivered(job.id, record)
    assert delivered.state is JobState.DELIVERED and delivered.delivered_at is not None
    assert delivered.delivery == record and delivered.context == {"k": 1}
    again = await engine.mark_delivered(job.id, Delivery(DeliveryVia.DM, message_id=78))
    assert again.state is JobState.DELIVERED and again.delivery == record  # idempotent
    assert await engine.wait_finished(job.id) == delivered


async def test_a_refused_submission_fails_with_the_reason_and_refunds(harness: Harness) -> None:
    harness.client.submit_script.append(
        BadRequest("400", status=400, provider_message="prompt <@123>\n is not allowed")
    )
    engine = await harness.started()
    job = await engine.enqueue(request())
    done = await finished(engine, job)
    assert done.state is JobState.FAILED and done.error_kind is ErrorKind.BAD_REQUEST
    assert done.error_detail == "prompt <@123> is not allowed"  # the provider's words, one line
    assert harness.recorder.refunds == [job.id] and harness.recorder.commits == []
    assert harness.client.polls == []


async def test_an_ambiguous_submission_is_neither_retried_committed_nor_refunded(
    harness: Harness,
) -> None:
    harness.client.submit_script.append(AmbiguousSubmission("connection reset after send"))
    engine = await harness.started()
    job = await engine.enqueue(request())
    done = await finished(engine, job)
    assert done.state is JobState.SUBMIT_UNKNOWN and done.error_kind == "AmbiguousSubmission"
    assert len(harness.client.submits) == 1
    assert harness.recorder.commits == [] and harness.recorder.refunds == []
    assert harness.recorder.phases(job.id)[-1] is Phase.FAILED


async def test_a_failed_generation_is_charged_and_explained(harness: Harness) -> None:
    harness.client.poll_script.extend(
        ["queued", GenerationFailed("error", name="SafetyFilter", provider_message="unsafe")]
    )
    engine = await harness.started()
    job = await engine.enqueue(request())
    done = await finished(engine, job)
    assert done.state is JobState.FAILED and done.error_kind is ErrorKind.PROVIDER_FAILED
    assert done.error_detail == "unsafe"
    assert done.poll_count == 2
    assert harness.recorder.commits == [job.id] and harness.recorder.refunds == []


async def test_a_permanent_poll_error_fails_the_job(harness: Harness) -> None:
    harness.client.poll_script.append(NotFound("404", status=404))
    engine = await harness.started()
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.FAILED and done.error_kind is ErrorKind.NOT_FOUND
    assert done.error_detail is None


async def test_transient_poll_errors_back_off_and_honour_retry_after(harness: Harness) -> None:
    harness.client.poll_script.extend(
        [RateLimited("429", retry_after=42.0), ServerError("502"), ServerError("503")]
    )
    engine = await harness.started()
    job = await engine.enqueue(request())
    done = await finished(engine, job)
    assert done.state is JobState.COMPLETED
    assert done.poll_count == 3 + 3  # the three failed requests count too
    first_poll = engine.schedule.plan[0]
    retry_sleeps = harness.time.sleeps[1:4]
    assert harness.time.sleeps[0] == pytest.approx(first_poll)
    assert retry_sleeps[0] >= 42.0
    assert 1.0 <= retry_sleeps[1] <= 4.0 and 2.0 <= retry_sleeps[2] <= 8.0


async def test_a_generation_that_never_finishes_times_out_at_the_deadline(
    harness: Harness,
) -> None:
    harness.client.polls_until_done = 10**9
    engine = await harness.started(generation_timeout=120.0)
    job = await engine.enqueue(request())
    done = await finished(engine, job)
    assert done.state is JobState.TIMED_OUT and done.error_kind == "Timeout"
    assert done.submitted_at is not None
    assert harness.time.now == pytest.approx(done.submitted_at + 120.0)
    assert done.deadline_at == pytest.approx(done.submitted_at + 120.0)
    assert 5 <= done.poll_count <= 40  # sparse tail, not one poll per second
    assert harness.recorder.refunds == []
    assert harness.recorder.phases(job.id)[-1] is Phase.TIMED_OUT


async def test_only_queued_jobs_can_be_cancelled_and_cancelling_refunds(
    harness: Harness,
) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(max_concurrent=1)
    first = await engine.enqueue(request(requester="alice"))
    second = await engine.enqueue(request(requester="bob"))
    await asyncio.sleep(0.01)
    assert engine.queue_position(second.id) == 1 and engine.queue_position(first.id) is None

    assert await engine.cancel(first.id, by="alice") is False  # already submitting
    assert await engine.cancel(second.id, by="mod:7") is True
    assert await engine.cancel(second.id, by="mod:7") is False
    cancelled = await finished(engine, second)
    assert cancelled.state is JobState.CANCELLED and cancelled.cancelled_by == "mod:7"
    assert harness.recorder.refunds == [second.id]
    assert harness.recorder.phases(second.id) == [Phase.QUEUED, Phase.CANCELLED]

    harness.client.submit_gate.set()
    assert (await finished(engine, first)).state is JobState.COMPLETED
    assert [r.prompt for r in harness.client.submits] == ["calm piano"]


async def test_the_queue_is_fair_between_requesters(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(max_concurrent=1)
    jobs = [await engine.enqueue(request(f"alice {i}", "alice")) for i in range(3)]
    jobs.append(await engine.enqueue(request("bob 0", "bob")))
    assert engine.queue_position(jobs[3].id) == 1  # ahead of alice's second and third
    harness.client.submit_gate.set()
    for job in jobs:
        await finished(engine, job)
    assert [r.prompt for r in harness.client.submits] == ["alice 0", "bob 0", "alice 1", "alice 2"]


async def test_no_more_than_max_concurrent_jobs_run_at_once(harness: Harness) -> None:
    # Held at submission until the positions are read: otherwise the first two jobs may finish
    # (and free their slots) while the others are still being enqueued, one database write
    # each, on a busy machine (this test failed 1 run in 3 that way).
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(max_concurrent=2)
    jobs = [await engine.enqueue(request(requester=f"user{i}")) for i in range(6)]
    positions = [engine.queue_position(job.id) for job in jobs]
    assert positions[:2] == [None, None] and positions[2:] == [1, 2, 3, 4]
    harness.client.submit_gate.set()
    for job in jobs:
        assert (await finished(engine, job)).state is JobState.COMPLETED
    assert harness.client.max_in_flight == 2
    queued_events = [p for job_id, p in harness.recorder.progress if job_id == jobs[5].id]
    assert queued_events[0].phase is Phase.QUEUED and queued_events[0].queue_position == 4
    assert queued_events[0].estimate_remaining is not None


async def test_ticks_report_queue_position_status_and_estimate(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(max_concurrent=1)
    running = await engine.enqueue(request(requester="alice"))
    waiting = await engine.enqueue(request(requester="bob"))
    await asyncio.sleep(0.01)
    harness.recorder.progress.clear()
    await engine.tick()
    ticked = {job_id: p for job_id, p in harness.recorder.progress}
    assert set(ticked) == {waiting.id}  # the submitting job is not ticked, the waiting one is
    assert ticked[waiting.id].queue_position == 1
    harness.client.submit_gate.set()
    await finished(engine, running)
    await finished(engine, waiting)


async def test_periodic_ticks_arrive_while_generating(harness: Harness) -> None:
    harness.client.poll_script.extend(["waiting"] * 1000)

    async def slow_sleep(seconds: float) -> None:
        harness.time.now += seconds
        await asyncio.sleep(0.005)

    engine = await harness.started(tick_interval=0.01, sleep=slow_sleep)
    job = await engine.enqueue(request())

    def generating() -> list[Progress]:
        return [
            p for i, p in harness.recorder.progress if i == job.id and p.phase is Phase.GENERATING
        ]

    await harness.wait_until(
        lambda: len(generating()) >= 3 and generating()[-1].provider_status == "waiting"
    )
    assert generating()[-1].elapsed > 0


async def test_listener_failures_are_logged_and_do_not_stop_the_job(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def on_progress(self, job: Job, progress: Progress) -> None:
            raise RuntimeError("boom in progress")

        async def on_finished(self, job: Job) -> None:
            raise RuntimeError("boom in finished")

    engine = await harness.started()
    engine.add_listener(Broken())
    with caplog.at_level(logging.ERROR):
        done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.COMPLETED
    assert "failed on_progress" in caplog.text and "failed on_finished" in caplog.text
    assert len(harness.recorder.finished) == 1


@pytest.mark.parametrize("reason", ["too_large", "not_audio", "gone"])
async def test_a_download_that_cannot_work_falls_back_to_the_link(
    harness: Harness, reason: str
) -> None:
    harness.client.download_script.append(DownloadError("nope", reason=reason))
    engine = await harness.started()
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.COMPLETED
    assert done.audio_path is None and done.audio_url == "https://cdn.example/gen-1.wav"
    assert done.error_kind is ErrorKind.DOWNLOAD_FAILED and done.error_detail == reason
    assert len(harness.client.downloads) == 1


async def test_transient_download_failures_are_retried(harness: Harness) -> None:
    harness.client.download_script.extend(
        [DownloadError("reset", reason="network"), DownloadError("short", reason="truncated")]
    )
    engine = await harness.started()
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.COMPLETED and done.audio_path is not None
    assert len(harness.client.downloads) == 3


async def test_history_teaches_the_schedule_and_the_estimate(harness: Harness) -> None:
    for i in range(30):
        await harness.store.record_generation_time(f"old{i}", 80.0 + i % 3, now=1.0)
    engine = await harness.started()
    estimate = engine.estimate_seconds()
    assert estimate is not None and 80 <= estimate <= 82
    before = [t for t in engine.schedule.plan if t < 75]
    assert before[:2] == [1.5, 3.0]  # the early status checks
    assert len(before) <= 11  # then about one per vendor window: nothing dense before 75 s


async def test_mark_delivered_refuses_jobs_that_are_not_completed(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started()
    job = await engine.enqueue(request())
    with pytest.raises(JobError, match="not completed"):
        await engine.mark_delivered(job.id, Delivery(DeliveryVia.CHANNEL))
    with pytest.raises(JobError, match="unknown job"):
        await engine.mark_delivered("nope", Delivery(DeliveryVia.CHANNEL))
    with pytest.raises(JobError, match="unknown job"):
        await engine.wait_finished("nope")
    harness.client.submit_gate.set()
    await finished(engine, job)


# -- restart ---------------------------------------------------------------------------------------


async def test_restart_resumes_a_submitted_job_without_resubmitting(harness: Harness) -> None:
    harness.client.poll_script.extend(["queued"] * 2)
    gate = asyncio.Event()
    original_poll = harness.client.poll

    async def gated_poll(generation_id: str) -> PollResult:
        await gate.wait()
        return await original_poll(generation_id)

    harness.client.poll = gated_poll  # type: ignore[method-assign]
    first = await harness.started()
    job = await first.enqueue(request())
    await harness.wait_until(lambda: bool(harness.recorder.commits))
    await first.stop()
    row = await harness.store.get(job.id)
    assert row is not None and row.state is JobState.SUBMITTED and row.generation_id == "gen-1"

    gate.set()
    second = await harness.started()
    done = await finished(second, job)
    assert done.state is JobState.COMPLETED
    assert len(harness.client.submits) == 1
    assert harness.recorder.commits == [job.id, job.id]  # committed again, idempotently
    assert [j.id for j in harness.recorder.finished] == [job.id]


async def test_restart_turns_an_interrupted_submission_into_submit_unknown(
    harness: Harness,
) -> None:
    harness.client.submit_gate = asyncio.Event()
    first = await harness.started()
    job = await first.enqueue(request())
    await harness.wait_until(lambda: len(harness.client.submits) == 1)
    await first.stop()
    assert (await harness.store.get(job.id)).state is JobState.SUBMITTING  # type: ignore[union-attr]

    harness.client.submit_gate.set()
    second = await harness.started()
    done = await finished(second, job)
    assert done.state is JobState.SUBMIT_UNKNOWN and done.error_kind == "Interrupted"
    assert len(harness.client.submits) == 1
    assert harness.recorder.finished[-1].id == job.id
    assert harness.recorder.commits == [] and harness.recorder.refunds == []


async def test_restart_requeues_in_created_order_and_redelivers_completed_jobs(
    harness: Harness,
) -> None:
    first = await harness.started(max_concurrent=1)
    done = await finished(first, await first.enqueue(request("done first")))
    harness.client.submit_gate = asyncio.Event()
    blocker = await first.enqueue(request("blocker", "zed"))
    waiting = [await first.enqueue(request(f"w{i}", "alice")) for i in range(3)]
    await harness.wait_until(lambda: len(harness.client.submits) == 2)
    await first.stop()
    harness.recorder.finished.clear()

    harness.client.submit_gate.set()
    second = await harness.started(max_concurrent=1)
    assert [j.id for j in harness.recorder.finished[:2]] == [done.id, blocker.id]
    assert harness.recorder.finished[1].state is JobState.SUBMIT_UNKNOWN
    for job in waiting:
        await finished(second, job)
    assert [r.prompt for r in harness.client.submits[2:]] == ["w0", "w1", "w2"]


async def test_resume_can_be_limited_to_some_origins(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    first = await harness.started(max_concurrent=1)
    await first.enqueue(request("blocker"))
    discord_job = await first.enqueue(request("from discord", origin=Origin.DISCORD))
    await first.stop()
    harness.client.submit_gate.set()
    await harness.started(resume_origins=frozenset({Origin.TERMINAL}))
    await asyncio.sleep(0.05)
    row = await harness.store.get(discord_job.id)
    assert row is not None and row.state is JobState.QUEUED


def test_the_default_schedule_uses_the_vendor_prior() -> None:
    assert PollSchedule.from_history([]).typical() == pytest.approx(32.0, abs=0.5)


async def test_a_crashing_job_task_is_logged_and_releases_its_waiters(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenSchedule(PollSchedule):
        def next_delay(self, elapsed: float, *, last_poll: float | None = None) -> float:
            raise RuntimeError("schedule bug")

    engine = await harness.started(schedule_factory=lambda history: BrokenSchedule((30.0,)))
    job = await engine.enqueue(request())
    with caplog.at_level(logging.ERROR), pytest.raises(JobError, match="internal error"):
        await finished(engine, job)
    assert f"job-{job.id} failed" in caplog.text and "schedule bug" in caplog.text
    row = await harness.store.get(job.id)
    assert row is not None and row.state is JobState.SUBMITTED  # resumable after a restart
    assert engine.active_count == 0


async def test_five_hundred_jobs_run_at_once_without_stalling_the_loop(tmp_path: Path) -> None:
    sqlite = await SqliteStore.open(tmp_path / "many.sqlite3")
    changed = asyncio.Event()
    client = ScriptedClient(changed, polls_until_done=3)
    recorder = Recorder(changed)
    engine = JobEngine(
        store=sqlite.jobs,
        client=client,
        audio_dir=tmp_path / "audio",
        model="google/lyria2",
        max_concurrent=500,
        generation_timeout=60.0,
        max_audio_bytes=10_000,
        schedule_factory=lambda history: PollSchedule((0.3,), target_lag=0.1),
        tick_interval=0.1,
    )
    engine.add_listener(recorder)
    worst_lateness = 0.0

    async def heartbeat() -> None:
        nonlocal worst_lateness
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            worst_lateness = max(worst_lateness, loop.time() - before - 0.01)

    beat = asyncio.create_task(heartbeat())
    await engine.start()
    try:
        jobs = [await engine.enqueue(request(requester=f"user{i % 37}")) for i in range(500)]
        done = await asyncio.wait_for(
            asyncio.gather(*(engine.wait_finished(job.id) for job in jobs)), 30
        )
    finally:
        beat.cancel()
        await engine.stop()
        await sqlite.close()
    assert all(job.state is JobState.COMPLETED for job in done)
    assert len(client.submits) == 500 and len(client.downloads) == 500
    assert client.max_in_flight >= 200  # really concurrent, not one after another
    assert len(recorder.finished) == 500
    assert worst_lateness < 0.5


async def test_jobs_enqueued_before_start_run_once_started(harness: Harness) -> None:
    engine = harness.engine()
    job = await engine.enqueue(request())
    assert engine.queue_position(job.id) == 1 and harness.client.submits == []
    await engine.start()
    assert (await finished(engine, job)).state is JobState.COMPLETED
    assert len(harness.client.submits) == 1


async def test_a_provider_that_keeps_failing_is_polled_until_the_deadline(
    harness: Harness,
) -> None:
    harness.client.poll_script.extend(ServerError("502") for _ in range(1000))
    engine = await harness.started(generation_timeout=300.0)
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.TIMED_OUT
    assert done.submitted_at is not None
    assert harness.time.now == pytest.approx(done.submitted_at + 300.0)
    assert 8 <= done.poll_count <= 40  # backed off (at most 30 s apart), never gave up early
    assert max(harness.time.sleeps) <= 30.0


async def test_a_download_that_keeps_failing_falls_back_to_the_link(harness: Harness) -> None:
    harness.client.download_script.extend(
        DownloadError("reset", reason="network") for _ in range(3)
    )
    engine = await harness.started()
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.COMPLETED and done.audio_path is None
    assert done.audio_url is not None and len(harness.client.downloads) == 3
    assert done.error_kind is ErrorKind.DOWNLOAD_FAILED and done.error_detail == "network"


class BusyOnce:
    """A job repository whose writes meet a busy database `times` times before they work."""

    def __init__(self, inner: Any, times: int) -> None:
        self._inner = inner
        self.left = times
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in ("update", "transition"):
            return attribute

        async def busy_first(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("learn") is not None and self.left > 0:
                self.left -= 1
                self.refused += 1
                raise StoreBusy("the database is busy: database is locked")
            return await attribute(*args, **kwargs)

        return busy_first


async def test_a_busy_database_after_submission_is_waited_out_not_a_stuck_job(
    harness: Harness,
) -> None:
    store = BusyOnce(harness.store, times=3)
    engine = await harness.started(store=store)
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.COMPLETED and done.audio_path is not None
    assert store.refused == 3 and len(harness.client.submits) == 1
    busy_waits = [s for s in harness.time.sleeps if s in (0.5, 1.0, 2.0)]
    assert busy_waits[-3:] == [0.5, 1.0, 2.0]  # backing off, in the running process


async def test_a_held_job_waits_out_its_cancel_window_and_can_be_cancelled_in_it(
    harness: Harness,
) -> None:
    engine = await harness.started(hold_seconds=0.2)
    held = await engine.enqueue(request("oops", requester="alice"))
    kept = await engine.enqueue(request("fine", requester="bob"))
    first = next(p for job_id, p in harness.recorder.progress if job_id == held.id)
    assert first.phase is Phase.QUEUED and first.starts_at == held.created_at + 0.2
    assert harness.client.submits == [] and engine.queue_position(held.id) is None
    assert await engine.cancel(held.id, by="alice")
    await finished(engine, kept)  # the window passes in real time; the other one is sent
    assert [r.prompt for r in harness.client.submits] == ["fine"]
    assert (await harness.store.get(held.id)).state is JobState.CANCELLED  # type: ignore[union-attr]


async def test_the_expected_finish_of_a_members_running_job(harness: Harness) -> None:
    harness.client.submit_gate = asyncio.Event()
    engine = await harness.started(max_concurrent=1)
    await engine.enqueue(request(requester="alice"))
    assert engine.expected_finish("nobody") is None
    ready = engine.expected_finish("alice")
    assert ready is not None and ready > harness.time.now
    harness.client.submit_gate.set()


async def test_failures_nobody_was_told_about_are_told_at_the_next_start(
    harness: Harness,
) -> None:
    harness.client.submit_script.append(BadRequest("400", provider_message="nope"))
    engine = await harness.started()
    job = await finished(engine, await engine.enqueue(request()))
    assert job.state is JobState.FAILED
    await engine.stop()
    harness.recorder.finished.clear()
    await harness.started()  # nobody recorded that the requester was told: tell them now
    assert [j.id for j in harness.recorder.finished] == [job.id]
    await harness.store.update(job.id, now=harness.time.now, failure_reported_at=1.0)
    harness.recorder.finished.clear()
    await harness.started()  # reported: not again
    assert harness.recorder.finished == []
