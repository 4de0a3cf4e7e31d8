"""JamBot: the discord.py client. `setup_hook` is the one place the bot is put together.

In order: open the services (database, HTTP, quota, engine — `bot.services`), load every
extension in `bot.extensions` (each registers its own commands, components and listeners),
sync to the development server if one is set, then resume unfinished jobs and release
reservations orphaned by a crash. `close` stops it in reverse. Job rows survive `close`, so
the next start picks up where this one stopped.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from typing import Any, cast

import aiohttp
import discord
from discord.ext import commands
from discord.utils import MISSING

from bot.config import Settings
from bot.extensions import EXTENSIONS
from bot.interactions import NO_PINGS
from bot.invite import invite_url
from bot.jobs.models import Origin
from bot.metrics import Instruments
from bot.services import Services
from bot.shards import runs_every_shard, shard_plan
from bot.tasks import TaskTracker
from bot.tree import JamTree
from bot.tuning import Tuning

log = logging.getLogger(__name__)

# At start nothing of this process is between reserve and enqueue yet: a reservation without a
# job row is a crash's leftover at any age (one process per SQLite file).
ORPHAN_AGE_SECONDS = 0.0
# With SHARD_IDS other processes share the database and may be between reserve and enqueue
# (milliseconds): only a reservation this old without a job is surely a crash's.
SHARED_ORPHAN_AGE_SECONDS = 60.0
DISCORD_CONNECTIONS = 32  # HTTP connections to Discord kept in the pool


class ExtensionLoadError(RuntimeError):
    """A listed extension failed to load; the bot does not start without it."""


class ServicesNotOpen(RuntimeError):
    """The bot was built to publish commands only (`python -m bot sync`): no services."""


class JamBot(commands.AutoShardedBot):
    """Always discord.py's sharded client: without SHARD_COUNT it runs as many shards as
    Discord recommends (one for a small bot); with SHARD_COUNT / SHARD_IDS, exactly those."""

    def __init__(
        self,
        settings: Settings,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        commands_only: bool = False,
        tuning: Tuning | None = None,
    ) -> None:
        """`commands_only`: load the extensions but open no database and start no jobs
        (for `python -m bot sync`). `tuning` lets tests and the benchmark change timings."""
        self.instruments = Instruments()  # before the client: discord.py takes its HTTP trace
        sharding: dict[str, Any] = {"shard_count": settings.shard_count}
        if settings.shard_ids is not None:
            sharding["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=JamTree,
            help_command=None,
            allowed_mentions=NO_PINGS,
            # No message cache: the bot never reads it, and every MESSAGE_UPDATE would scan it.
            max_messages=None,
            http_trace=self.instruments.discord_trace,
            **sharding,
        )
        self.settings = settings
        self.extension_names = tuple(extensions)
        self.commands_only = commands_only
        self.tuning = tuning or Tuning()
        self.tasks = TaskTracker()
        self._services: Services | None = None
        self._gc_frozen = False

    @property
    def services(self) -> Services:
        if self._services is None:
            raise ServicesNotOpen("the bot's services are not open")
        return self._services

    @property
    def has_services(self) -> bool:
        return self._services is not None

    async def login(self, token: str) -> None:
        # discord.py's own pool has no limit, so a burst of interactions (hundreds of defers in
        # the same moment) opens one TCP connection per request instead of reusing a few kept
        # alive; a bounded pool queues them on connections already open (the gateway's
        # websocket holds one of them).
        if self.http.connector is MISSING or self.http.connector.closed:
            self.http.connector = aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS)
        await super().login(token)

    async def launch_shards(self) -> None:
        """Ask Discord for the recommended shard count when none is set, but dial the
        configured gateway (DISCORD_GATEWAY_URL, dialled as given): discord.py would otherwise
        take the URL `/gateway/bot` names and pass a gateway proxy by."""
        # discord.py declares shard_count an int; it is None until it is known.
        if cast("int | None", self.shard_count) is None and not self.is_closed():
            self.shard_count, _url, _limits = await self.http.get_bot_gateway()
        log.info("running %s", shard_plan(self.shard_count, self.shard_ids))
        await super().launch_shards()

    async def setup_hook(self) -> None:
        if not self.commands_only:
            self._services = await Services.open(
                self.settings,
                tasks=self.tasks,
                tuning=self.tuning.engine,
                resume_origins=frozenset({Origin.DISCORD}),
                instruments=self.instruments,
            )
            if self.settings.metrics_port is not None:
                await self.instruments.serve(
                    self.settings.metrics_host,
                    self.settings.metrics_port,
                    gateway=self.gateway_status,
                    tasks=self.tasks,
                )
        await self._load_extensions()
        # Once per deployment: only the process that runs shard 0 syncs the dev server.
        if self.settings.dev_guild_id and self.settings.runs_shard_zero and not self.commands_only:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev server %s", len(synced), guild.id)
        if self._services is not None:
            ledger = self._services.quota.ledger
            await ledger.finish_ended()
            await self._services.engine.start()
            shared = not runs_every_shard(self.settings.shard_count, self.settings.shard_ids)
            age = SHARED_ORPHAN_AGE_SECONDS if shared else ORPHAN_AGE_SECONDS
            released = await ledger.release_orphans(older_than=age)
            log.info("ready: %d orphaned reservation(s) released", released)

    def gateway_status(self) -> tuple[bool, list[tuple[int, float]]]:
        """Connected to the gateway (ready, every shard of this process open), and the
        heartbeat latency of each of its shards."""
        shards = self.shards
        connected = (
            self.is_ready()
            and not self.is_closed()
            and bool(shards)
            and not any(shard.is_closed() for shard in shards.values())
        )
        return connected, sorted(self.latencies)

    async def on_ready(self) -> None:
        if not self._gc_frozen:
            # Move everything alive after start-up (modules, caches, the guilds just received)
            # out of the collector's way: full collections then scan only what jobs create,
            # which keeps their pauses (seen at 100+ ms under load) off the event loop.
            self._gc_frozen = True
            gc.collect()
            gc.freeze()
        log.info("connected as %s to %d server(s)", self.user, len(self.guilds))
        if not self.guilds and self.application_id is not None:
            log.warning("I am in no server yet; invite me with %s", invite_url(self.application_id))

    async def _load_extensions(self) -> None:
        for name in self.extension_names:
            try:
                await self.load_extension(name)
            except commands.ExtensionError as error:
                cause = error.__cause__ or error
                raise ExtensionLoadError(f"extension {name} failed to load: {cause}") from error

    async def close(self) -> None:
        """Stop the engine (job rows stay for the next start), unload the extensions (they
        finish what they were posting), then close the network and the database."""
        started = time.monotonic()
        if self._services is not None:
            await self._services.engine.stop()
        await super().close()
        await self.instruments.close()
        await self.tasks.close()
        if self._services is not None:
            services, self._services = self._services, None
            await services.close()
        log.info("closed in %.2f s", time.monotonic() - started)
