"""Two `python -m bot` processes, shards 0 and 1 of 2, on one PostgreSQL schema.

    async with two_shard_world(tmp_path) as world:
        await world.start_bots()                                  # both connected, each its shard
        server = world.servers_of(1)[0]
        interaction = await world.compose(server, server.members[0], "a jam")
        ...
        assert await world.query("SELECT count(*) FROM jobs") == [(1,)]
        await world.stop_bots()                                   # SIGTERM, exit 0

The fake Discord routes each guild's events and interactions to the session of its shard; each
process has its own AUDIO_DIR (another machine, in a deployment) and a metrics server on a
free port (`world.metrics(shard)`). The commands are published once, globally, with
`python -m bot sync`, as an operator would. `start_bot(shard)` starts one again (after a
`kill()`, say), so a takeover can be staged on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from bot.config import DatabaseUrl
from bot.store.connect import open_url
from tests.crash_support import START_SECONDS, BotProcess
from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeGuild, FakeInteraction, FakeMember
from tests.postgres_support import fresh_schema
from tests.process_support import bot_env, run_bot_command

SHARD_COUNT = 2
# JamBot.on_ready: discord.py is ready once no more GUILD_CREATE came for guild_ready_timeout.
READY_LINE = "connected as "
_METRICS_LINE = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")

# What every process of the world runs with (a test's `settings` go on top).
WORLD_SETTINGS = {
    "LOG_LEVEL": "INFO",
    "CANCEL_WINDOW_SECONDS": "0",
    "METRICS_PORT": "0",
    "MAX_CONCURRENT_GENERATIONS": "50",
    "MEMBER_MAX_IN_FLIGHT": "50",
    "MEMBER_LIMIT_PER_WINDOW": "1000",
    "GUILD_DAILY_POOL": "1000",
    "BOT_DAILY_CAP": "10000",
}

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@dataclass
class ShardServer:
    """A guild minted on one shard, with a #music channel and a few members."""

    shard: int
    guild: FakeGuild
    channel: FakeChannel
    members: list[FakeMember]


@dataclass
class TwoShardWorld:
    discord: FakeDiscord
    api: FakeAimlApi
    database_url: DatabaseUrl
    servers: list[ShardServer]
    envs: dict[int, dict[str, str]]  # shard -> the environment of the process running it
    bots: dict[int, BotProcess] = field(default_factory=dict)  # the latest process per shard
    started: list[BotProcess] = field(default_factory=list)  # every process, in start order

    def servers_of(self, shard: int) -> list[ShardServer]:
        return [server for server in self.servers if server.shard == shard]

    async def start_bot(self, shard: int) -> BotProcess:
        """Start the process for `shard`; return once it is ready (its set-up, database and
        engine included, then its gateway session, then every guild of its shard received)."""
        await self.discord.notifier.wait_until(
            lambda: self.discord.session_of_shard(shard) is None, 10
        )
        bot = await BotProcess.start(self.envs[shard])
        self.bots[shard] = bot
        self.started.append(bot)
        try:
            await self.discord.notifier.wait_until(
                lambda: self.discord.session_of_shard(shard) is not None, START_SECONDS
            )
            await _logged(bot, READY_LINE, START_SECONDS)
        except TimeoutError:
            await bot.kill()
            await bot.exited()
            raise AssertionError(f"the bot for shard {shard} did not connect:\n{bot.log}") from None
        return bot

    async def start_bots(self) -> None:
        for shard in range(SHARD_COUNT):
            await self.start_bot(shard)

    async def stop_bots(self) -> dict[int, str]:
        """SIGTERM every running process; each must exit 0. Their logs, by shard."""
        return {shard: await bot.stop() for shard, bot in self.bots.items()}

    async def compose(
        self, server: ShardServer, member: FakeMember, prompt: str
    ) -> FakeInteraction:
        return await self.discord.invoke(
            "compose", {"prompt": prompt}, user=member, channel=server.channel
        )

    async def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows from the shared database (the bots' schema)."""
        connection = await asyncpg.connect(self.database_url.reveal())
        try:
            return [tuple(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    def metrics_port(self, shard: int) -> int:
        found = _METRICS_LINE.search(self.bots[shard].log)
        assert found, f"no metrics server in the log of shard {shard}:\n{self.bots[shard].log}"
        return int(found.group(1))

    async def metrics(self, shard: int) -> Samples:
        """Every sample of the /metrics of the process running `shard`: name -> {labels: v}."""
        url = f"http://127.0.0.1:{self.metrics_port(shard)}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            text = await response.text()
        found: Samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
        return found

    def check_clean(self) -> None:
        """What no run may leave behind in the fakes or the logs."""
        assert self.discord.problems() == []
        assert self.api.schema_errors == []
        for bot in self.started:
            assert self.discord.bot_token not in bot.log
            assert self.api.api_key not in bot.log
            assert " ERROR " not in bot.log and "Traceback" not in bot.log, bot.log


async def _logged(bot: BotProcess, text: str, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until the process has logged `text` (its output is read as it comes)."""
    async with asyncio.timeout(timeout):
        while text not in bot.log:
            if not bot.running:
                raise TimeoutError
            await asyncio.sleep(0.05)


async def teach_fast_polls_on(url: DatabaseUrl) -> None:
    """Migrate the schema and seed the schedule's history with 0.3-1 s jobs, so fresh bots
    poll within a second (see crash_support.teach_fast_polls)."""
    store = await open_url(url)
    try:
        for i in range(30):
            await store.jobs.record_generation_time(f"past{i}", 0.3 + i / 40, now=time.time())
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def two_shard_world(
    tmp_path: Path,
    settings: Mapping[str, str] | None = None,
    *,
    guilds_per_shard: int = 3,
    members_per_guild: int = 3,
    api: FakeAimlApi | None = None,
) -> AsyncIterator[TwoShardWorld]:
    """The fakes, `guilds_per_shard` servers on each shard, a fresh PostgreSQL schema that
    already polls fast, the commands published, and each shard's settings (`settings` on
    top); every process still running at the end is killed."""
    fake_api = api or FakeAimlApi(generation_seconds=lambda body: 0.5)
    async with (
        fresh_schema("shards") as url,
        FakeDiscord(recommended_shards=SHARD_COUNT) as fake_discord,
        fake_api,
    ):
        servers = []
        for shard in range(SHARD_COUNT):
            for g in range(guilds_per_shard):
                guild = fake_discord.add_guild(f"shard{shard}-{g}", shard=(shard, SHARD_COUNT))
                channel = guild.add_text_channel("music")
                members = [guild.add_member(f"s{shard}g{g}m{m}") for m in range(members_per_guild)]
                servers.append(ShardServer(shard, guild, channel, members))
        await teach_fast_polls_on(url)
        envs = {
            shard: bot_env(
                tmp_path / f"shard{shard}",
                DATABASE_URL=url.reveal(),
                SHARD_COUNT=str(SHARD_COUNT),
                SHARD_IDS=str(shard),
                DISCORD_TOKEN=fake_discord.bot_token,
                AIMLAPI_KEY=fake_api.api_key,
                AIMLAPI_BASE_URL=fake_api.base_url,
                DISCORD_API_BASE_URL=fake_discord.api_base_url,
                DISCORD_GATEWAY_URL=fake_discord.gateway_url,
                **{**WORLD_SETTINGS, **(settings or {})},
            )
            for shard in range(SHARD_COUNT)
        }
        code, out, err = await run_bot_command(envs[0], "sync")
        assert code == 0, out + err
        world = TwoShardWorld(fake_discord, fake_api, url, servers, envs)
        try:
            yield world
        finally:
            for bot in world.started:
                await bot.kill()
                with contextlib.suppress(AssertionError, TimeoutError):
                    await bot.exited()
