"""aiohttp request traces that count HTTP failures by kind, and the provider's polls.

Attached to a session when it is created (`aiohttp.ClientSession(trace_configs=...)`,
discord.py's `http_trace=`), they see every request without the code that sends it knowing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from types import SimpleNamespace

import aiohttp
from prometheus_client import Counter

from bot.metrics.registry import BotMetrics

MAX_TRACKED_GENERATIONS = 10_000  # poll times kept for jobs that never finish here


def error_kind(status: int) -> str | None:
    """None for a success; else the kind a failed answer is counted under."""
    if status < 400:
        return None
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "forbidden"
    if status == 404:
        return "not_found"
    if status == 413:
        return "too_large"
    return "server_error" if status >= 500 else "client_error"


def _counting(config: aiohttp.TraceConfig, errors: Counter) -> None:
    async def on_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        kind = error_kind(params.response.status)
        if kind is not None:
            errors.labels(kind=kind).inc()

    async def on_exception(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        timed_out = isinstance(params.exception, TimeoutError)
        errors.labels(kind="timeout" if timed_out else "connection").inc()

    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_exception)


def discord_trace(metrics: BotMetrics) -> aiohttp.TraceConfig:
    """For discord.py's HTTP client: failures by kind (429s included)."""
    config = aiohttp.TraceConfig()
    _counting(config, metrics.discord_errors)
    return config


class ProviderTrace:
    """For the AI/ML API session: failures by kind, every poll, and per generation the start of
    the poll before the last (completion happened after it: the detection-lag bound)."""

    def __init__(self, metrics: BotMetrics) -> None:
        self._metrics = metrics
        self._polls: OrderedDict[str, tuple[float | None, float]] = OrderedDict()
        self.config = aiohttp.TraceConfig()
        _counting(self.config, metrics.provider_errors)
        self.config.on_request_start.append(self._on_start)

    async def _on_start(
        self,
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        generation_id = params.url.query.get("generation_id")
        if params.method != "GET" or not generation_id:
            return
        self._metrics.polls.inc()
        last = self._polls.pop(generation_id, None)
        self._polls[generation_id] = (None if last is None else last[1], time.time())
        while len(self._polls) > MAX_TRACKED_GENERATIONS:
            self._polls.popitem(last=False)

    def previous_poll(self, generation_id: str) -> float | None:
        """When the poll before the last one of `generation_id` started (forgotten after)."""
        times = self._polls.pop(generation_id, None)
        return None if times is None else times[0]
