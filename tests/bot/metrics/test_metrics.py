"""Metrics and health on loopback: the registry, the job listener and repository wrapper, the
HTTP traces, the loop monitor, and the /metrics and /healthz server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.jobs.models import Delivery, DeliveryVia, ErrorKind, Job, JobState, Origin
from bot.metrics.jobs import JobMetrics, MeteredJobs
from bot.metrics.loop import LoopMonitor
from bot.metrics.registry import BotMetrics
from bot.metrics.server import HealthChecks, MetricsServer
from bot.metrics.traces import ProviderTrace, discord_trace
from bot.quota.models import Grant, Limit, Refusal, Requester
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker


def sample(metrics: BotMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def job(**changes: object) -> Job:
    base = Job(
        id="j1",
        state=JobState.COMPLETED,
        prompt="p",
        negative_prompt=None,
        seed=None,
        model="m",
        requester_id="1",
        guild_id=None,
        channel_id=None,
        origin=Origin.DISCORD,
        context={},
        created_at=100.0,
        updated_at=100.0,
        deadline_at=700.0,
        generation_id="gen-1",
        submitted_at=101.0,
        provider_completed_at=139.0,
        poll_count=7,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_each_bot_has_a_registry_of_its_own() -> None:
    first, second = BotMetrics(), BotMetrics()
    first.quota_decided(Requester(1, 2, 3), Grant("j", None, None))
    first.quota_decided(Requester(1, 2, 3), Refusal(Limit.GUILD_POOL))
    assert sample(first, "lyria_quota_grants_total") == 1
    assert sample(first, "lyria_quota_refusals_total", limit="guild_pool") == 1
    assert sample(second, "lyria_quota_grants_total") == 0
    assert sample(second, "lyria_quota_refusals_total", limit="bot_cap") == 0  # named, at 0


async def test_finished_jobs_record_polls_generation_time_errors_and_detection_lag() -> None:
    metrics = BotMetrics()
    listener = JobMetrics(metrics, previous_poll=lambda gid: 138.25 if gid == "gen-1" else None)
    await listener.on_finished(job())
    await listener.on_finished(
        job(id="j2", state=JobState.FAILED, error_kind=ErrorKind.RATE_LIMITED, generation_id="x")
    )
    assert sample(metrics, "lyria_job_polls_count") == 1
    assert sample(metrics, "lyria_job_polls_sum") == 7
    assert sample(metrics, "lyria_generation_seconds_sum") == 38.0
    assert sample(metrics, "lyria_detection_lag_seconds_sum") == 0.75
    assert sample(metrics, "lyria_jobs_finished_total", state="completed") == 1
    assert sample(metrics, "lyria_jobs_finished_total", state="failed") == 1
    assert sample(metrics, "lyria_job_errors_total", kind="rate_limited") == 1


async def test_a_delivery_records_its_overhead_once(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "m.sqlite3")
    try:
        metrics = BotMetrics()
        jobs = MeteredJobs(store.jobs, metrics)
        await jobs.insert(job(state=JobState.QUEUED))
        await jobs.transition(
            "j1", JobState.QUEUED, JobState.COMPLETED, now=140.0, provider_completed_at=139.0
        )
        delivered = await jobs.deliver("j1", Delivery(DeliveryVia.CHANNEL, 5, 6), now=139.5)
        assert delivered is not None and delivered.state is JobState.DELIVERED
        await jobs.deliver("j1", Delivery(DeliveryVia.CHANNEL, 5, 6), now=150.0)  # again: no
        assert sample(metrics, "lyria_delivery_overhead_seconds_count") == 1
        assert sample(metrics, "lyria_delivery_overhead_seconds_sum") == 0.5
        assert await jobs.get("j1") == delivered
    finally:
        await store.close()


@pytest.fixture
async def provider() -> AsyncIterator[str]:
    """A loopback server: polls answer 200, 429 or 500 by their generation id."""

    async def poll(request: web.Request) -> web.Response:
        status = {"busy": 429, "broken": 500}.get(request.query["generation_id"], 200)
        return web.json_response({"status": "queued"}, status=status)

    app = web.Application()
    app.router.add_get("/v2/generate/audio", poll)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_the_traces_count_polls_and_failures_by_kind(provider: str) -> None:
    metrics = BotMetrics()
    trace = ProviderTrace(metrics)
    async with aiohttp.ClientSession(trace_configs=[trace.config, discord_trace(metrics)]) as s:
        for generation in ("gen-1", "gen-1", "busy", "broken", "gen-1"):
            async with s.get(f"{provider}/v2/generate/audio?generation_id={generation}"):
                pass
        with pytest.raises(aiohttp.ClientConnectionError):
            async with s.get("http://127.0.0.1:1/"):
                pass
    assert sample(metrics, "lyria_provider_polls_total") == 5
    assert sample(metrics, "lyria_provider_http_errors_total", kind="rate_limited") == 1
    assert sample(metrics, "lyria_provider_http_errors_total", kind="server_error") == 1
    assert sample(metrics, "lyria_provider_http_errors_total", kind="connection") == 1
    # Both traces were on this session; the Discord one counts the same failures.
    assert sample(metrics, "lyria_discord_http_errors_total", kind="rate_limited") == 1
    before_last = trace.previous_poll("gen-1")
    assert before_last is not None and before_last <= time.time()
    assert trace.previous_poll("gen-1") is None  # forgotten once read
    assert trace.previous_poll("never") is None


async def test_the_loop_monitor_sees_a_blocked_loop() -> None:
    metrics = BotMetrics()
    monitor = LoopMonitor(metrics, interval=0.02, unresponsive_lag=0.2)
    tasks = TaskTracker()
    monitor.start(tasks)
    try:
        await monitor.next_tick()
        assert monitor.responsive()
        time.sleep(0.3)  # noqa: ASYNC251 - blocking the loop is the point
        assert await monitor.next_tick() >= 0.25
        assert not monitor.responsive()
        for _ in range(50):  # the loop keeps up again (a busy test machine may delay a tick)
            if await monitor.next_tick() < 0.2:
                break
        assert monitor.responsive()
    finally:
        await tasks.close()
    assert sample(metrics, "lyria_event_loop_lag_seconds_count") >= 2


async def test_the_server_serves_metrics_and_health_on_loopback() -> None:
    metrics = BotMetrics()
    database_ok = True

    async def database() -> bool:
        if not database_ok:
            raise ConnectionError("the database went away")
        return True

    async def refresh() -> None:
        metrics.queue_length.set(3)

    metrics.add_refresher("queue", refresh)
    server = MetricsServer(metrics, HealthChecks(lambda: True, database, lambda: True))
    await server.start("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=")
                text = await response.text()
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {
                    "status": "ok",
                    "checks": {"gateway": True, "database": True, "loop": True},
                }
            database_ok = False
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 503
                body = await response.json()
                assert body["checks"]["database"] is False and body["status"] == "unhealthy"
    finally:
        await server.stop()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["lyria_job_queue_length"].samples[0].value == 3
    assert "lyria_quota_refusals" in families and "lyria_event_loop_lag_seconds" in families
