"""JamBot: the discord.py client that wires settings, database, engine, quota and cogs together.

`setup_hook` (run once, after login and before the gateway connects) builds everything in
order and resumes unfinished jobs; `close` stops it in reverse. Job rows survive `close`, so
the next start picks up where this one stopped.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import discord
from discord.ext import commands
from discord.utils import MISSING

from bot.aimlapi.client import LyriaClient
from bot.config import Settings
from bot.discord_buttons import DYNAMIC_ITEMS, queued_view, result_view
from bot.discord_delivery import DiscordDelivery
from bot.extensions import EXTENSIONS
from bot.jobs.engine import JobEngine
from bot.presentation.text import NO_PINGS
from bot.quota.service import QuotaDefaults, QuotaService
from bot.store.database import Database
from bot.store.jobs import JobStore
from bot.tasks import TaskTracker
from bot.tree import JamTree

log = logging.getLogger(__name__)

# Reservations this old without a job row are leftovers of a crash between reserve and enqueue.
ORPHAN_AGE_SECONDS = 120.0
# At shutdown, deliveries in flight get this long to finish (and be marked delivered).
DELIVERY_GRACE_SECONDS = 5.0
DISCORD_CONNECTIONS = 32  # HTTP connections to Discord kept in the pool


class ExtensionLoadError(RuntimeError):
    """A listed extension failed to load; the bot does not start without it."""


class JamBot(commands.Bot):
    settings: Settings
    db: Database
    http_session: aiohttp.ClientSession
    engine: JobEngine
    quota: QuotaService
    delivery: DiscordDelivery
    job_store: JobStore

    def __init__(
        self,
        settings: Settings,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        commands_only: bool = False,
        delivery_options: dict[str, Any] | None = None,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        """`commands_only`: load the extensions but open no database and start no jobs
        (for `python -m bot sync`). The option dicts let tests and the benchmark tune timing."""
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=JamTree,
            help_command=None,
            allowed_mentions=NO_PINGS,
            # No message cache: the bot never reads it, and every MESSAGE_UPDATE would scan it.
            max_messages=None,
        )
        self.settings = settings
        self.extension_names = tuple(extensions)
        self.commands_only = commands_only
        self.tasks = TaskTracker()
        self._delivery_options = delivery_options or {}
        self._engine_options = engine_options or {}
        self._resources_open = False
        self._gc_frozen = False

    async def login(self, token: str) -> None:
        # discord.py's own pool has no limit, so a burst of interactions (hundreds of defers in
        # the same moment) opens one TCP connection per request instead of reusing a few kept
        # alive; a bounded pool queues them on connections already open (the gateway's
        # websocket holds one of them).
        if self.http.connector is MISSING or self.http.connector.closed:
            self.http.connector = aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS)
        await super().login(token)

    async def setup_hook(self) -> None:
        if not self.commands_only:
            await self._open_resources()
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        await self._load_extensions()
        if self.settings.dev_guild_id and not self.commands_only:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev server %s", len(synced), guild.id)
        if not self.commands_only:
            await self.engine.start()
            released = await self.quota.release_orphans(
                await self.job_store.all_ids(), older_than=ORPHAN_AGE_SECONDS
            )
            log.info("ready: %d orphaned reservation(s) released", released)

    async def _open_resources(self) -> None:
        settings = self.settings
        settings.require("AIMLAPI_KEY")  # before anything is created on disk
        for folder in (settings.database_path.parent, settings.audio_dir):
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        self.db = await Database.open(settings.database_path)
        self._resources_open = True
        # aiohttp's default pool (100 connections) would queue downloads behind polls when
        # many generations run; the engine already bounds concurrency, so size the pool to it.
        connections = 2 * settings.max_concurrent_generations + 10
        self.http_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))
        self.quota = QuotaService(self.db, QuotaDefaults.from_settings(settings))
        engine_options: dict[str, Any] = {"resume_origins": frozenset({"discord"})}
        engine_options.update(self._engine_options)
        self.job_store = JobStore(self.db)
        self.engine = JobEngine.from_settings(
            settings,
            store=self.job_store,
            client=LyriaClient.from_settings(self.http_session, settings),
            ledger=self.quota,
            **engine_options,
        )
        self.delivery = DiscordDelivery(
            self,
            self.engine,
            self.quota,
            self.tasks,
            queued_view=queued_view,
            result_view=result_view,
            **{"owner_ids": settings.owner_ids, **self._delivery_options},
        )
        self.engine.add_listener(self.delivery)

    async def on_ready(self) -> None:
        if not self._gc_frozen:
            # Move everything alive after start-up (modules, caches, the guilds just received)
            # out of the collector's way: full collections then scan only what jobs create,
            # which keeps their pauses (seen at 100+ ms under load) off the event loop.
            self._gc_frozen = True
            gc.collect()
            gc.freeze()
        log.info("connected as %s to %d server(s)", self.user, len(self.guilds))

    async def _load_extensions(self) -> None:
        for name in self.extension_names:
            try:
                await self.load_extension(name)
            except commands.ExtensionError as error:
                cause = error.__cause__ or error
                raise ExtensionLoadError(f"extension {name} failed to load: {cause}") from error

    async def close(self) -> None:
        """Stop the engine (job rows stay for the next start), then the network and database."""
        started = time.monotonic()
        engine: JobEngine | None = getattr(self, "engine", None)
        if engine is not None:
            await engine.stop()
        delivery: DiscordDelivery | None = getattr(self, "delivery", None)
        if delivery is not None:
            unfinished = await delivery.drain(DELIVERY_GRACE_SECONDS)
            if unfinished:
                log.warning("%d deliveries cut short; the next start redoes them", unfinished)
        await self.tasks.close()
        await super().close()
        session: aiohttp.ClientSession | None = getattr(self, "http_session", None)
        if session is not None and not session.closed:
            await session.close()
        if self._resources_open:
            self._resources_open = False
            await self.db.close()
        log.info("closed in %.2f s", time.monotonic() - started)
