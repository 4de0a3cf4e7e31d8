"""The bot with METRICS_PORT set: /metrics and /healthz on loopback while it composes."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Harness, job_id_of


async def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of /metrics: name -> {labels: value}."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found


@pytest.mark.harness(env={"METRICS_PORT": "0"})
async def test_metrics_follow_a_compose_and_health_says_ok(harness: Harness) -> None:
    server = harness.bot.instruments.server
    assert server is not None and server.port
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}/healthz") as response,
    ):
        assert response.status == 200
        assert (await response.json())["checks"] == {
            "gateway": True,
            "database": True,
            "loop": True,
        }

    result = await harness.result_of(await harness.compose("calm lo-fi piano"))
    await harness.wait_job_state(job_id_of(result), "delivered")
    samples = await scrape(server.port)
    assert samples["lyria_jobs"][(("state", "delivered"),)] == 1
    assert samples["lyria_jobs"][(("state", "queued"),)] == 0
    assert samples["lyria_quota_grants_total"][()] == 1
    assert samples["lyria_provider_polls_total"][()] >= 1
    assert samples["lyria_job_polls_count"][()] == 1
    assert samples["lyria_delivery_overhead_seconds_count"][()] == 1
    assert samples["lyria_gateway_connected"][()] == 1
    assert samples["lyria_database_up"][()] == 1
    assert samples["lyria_job_queue_length"][()] == 0
    assert (("shard", "0"),) in samples["lyria_shard_latency_seconds"]
    assert "lyria_event_loop_lag_seconds_count" in samples


@pytest.mark.harness(env={"METRICS_PORT": ""})
async def test_no_metrics_server_without_a_port(harness: Harness) -> None:
    assert harness.bot.instruments.server is None


@pytest.mark.harness(env={"METRICS_PORT": "0", "SHARD_COUNT": "3", "SHARD_IDS": "2,1"})
async def test_shard_latency_is_reported_for_each_shard_of_the_process(harness: Harness) -> None:
    server = harness.bot.instruments.server
    assert server is not None and server.port
    samples = await scrape(server.port)
    latencies = samples["lyria_shard_latency_seconds"]
    assert sorted(latencies) == [(("shard", "1"),), (("shard", "2"),)]
    assert samples["lyria_gateway_connected"][()] == 1
    assert sorted(s.shard for s in harness.fake_discord.live_sessions) == [(1, 3), (2, 3)]
    # Shard 0 is another process's: this one leaves the dev server's sync to it.
    assert harness.guild.id not in harness.fake_discord.guild_commands
