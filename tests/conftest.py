"""Shared end-to-end harness: a fake Discord, a fake AI/ML API and the real JamBot between them.

    async def test_x(harness: Harness) -> None:
        interaction = await harness.compose("calm piano")
        result = await harness.result_of(interaction)

The bot logs in over loopback with discord.py's own HTTP and gateway clients, syncs its commands
to the test server (DEV_GUILD_ID) and uses a fresh SQLite file. After every test the harness
asserts that the fake Discord has no problems() (no request violating Discord's OpenAPI spec, no
unknown route, no crash inside the fake, no interaction acknowledged late or never), that no
bot message would notify anyone but the requester of a finished piece, and that the fake API saw
no request violating the Lyria 2 schema.
Tune a test with `@pytest.mark.harness(env={...}, discord={...}, api={...}, delivery={...})`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.bot import JamBot
from bot.config import Settings, load_settings
from bot.extensions import EXTENSIONS
from bot.jobs.engine import EngineTuning, JobEngine
from bot.jobs.poll_schedule import PollSchedule
from bot.quota.models import GenerationNote
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.database import SqliteDatabase
from bot.tuning import DeliveryTuning, Tuning
from cogs.compose.delivery import ResultDelivery
from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    Perm,
    start_client,
    stop_client,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "harness(env, discord, api, delivery, engine): tune the end-to-end harness"
    )


def fast_schedule(history: Any) -> PollSchedule:
    """Poll every few tenths of a second: the fake API finishes jobs in a few seconds at most.

    Without the production schedule's fixed polls (1.5 s, 3 s and one per 10 s window): past
    its samples they would leave the tail's 0.3 s gaps to begin only after 3 s."""
    return PollSchedule(
        samples=(0.2, 0.4, 0.8),
        target_lag=0.1,
        lead_polls=0,
        max_interval=0.3,
        early_polls=(),
        vendor_period=None,
    )


DEFAULT_ENGINE_OPTIONS: dict[str, Any] = {"schedule_factory": fast_schedule, "tick_interval": 0.5}


def tuning(engine: Mapping[str, Any], delivery: Mapping[str, Any]) -> Tuning:
    """The bot's tuning from a test's `engine={...}` and `delivery={...}` options."""
    return Tuning(engine=EngineTuning(**engine), delivery=DeliveryTuning(**delivery))


def harness_settings(
    fake_discord: FakeDiscord,
    fake_api: FakeAimlApi,
    tmp_path: Path,
    guild: FakeGuild,
    env: Mapping[str, str] | None = None,
) -> Settings:
    environ = {
        "DISCORD_TOKEN": fake_discord.bot_token,
        "AIMLAPI_KEY": fake_api.api_key,
        "AIMLAPI_BASE_URL": fake_api.base_url,
        "DISCORD_API_BASE_URL": fake_discord.api_base_url,
        "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        "DATABASE_PATH": str(tmp_path / "db" / "bot.sqlite3"),
        "AUDIO_DIR": str(tmp_path / "audio"),
        "DEV_GUILD_ID": str(guild.id),
        "LOG_LEVEL": "INFO",
        "GENERATION_TIMEOUT_SECONDS": "60",
        "MEMBER_LIMIT_PER_WINDOW": "20",
        "MEMBER_MAX_IN_FLIGHT": "3",
        "CANCEL_WINDOW_SECONDS": "0",
    }
    environ.update(env or {})
    return load_settings(environ=environ, dotenv_path=tmp_path / "no.env")


@dataclass
class Harness:
    fake_discord: FakeDiscord
    fake_api: FakeAimlApi
    settings: Settings
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember
    bob: FakeMember
    moderator: FakeMember
    bot: JamBot
    delivery_options: dict[str, Any] = field(default_factory=dict)
    engine_options: dict[str, Any] = field(default_factory=dict)
    extensions: tuple[str, ...] = ()
    _task: Any = None
    bots: list[JamBot] = field(default_factory=list)

    @property
    def members(self) -> list[FakeMember]:
        return [self.alice, self.bob, self.moderator]

    def new_bot(self) -> JamBot:
        bot = JamBot(
            self.settings,
            extensions=self.extensions,
            tuning=tuning(self.engine_options, self.delivery_options),
        )
        self.bots.append(bot)
        return bot

    @property
    def engine(self) -> JobEngine:
        return self.bot.services.engine

    @property
    def db(self) -> SqliteDatabase:
        """The bot's SQLite database, for checks the product's API does not offer."""
        store = self.bot.services.store
        assert isinstance(store, SqliteStore)
        return store.database

    @property
    def delivery(self) -> ResultDelivery:
        # Not isinstance: unloading an extension drops its modules from sys.modules, so each
        # bot of a test may load its own copy of the class.
        delivery: ResultDelivery | None = getattr(self.bot.get_cog("Compose"), "delivery", None)
        assert delivery is not None
        return delivery

    async def start(self, bot: JamBot | None = None) -> JamBot:
        self.bot = bot or self.new_bot()
        self._task = await start_client(self.bot, self.fake_discord)
        return self.bot

    async def stop(self) -> None:
        """Close the bot and wait until the fake Discord has seen its connection go, so that a
        new start identifies afresh instead of racing the old session."""
        await stop_client(self.bot, self._task, self.fake_discord)

    async def restart(self) -> JamBot:
        """Close the bot (job rows stay) and start a new JamBot on the same database."""
        await self.stop()
        return await self.start()

    async def compose(
        self,
        prompt: str,
        *,
        user: FakeMember | None = None,
        channel: FakeChannel | None = None,
        snowflake_time: float | None = None,
        **options: Any,
    ) -> FakeInteraction:
        values = {"prompt": prompt, **options}
        return await self.fake_discord.invoke(
            "compose",
            values,
            user=user or self.alice,
            channel=channel or self.channel,
            snowflake_time=snowflake_time,
        )

    async def result_of(self, interaction: FakeInteraction, timeout: float = 10.0) -> FakeMessage:  # noqa: ASYNC109
        """The followup carrying the finished piece (its embed)."""
        return await interaction.wait_for_followup(lambda m: bool(m.embeds), timeout)

    async def status_of(
        self,
        interaction: FakeInteraction,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        return await interaction.wait_for_original(predicate, timeout)

    async def job_of(self, interaction: FakeInteraction) -> str:
        """The id of the job a /compose interaction started (from its status message)."""
        status = await self.status_of(interaction, lambda m: bool(m.custom_ids()) or m.embeds)
        for custom_id in status.custom_ids():
            return custom_id.rsplit(":", 1)[1]
        raise AssertionError("the status message names no job")

    async def job_of_result(self, message: FakeMessage) -> str:
        return job_id_of(message)

    async def latest_job_id(self) -> str:
        """The id of the most recently created job (waiting for one to exist)."""
        async with asyncio.timeout(10):
            while True:
                row = await self.db.fetchone("SELECT id FROM jobs ORDER BY created_at DESC LIMIT 1")
                if row is not None:
                    return str(row[0])
                await asyncio.sleep(0.05)

    async def wait_job_state(self, job_id: str, *states: str, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """Poll the job row until it reaches one of `states`."""
        async with asyncio.timeout(timeout):
            while True:
                job = await self.engine.get(job_id)
                if job is not None and job.state.value in states:
                    return job
                await asyncio.sleep(0.05)

    def record_notes(self) -> NoteRecorder:
        """From now on, record every `finish` the delivery makes (with its note for the mod
        log, when it has one)."""
        recorder = NoteRecorder(self.delivery.ledger)
        self.delivery.ledger = recorder  # type: ignore[assignment]
        return recorder

    def bot_messages(self, channel: FakeChannel | None = None) -> list[FakeMessage]:
        where = channel or self.channel
        return [m for m in where.messages if m.author_id == self.fake_discord.bot_user.id]

    def assert_clean(self) -> None:
        """Spec violations, unknown routes, fake crashes, late and missing acks; API schema."""
        assert self.fake_discord.problems() == []
        assert self.fake_api.schema_errors == []
        assert self.unexpected_pings() == []

    def unexpected_pings(self) -> list[str]:
        """Bot messages that would notify anyone, except a result pinging its one requester."""
        found: list[str] = []
        for message in self.fake_discord.messages.values():
            if message.author_id != self.fake_discord.bot_user.id:
                continue
            pings = message.pings()
            if not pings:
                continue
            requester = requester_of_result(message)
            if pings.users == {requester} and not pings.roles and not pings.everyone:
                continue
            found.append(f"message {message.id} pings {pings}: {message.content[:80]!r}")
        return found


@dataclass
class NoteRecorder:
    """The delivery's quota ledger, passed through, its `finish` calls recorded."""

    inner: Any
    notes: list[dict[str, Any]] = field(default_factory=list)
    _noted: asyncio.Event = field(default_factory=asyncio.Event)

    finishes: list[str] = field(default_factory=list)  # finish() calls with nothing noted

    async def finish(self, job_id: str, note: GenerationNote | None = None) -> None:
        await self.inner.finish(job_id, note)
        if note is None:
            self.finishes.append(job_id)
            return
        self.notes.append(asdict(note))
        self._noted.set()

    async def wait(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """The notes so far, once there are at least `count`."""
        async with asyncio.timeout(timeout):
            while len(self.notes) < count:
                self._noted.clear()
                await self._noted.wait()
        return list(self.notes)


RESULT_PING = re.compile(r"^<@(\d+)> your track is ready")


def requester_of_result(message: FakeMessage) -> int | None:
    """The member a result message is for (its ping line), None for other messages."""
    if not any(cid.startswith("jam:reroll:") for cid in message.custom_ids()):
        return None
    found = RESULT_PING.match(message.content)
    return int(found.group(1)) if found else None


def job_id_of(message: FakeMessage) -> str:
    """The job a result message carries (its Re-roll button names it)."""
    for custom_id in message.custom_ids():
        if custom_id.startswith("jam:reroll:"):
            return custom_id.rsplit(":", 1)[1]
    raise AssertionError(f"message {message.id} carries no job")


@contextlib.asynccontextmanager
async def open_harness(
    tmp_path: Path, tune: Mapping[str, Any] | None = None
) -> AsyncIterator[Harness]:
    """The fakes and a started JamBot (files under `tmp_path`), tuned as `@pytest.mark.harness`
    tunes the fixture; on a clean exit the bot is stopped and `assert_clean()` checked. Usable
    outside pytest (tests/pictures runs it from a script)."""
    tune = dict(tune or {})
    async with (
        FakeDiscord(**tune.get("discord", {})) as fake_discord,
        FakeAimlApi(**tune.get("api", {})) as fake_api,
    ):
        guild = fake_discord.add_guild("Jam Session", premium_tier=tune.get("premium_tier", 0))
        channel = guild.add_text_channel("music")
        alice = guild.add_member("alice")
        bob = guild.add_member("bob")
        moderator = guild.add_member("mod", permissions=Perm.ALL & ~Perm.ADMINISTRATOR)
        settings = harness_settings(fake_discord, fake_api, tmp_path, guild, tune.get("env"))
        engine_options = {**DEFAULT_ENGINE_OPTIONS, **tune.get("engine", {})}
        h = Harness(
            fake_discord=fake_discord,
            fake_api=fake_api,
            settings=settings,
            guild=guild,
            channel=channel,
            alice=alice,
            bob=bob,
            moderator=moderator,
            bot=None,  # type: ignore[arg-type]
            delivery_options=dict(tune.get("delivery", {})),
            engine_options=engine_options,
            extensions=tune.get("extensions", EXTENSIONS),
        )
        await h.start()
        try:
            yield h
        finally:
            with contextlib.suppress(Exception):
                await h.stop()
        h.assert_clean()


@pytest.fixture
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    marker = request.node.get_closest_marker("harness")
    async with open_harness(tmp_path, marker.kwargs if marker else None) as h:
        yield h
