"""Metrics and health: what the bot measures (`registry`), where from (job events, HTTP
traces, the quota ledger, the loop monitor) and the /metrics and /healthz server.

`Instruments` wires it all: made with the bot (discord.py's HTTP trace must exist before the
client), handed to `Services.open` (the provider session's trace, the job repository, the
engine's listener, the ledger's observer), served once METRICS_PORT is set.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import aiohttp

from bot.jobs.engine import JobEngine
from bot.jobs.models import JobState
from bot.metrics.jobs import JobMetrics, MeteredJobs
from bot.metrics.loop import LoopMonitor
from bot.metrics.registry import BotMetrics
from bot.metrics.server import HealthChecks, MetricsServer
from bot.metrics.traces import ProviderTrace, discord_trace
from bot.quota.ledger import QuotaLedger
from bot.store.base import JobRepository, Store
from bot.tasks import TaskTracker

__all__ = ["BotMetrics", "GatewayStatus", "Instruments"]

# (connected, [(shard id, heartbeat latency in seconds)]) — from the Discord client.
GatewayStatus = Callable[[], tuple[bool, list[tuple[int, float]]]]


class Instruments:
    def __init__(self) -> None:
        self.metrics = BotMetrics()
        self.provider = ProviderTrace(self.metrics)
        self.discord_trace = discord_trace(self.metrics)
        self.loop = LoopMonitor(self.metrics)
        self.server: MetricsServer | None = None
        self._store: Store | None = None

    # -- wiring (Services.open) ----------------------------------------------------------------

    def http_traces(self) -> list[aiohttp.TraceConfig]:
        """For the session that talks to the AI/ML API."""
        return [self.provider.config]

    def wrap_jobs(self, jobs: JobRepository) -> JobRepository:
        return MeteredJobs(jobs, self.metrics)

    def attach(self, *, store: Store, engine: JobEngine, ledger: QuotaLedger) -> None:
        self._store = store
        engine.add_listener(JobMetrics(self.metrics, self.provider.previous_poll))
        ledger.add_observer(self.metrics.quota_decided)
        metrics = self.metrics

        async def jobs_by_state() -> None:
            counts = await store.jobs.count_by_state()
            for state in JobState:
                metrics.jobs.labels(state=state.value).set(counts.get(state, 0))

        async def queue() -> None:
            metrics.queue_length.set(engine.queued_count)
            metrics.running.set(engine.active_count)

        metrics.add_refresher("queue", queue)
        metrics.add_refresher("jobs by state", jobs_by_state)

    # -- serving (JamBot.setup_hook / close) ---------------------------------------------------

    async def serve(
        self, host: str, port: int, *, gateway: GatewayStatus, tasks: TaskTracker
    ) -> MetricsServer:
        metrics = self.metrics

        async def gateway_gauges() -> None:
            connected, latencies = gateway()
            metrics.gateway_connected.set(1 if connected else 0)
            for shard, latency in latencies:
                value = latency if math.isfinite(latency) else math.nan
                metrics.shard_latency.labels(shard=str(shard)).set(value)

        async def database_up() -> None:
            metrics.database_up.set(0)
            metrics.database_up.set(1 if await self._database_answers() else 0)

        metrics.add_refresher("gateway", gateway_gauges)
        metrics.add_refresher("database", database_up)
        self.loop.start(tasks)
        health = HealthChecks(
            gateway=lambda: gateway()[0], database=self._database_answers, loop=self.loop.responsive
        )
        server = MetricsServer(metrics, health)
        await server.start(host, port)
        self.server = server
        return server

    async def close(self) -> None:
        self.loop.stop()
        if self.server is not None:
            server, self.server = self.server, None
            await server.stop()

    async def _database_answers(self) -> bool:
        if self._store is None:
            return False
        await self._store.schema_version()
        return True
