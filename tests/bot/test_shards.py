"""Sharding: the plan in words, which jobs a process resumes, and, end to end, two bot processes
(shards 0 and 1 of 2) on one PostgreSQL: each answers the servers of its shard, every /compose
is submitted, charged and delivered exactly once, and a restarted process resumes only its own
shards' jobs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.jobs.models import Job, JobState, Origin
from bot.shards import OwnShardJobs, shard_of, shard_plan
from bot.store.sqlite import SqliteStore
from tests.bot.metrics.test_bot_endpoint import scrape
from tests.conftest import Harness, job_id_of
from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.fakes.discord.snowflakes import SnowflakeGenerator
from tests.shard_support import SHARD_COUNT, TwoShardWorld, two_shard_world

COMPOSES = 200  # spread round-robin over the servers (and their members) of both shards
DELIVERY_SECONDS = 120.0  # a limit for the whole burst, not a measurement


def test_the_plan_in_words() -> None:
    assert shard_plan(None, None) == "as many shards as Discord recommends, all in this process"
    assert shard_plan(2, None) == "all 2 shard(s) in this process"
    assert shard_plan(2, [1, 0]) == "all 2 shard(s) in this process"
    assert shard_plan(4, [3, 1]) == "shard(s) 3, 1 of 4 (other processes run the rest)"


@pytest.mark.harness(discord={"recommended_shards": 2}, env={"METRICS_PORT": "0"})
async def test_without_settings_the_bot_runs_the_shards_discord_recommends(
    harness: Harness,
) -> None:
    fake = harness.fake_discord
    assert [r.status for r in fake.requests if r.template == "/gateway/bot"] == [200]
    assert harness.bot.shard_count == 2 and sorted(harness.bot.shards) == [0, 1]
    assert sorted(s.shard for s in fake.live_sessions) == [(0, 2), (1, 2)]
    server = harness.bot.instruments.server
    assert server is not None and server.port
    latencies = (await scrape(server.port))["lyria_shard_latency_seconds"]
    assert sorted(latencies) == [(("shard", "0"),), (("shard", "1"),)]
    result = await harness.result_of(await harness.compose("calm piano"))
    assert result.attachments


def job(job_id: str, guild_id: str | None, origin: Origin) -> Job:
    return Job(
        id=job_id,
        state=JobState.QUEUED,
        prompt="p",
        negative_prompt=None,
        seed=None,
        model="google/lyria2",
        requester_id="42",
        guild_id=guild_id,
        channel_id=None,
        origin=origin,
        context={},
        created_at=1.0,
        updated_at=1.0,
        deadline_at=1000.0,
    )


def test_a_server_is_on_the_shard_discord_sends_it_to() -> None:
    ids = SnowflakeGenerator()
    for count in (1, 2, 5):
        for shard in range(count):
            assert shard_of(ids.next(shard=(shard, count)), count) == shard
    assert shard_of(None, 3) == 0  # DMs


async def test_a_process_resumes_only_the_jobs_of_its_shards(tmp_path: Path) -> None:
    ids = SnowflakeGenerator()
    store = await SqliteStore.open(tmp_path / "bot.sqlite3")
    on = {shard: str(ids.next(shard=(shard, 3))) for shard in range(3)}
    jobs = [
        job("zero", on[0], Origin.DISCORD),
        job("one", on[1], Origin.DISCORD),
        job("two", on[2], Origin.DISCORD),
        job("dm", None, Origin.DISCORD),
        job("cli", None, Origin.TERMINAL),
    ]
    for row in jobs:
        await store.jobs.insert(row)
    mine = OwnShardJobs(store.jobs, 3, [2, 0])
    assert sorted(j.id for j in await mine.unfinished()) == ["cli", "dm", "two", "zero"]
    assert [j.id for j in await mine.unfinished([Origin.TERMINAL])] == ["cli"]
    for row in jobs:
        await store.jobs.transition(row.id, JobState.QUEUED, JobState.FAILED, now=2)
    others = OwnShardJobs(store.jobs, 3, [1])
    assert sorted(j.id for j in await others.unreported_failures(None, since=0)) == ["cli", "one"]
    await store.close()


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
        # it: its quota granted it. The result was posted by whichever process held the job's
        # lease (a queued job one process cannot start at once is claimable by the other).
        delivered_by = 0
        for shard in range(SHARD_COUNT):
            session = world.discord.session_of_shard(shard)
            assert session is not None
            routed = [int(e["id"]) for e in session.events("INTERACTION_CREATE")]
            assert sorted(routed) == sorted(i for i, s in shard_of.items() if s == shard)
            samples = await world.metrics(shard)
            assert samples["lyria_quota_grants_total"][()] == len(routed)
            delivered_by += int(samples["lyria_delivery_overhead_seconds_count"][()])
            assert list(samples["lyria_shard_latency_seconds"]) == [(("shard", str(shard)),)]
            assert samples["lyria_gateway_connected"][()] == 1
        assert delivered_by == COMPOSES
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


async def test_a_stopped_processs_job_goes_on_once_in_the_other(tmp_path: Path) -> None:
    """A clean stop releases the job's lease and says so: the other process takes it over at
    once (before the stopped one is back), and it is delivered once, never resubmitted."""
    api = FakeAimlApi(generation_seconds=lambda body: 3600.0)  # finished by the test
    async with two_shard_world(tmp_path, api=api, guilds_per_shard=1) as world:
        await world.start_bots()
        zero, one = world.servers_of(0)[0], world.servers_of(1)[0]
        mine = await world.compose(zero, zero.members[0], "on shard zero")
        theirs = await world.compose(one, one.members[0], "on shard one")
        deadline = time.monotonic() + 30
        while (
            await world.query("SELECT id FROM jobs WHERE state <> 'submitted'")
            or len(await world.query("SELECT id FROM jobs")) < 2
        ):
            assert time.monotonic() < deadline, await world.query("SELECT id, state FROM jobs")
            await asyncio.sleep(0.1)

        first_log = await world.bots[0].stop()
        assert "resumed" not in first_log
        await world.start_bot(0)  # shard 1's process carries on meanwhile
        for generation_id in list(api.jobs):
            api.finish_now(generation_id)
        await wait_until_delivered(world, 2)
        logs = await world.stop_bots()

        assert "took over 1 job(s)" in logs[1] and "resumed" not in logs[0] + logs[1]
        for interaction in (mine, theirs):
            assert len([m for m in interaction.followups if m.embeds and m.attachments]) == 1
        assert len(results(world)) == 2 and len(api.submissions) == 2
        world.check_clean()


KILL_AT_SUBMISSION = 150  # past the first burst of slots: every /compose is a job row by then


async def test_a_killed_process_jobs_are_taken_over_and_each_delivered_once(
    tmp_path: Path,
) -> None:
    """200 /compose over both shards; shard 1's process is SIGKILLed while the provider takes
    a submission from the burst (its answer never arrives). Shard 0's process takes over the
    dead one's jobs when their leases expire, wherever they were (queued, submitting, polling,
    downloading, delivering): each is delivered once, none is submitted twice (one killed in
    `submitting` ends `submit_unknown`), and the quota's counts are exact."""
    api = FakeAimlApi(generation_seconds=lambda body: 2.0 + (hash(body["prompt"]) % 100) / 100)
    settings = {"JOB_LEASE_SECONDS": "3", "MAX_CONCURRENT_GENERATIONS": "50"}
    async with two_shard_world(tmp_path, settings, api=api) as world:
        await world.start_bots()
        victim = world.bots[1]
        api.on_request(
            lambda r: r.method == "POST" and len(api.submissions) >= KILL_AT_SUBMISSION,
            victim.kill,
        )
        servers = world.servers
        fired = [
            (server, server.members[(i // len(servers)) % len(server.members)], f"piece {i}")
            for i in range(COMPOSES)
            for server in [servers[i % len(servers)]]
        ]
        interactions: list[FakeInteraction] = await asyncio.gather(
            *(world.compose(server, member, prompt) for server, member, prompt in fired)
        )
        assert await victim.exited() != 0
        del world.bots[1]  # gone for good: shard 0's process carries on alone

        # Every job ends: delivered, or (killed while the provider took it) submit_unknown.
        deadline = time.monotonic() + DELIVERY_SECONDS
        while (
            await world.query(
                "SELECT id FROM jobs WHERE state NOT IN ('delivered', 'submit_unknown')"
            )
            or len(await world.query("SELECT id FROM jobs")) < COMPOSES
        ):
            assert time.monotonic() < deadline, await world.query(
                "SELECT state, count(*) FROM jobs GROUP BY state"
            )
            await asyncio.sleep(0.2)
        logs = await world.stop_bots()
        assert "took over" in logs[0]

        jobs = {
            job_id: (state, prompt)
            for job_id, state, prompt in await world.query("SELECT id, state, prompt FROM jobs")
        }
        unknown = {job_id for job_id, (state, _) in jobs.items() if state == "submit_unknown"}
        # Only what the dead process was sending at the kill (it had 50 slots), each told.
        assert len(unknown) <= 50
        told = await world.query("SELECT id FROM jobs WHERE failure_reported_at IS NOT NULL")
        assert unknown <= {job_id for (job_id,) in told}
        # Submitted at most once: no prompt reached the provider twice; every job but the
        # unknown ones was submitted (an unknown one was being sent: the provider may or may
        # not have it, and it is never sent again).
        submitted = Counter(body["prompt"] for body in api.submissions)
        assert set(submitted.values()) == {1}
        assert {prompt for job_id, (_, prompt) in jobs.items() if job_id not in unknown} <= set(
            submitted
        )
        # Delivered once: one result per delivered job, each to its own interaction.
        delivered = Counter(job_id_of(m) for m in results(world))
        assert set(delivered.values()) == {1}
        assert set(delivered) == set(jobs) - unknown
        for interaction in interactions:
            posted = [m for m in interaction.followups if m.embeds and m.attachments]
            assert len(posted) <= 1
        assert sum(
            len([m for m in i.followups if m.embeds and m.attachments]) for i in interactions
        ) == len(delivered)
        # Credit exact: nothing in flight, every delivered job's reservation committed, the
        # unknown ones kept (the provider may have charged), and the counters agree.
        reservations = {
            job_id: (state, in_flight)
            for job_id, state, in_flight in await world.query(
                "SELECT job_id, state, in_flight FROM quota_reservations"
            )
        }
        assert set(reservations) == set(jobs)
        flying = {j: (jobs[j][0], reservations[j]) for j, (_, f) in reservations.items() if f}
        assert not flying
        assert {reservations[j][0] for j in delivered} == {"committed"}
        assert all(reservations[j][0] != "refunded" for j in unknown)
        counters = await world.query("SELECT scope, used FROM quota_counters")
        assert sum(used for scope, used in counters if scope == "bot") == COMPOSES
        assert world.discord.problems() == [] and api.schema_errors == []
