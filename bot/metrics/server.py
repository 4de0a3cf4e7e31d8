"""The metrics server: GET /metrics (Prometheus text format) and GET /healthz, on METRICS_PORT.

/healthz answers 200 when the gateway is connected, the database answers and the event loop
keeps up, else 503; its JSON body says which check failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.metrics.registry import BotMetrics

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class HealthChecks:
    gateway: Callable[[], bool]
    database: Callable[[], Awaitable[bool]]
    loop: Callable[[], bool]

    async def run(self) -> dict[str, bool]:
        try:
            database = await asyncio.wait_for(self.database(), CHECK_TIMEOUT)
        except Exception:  # unreachable, timed out: not healthy, whatever the reason
            database = False
        return {"gateway": self.gateway(), "database": database, "loop": self.loop()}


class MetricsServer:
    def __init__(self, metrics: BotMetrics, health: HealthChecks) -> None:
        self._metrics = metrics
        self._health = health
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (port 0: any free one, then in `port`)."""
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("metrics on http://%s:%d/metrics and /healthz", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _scrape(self, request: web.Request) -> web.Response:
        body, content_type = await self._metrics.exposition(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        checks = await self._health.run()
        healthy = all(checks.values())
        return web.json_response(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status=200 if healthy else 503,
        )
