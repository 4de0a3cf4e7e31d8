"""Crashing `python -m bot` at an exact moment and starting it again on the same database.

    async with crash_world(tmp_path, {"MEMBER_MAX_IN_FLIGHT": "1"}) as world:
        first = await world.start_bot()
        world.discord.on_request(is_the_result_post, first.kill)   # SIGKILL right there
        interaction = await world.compose("a jam")
        await first.exited()
        second = await world.start_bot()                          # same DATABASE_URL, AUDIO_DIR
        ...
        await second.stop()                                       # SIGTERM, exit 0

Each bot process's output is read as it comes (a full pipe would block the bot) and shown
when it does not exit as expected. `teach_fast_polls` is the one place that makes a fresh bot
poll on the fake API's time scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeGuild, FakeInteraction, FakeMember
from tests.process_support import bot_env, learn_generation_times, start_bot_process

START_SECONDS = 20.0  # a bot process logs in, syncs and identifies within this
EXIT_SECONDS = 15.0


async def teach_fast_polls(database: Path) -> None:
    """Seed the schedule's history with 0.3-1 s jobs, so a fresh bot polls within a second
    (a fresh one waits for the vendor's ~30 s typical time before its first poll)."""
    await learn_generation_times(database, [0.3 + i / 40 for i in range(30)], now=time.time())


@dataclass
class BotProcess:
    """One `python -m bot` run, its output collected while it runs."""

    process: asyncio.subprocess.Process
    output: bytearray = field(default_factory=bytearray)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, env: dict[str, str]) -> BotProcess:
        bot = cls(await start_bot_process(env, merge_stderr=True))
        bot._reader = asyncio.create_task(bot._read())
        return bot

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(64 * 1024):
            self.output += chunk

    @property
    def log(self) -> str:
        return self.output.decode(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def kill(self, _request: object = None) -> None:
        """SIGKILL, returning once the process is gone: a hook action (`on_request`) that
        holds the fake's answer until the bot can no longer receive it."""
        if self.running:
            self.process.kill()
        await self.process.wait()

    async def exited(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Wait for the process to end (e.g. killed by a hook); its exit code."""
        try:
            async with asyncio.timeout(timeout):
                code = await self.process.wait()
        except TimeoutError:
            raise AssertionError(f"the bot is still running:\n{self.log}") from None
        await self._finish_reading()
        return code

    async def stop(self) -> str:
        """SIGTERM and wait for a clean exit; the whole log."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        code = await self.exited(EXIT_SECONDS)
        assert code == 0, self.log
        return self.log

    async def _finish_reading(self) -> None:
        if self._reader is not None:
            async with asyncio.timeout(EXIT_SECONDS):
                await self._reader


@dataclass
class CrashWorld:
    discord: FakeDiscord
    api: FakeAimlApi
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember
    env: dict[str, str]
    database: Path
    audio_dir: Path
    bots: list[BotProcess] = field(default_factory=list)

    async def start_bot(self) -> BotProcess:
        """Start a bot process once the previous one is gone; return when it is connected."""
        await self.discord.notifier.wait_until(lambda: not self.discord.live_sessions, 10)
        identified = self.discord.identify_count
        bot = await BotProcess.start(self.env)
        self.bots.append(bot)
        try:
            await self.discord.notifier.wait_until(
                lambda: self.discord.identify_count > identified and self.discord.live_sessions,
                START_SECONDS,
            )
        except TimeoutError:
            await bot.kill()
            await bot.exited()
            raise AssertionError(f"the bot did not connect:\n{bot.log}") from None
        return bot

    async def compose(self, prompt: str) -> FakeInteraction:
        return await self.discord.invoke(
            "compose", {"prompt": prompt}, user=self.alice, channel=self.channel
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the bot's database (a moment's read, also while a bot runs)."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as conn:
            return conn.execute(sql, params).fetchall()

    def reservation(self, job_id: str) -> tuple[str, int]:
        """(state, in_flight) of a job's quota reservation."""
        rows = self.query(
            "SELECT state, in_flight FROM quota_reservations WHERE job_id = ?", job_id
        )
        assert len(rows) == 1, rows
        return str(rows[0][0]), int(rows[0][1])

    def partial_downloads(self) -> list[Path]:
        return sorted(self.audio_dir.rglob("*.part")) if self.audio_dir.exists() else []

    def check_clean(self) -> None:
        """What no run may leave behind in the fakes, whatever was crashed."""
        assert self.discord.problems() == []
        assert self.api.schema_errors == []
        for bot in self.bots:
            assert self.discord.bot_token not in bot.log
            assert self.api.api_key not in bot.log


@contextlib.asynccontextmanager
async def crash_world(
    tmp_path: Path, settings: Mapping[str, str] | None = None, *, api: FakeAimlApi | None = None
) -> AsyncIterator[CrashWorld]:
    """The fakes, a server with #music and alice, the bot's settings (`settings` on top) and a
    database that already polls fast; every bot process still running at the end is killed."""
    fake_api = api or FakeAimlApi()
    async with FakeDiscord() as fake_discord, fake_api:
        guild = fake_discord.add_guild("Crash Test")
        channel = guild.add_text_channel("music")
        alice = guild.add_member("alice")
        env = bot_env(
            tmp_path,
            DISCORD_TOKEN=fake_discord.bot_token,
            AIMLAPI_KEY=fake_api.api_key,
            AIMLAPI_BASE_URL=fake_api.base_url,
            DISCORD_API_BASE_URL=fake_discord.api_base_url,
            DISCORD_GATEWAY_URL=fake_discord.gateway_url,
            DEV_GUILD_ID=str(guild.id),
            LOG_LEVEL="INFO",
            CANCEL_WINDOW_SECONDS="0",
            **(settings or {}),
        )
        database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
        await teach_fast_polls(database)
        world = CrashWorld(
            fake_discord,
            fake_api,
            guild,
            channel,
            alice,
            env,
            database,
            Path(env["AUDIO_DIR"]),
        )
        try:
            yield world
        finally:
            for bot in world.bots:
                await bot.kill()
                with contextlib.suppress(AssertionError, TimeoutError):
                    await bot.exited()
