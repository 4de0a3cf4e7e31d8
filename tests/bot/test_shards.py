"""Two bot processes, shards 0 and 1 of 2, on one PostgreSQL: each answers the servers of its
shard, and every /compose is submitted, charged and delivered exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from tests.conftest import job_id_of
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.shard_support import SHARD_COUNT, TwoShardWorld, two_shard_world

COMPOSES = 200  # spread round-robin over the servers (and their members) of both shards
DELIVERY_SECONDS = 120.0  # a limit for the whole burst, not a measurement


def results(world: TwoShardWorld) -> list[FakeMessage]:
    """Every finished piece posted: an embed with the audio attached."""
    return [m for m in world.discord.messages.values() if m.embeds and m.attachments]


async def wait_until_delivered(world: TwoShardWorld, count: int) -> None:
    """Every result posted, then every job row marked delivered (written after the post)."""
    await world.discord.notifier.wait_until(
        lambda: len(world.discord.attachments) >= count and len(results(world)) >= count,
        DELIVERY_SECONDS,
    )
    deadline = time.monotonic() + 30
    while await world.query("SELECT id FROM jobs WHERE state <> 'delivered'"):
        assert time.monotonic() < deadline, await world.query("SELECT id, state FROM jobs")
        await asyncio.sleep(0.1)


async def test_each_process_answers_its_shard_and_every_job_runs_once(tmp_path: Path) -> None:
    async with two_shard_world(tmp_path) as world:
        await world.start_bots()
        servers = world.servers
        fired = [
            (server, server.members[(i // len(servers)) % len(server.members)], f"piece {i}")
            for i in range(COMPOSES)
            for server in [servers[i % len(servers)]]
        ]
        interactions: list[FakeInteraction] = await asyncio.gather(
            *(world.compose(server, member, prompt) for server, member, prompt in fired)
        )
        shard_of = {
            i.id: server.shard for i, (server, _, _) in zip(interactions, fired, strict=True)
        }
        await wait_until_delivered(world, COMPOSES)

        # Each interaction reached only the process of its shard, and that process answered
        # it: its quota granted it and its delivery posted the result.
        for shard in range(SHARD_COUNT):
            session = world.discord.session_of_shard(shard)
            assert session is not None
            routed = [int(e["id"]) for e in session.events("INTERACTION_CREATE")]
            assert sorted(routed) == sorted(i for i, s in shard_of.items() if s == shard)
            samples = await world.metrics(shard)
            assert samples["lyria_quota_grants_total"][()] == len(routed)
            assert samples["lyria_delivery_overhead_seconds_count"][()] == len(routed)
            assert list(samples["lyria_shard_latency_seconds"]) == [(("shard", str(shard)),)]
            assert samples["lyria_gateway_connected"][()] == 1
        logs = await world.stop_bots()

        # Delivered once: one result per interaction, one per job.
        for interaction in interactions:
            assert interaction.acked
            assert len([m for m in interaction.followups if m.embeds and m.attachments]) == 1
        delivered = Counter(job_id_of(m) for m in results(world))
        assert len(delivered) == COMPOSES and set(delivered.values()) == {1}
        # Submitted once: every prompt reached the provider one time.
        submitted = Counter(body["prompt"] for body in world.api.submissions)
        assert submitted == Counter(prompt for _, _, prompt in fired)
        jobs = await world.query("SELECT id, state, guild_id FROM jobs")
        assert {job_id for job_id, _, _ in jobs} == set(delivered)
        assert {state for _, state, _ in jobs} == {"delivered"}
        # Charged once: one committed reservation per job, the counts exact.
        reservations = await world.query("SELECT job_id, state, in_flight FROM quota_reservations")
        assert sorted(reservations) == sorted((job_id, "committed", False) for job_id in delivered)
        per_guild = Counter(server.guild.id for server, _, _ in fired)
        counters = await world.query("SELECT scope, scope_id, used FROM quota_counters")
        assert {(s, g): u for s, g, u in counters if s == "guild"} == {
            ("guild", guild_id): n for guild_id, n in per_guild.items()
        }
        assert sum(u for s, _, u in counters if s == "bot") == COMPOSES
        for shard, log in logs.items():
            assert f"running shard(s) {shard} of 2" in log
        world.check_clean()
