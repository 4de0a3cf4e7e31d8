"""The bot's metrics, in a Prometheus registry of its own (not the client's global default, so
tests and several bots in one process never share counts).

What is counted where: jobs by state, queue length and the gateway are read when /metrics is
scraped (`refresh`); everything else is recorded as it happens, by the job listener
(`jobs.JobMetrics`), the HTTP traces (`traces`), the quota ledger's observer and the loop
monitor (`loop`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from bot.jobs.models import JobState
from bot.quota.models import Grant, Limit, Refusal, Requester

log = logging.getLogger(__name__)

REFRESH_TIMEOUT = 2.0  # seconds a scrape waits for one source (the database, say)
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)
_GENERATION = (10.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 60.0, 90.0, 120.0, 300.0)
_POLLS = (1, 2, 3, 5, 8, 12, 16, 24, 32, 48, 64)
_LOOP = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Refresher = Callable[[], Awaitable[None]]


class BotMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Gauge("lyria_jobs", "Jobs in the database, by state", ["state"], registry=r)
        self.queue_length = Gauge(
            "lyria_job_queue_length", "Jobs waiting for a slot in this process", registry=r
        )
        self.running = Gauge(
            "lyria_jobs_running", "Jobs holding a slot in this process", registry=r
        )
        self.finished = Counter(
            "lyria_jobs_finished", "Jobs that reached an end state here", ["state"], registry=r
        )
        self.polls = Counter("lyria_provider_polls", "Polls sent to the provider", registry=r)
        self.polls_per_job = Histogram(
            "lyria_job_polls", "Polls a job needed until completion", buckets=_POLLS, registry=r
        )
        self.generation = Histogram(
            "lyria_generation_seconds",
            "Submission to the engine noticing completion",
            buckets=_GENERATION,
            registry=r,
        )
        self.detection_lag = Histogram(
            "lyria_detection_lag_seconds",
            "Upper bound of provider completion to the engine noticing it "
            "(noticed minus the poll before)",
            buckets=_SECONDS,
            registry=r,
        )
        self.delivery_overhead = Histogram(
            "lyria_delivery_overhead_seconds",
            "Engine noticing completion to the result being posted",
            buckets=_SECONDS,
            registry=r,
        )
        self.job_errors = Counter(
            "lyria_job_errors", "Jobs that ended with an error, by kind", ["kind"], registry=r
        )
        self.provider_errors = Counter(
            "lyria_provider_http_errors",
            "Failed requests to the AI/ML API (retried or not), by kind",
            ["kind"],
            registry=r,
        )
        self.discord_errors = Counter(
            "lyria_discord_http_errors", "Failed requests to Discord, by kind", ["kind"], registry=r
        )
        self.quota_grants = Counter("lyria_quota_grants", "Credit reserved", registry=r)
        self.quota_refusals = Counter(
            "lyria_quota_refusals", "Reservations refused, by limit", ["limit"], registry=r
        )
        self.loop_lag = Histogram(
            "lyria_event_loop_lag_seconds",
            "How late the event loop ran a timer",
            buckets=_LOOP,
            registry=r,
        )
        self.gateway_connected = Gauge(
            "lyria_gateway_connected", "1 while the Discord gateway is connected", registry=r
        )
        self.shard_latency = Gauge(
            "lyria_shard_latency_seconds",
            "Heartbeat round trip, by shard",
            ["shard"],
            registry=r,
        )
        self.database_up = Gauge(
            "lyria_database_up", "1 when the database answered the last scrape", registry=r
        )
        for state in JobState:
            self.jobs.labels(state=state.value)
        for limit in Limit:
            self.quota_refusals.labels(limit=limit.value)
        self._refreshers: list[tuple[str, Refresher]] = []

    # -- recorded as it happens ----------------------------------------------------------------

    def quota_decided(self, requester: Requester, outcome: Grant | Refusal) -> None:
        """The quota ledger's observer."""
        if isinstance(outcome, Grant):
            self.quota_grants.inc()
        else:
            self.quota_refusals.labels(limit=outcome.limit.value).inc()

    # -- read at scrape time ---------------------------------------------------------------

    def add_refresher(self, name: str, refresh: Refresher) -> None:
        """`refresh()` sets gauges from a live source before each scrape."""
        self._refreshers.append((name, refresh))

    async def refresh(self) -> None:
        for name, refresh in list(self._refreshers):
            try:
                await asyncio.wait_for(refresh(), REFRESH_TIMEOUT)
            except Exception as error:
                log.warning("metrics: %s could not be read: %r", name, error)

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) in the format `accept` asks for (Prometheus text by default,
        OpenMetrics when asked), gauges refreshed first."""
        await self.refresh()
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
