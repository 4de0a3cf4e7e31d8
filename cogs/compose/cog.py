"""/compose: turn a prompt into music; and the listener that carries each job to its result."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import JamBot
from bot.jobs.request import NEGATIVE_PROMPT_MAX_CHARS, PROMPT_MAX_CHARS, SEED_MAX
from cogs.compose.buttons import handle_variation_submit, queued_view, result_view
from cogs.compose.delivery import ResultDelivery
from cogs.compose.flow import start_compose
from cogs.compose.owners import OwnerAlerts
from cogs.compose.status import StatusBoard

log = logging.getLogger(__name__)

# At shutdown, deliveries in flight get this long to finish (and be marked delivered).
DELIVERY_GRACE_SECONDS = 5.0


class Compose(commands.Cog):
    def __init__(self, bot: JamBot) -> None:
        self.bot = bot
        self.delivery: ResultDelivery | None = None

    async def cog_load(self) -> None:
        # No services when the bot only publishes its commands (`python -m bot sync`).
        if not self.bot.has_services:
            return
        services = self.bot.services
        tuning = self.bot.tuning.delivery
        status = StatusBoard(
            self.bot, services.engine, services.tasks, queued_view=queued_view, tuning=tuning
        )
        owners = OwnerAlerts(
            self.bot,
            services.settings.owner_ids,
            interval=tuning.owner_alert_interval,
            clock=tuning.clock,
        )
        self.delivery = ResultDelivery(
            self.bot,
            services.engine,
            services.quota.ledger,
            services.tasks,
            status,
            owners,
            result_view=result_view,
            tuning=tuning,
            audio=services.audio,
            audio_dir=services.settings.audio_dir,
        )
        services.engine.add_listener(self.delivery)

    async def cog_unload(self) -> None:
        if self.delivery is not None:
            unfinished = await self.delivery.drain(DELIVERY_GRACE_SECONDS)
            if unfinished:
                log.warning("%d deliveries cut short; the next start redoes them", unfinished)

    @app_commands.command(name="compose", description="Turn a text prompt into a track of music")
    @app_commands.describe(
        prompt="What the music should sound like: genre, mood, instruments, tempo…",
        negative_prompt="What to leave out, e.g. 'vocals, drums'",
        seed="A number (0 or more) to make the result repeatable; leave empty for a surprise",
    )
    async def compose(
        self,
        interaction: discord.Interaction[JamBot],
        prompt: app_commands.Range[str, 1, PROMPT_MAX_CHARS],
        negative_prompt: app_commands.Range[str, 1, NEGATIVE_PROMPT_MAX_CHARS] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    ) -> None:
        await start_compose(interaction, prompt=prompt, negative_prompt=negative_prompt, seed=seed)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[JamBot]) -> None:
        # Variation modals are answered here so that they work after a restart, too.
        await handle_variation_submit(interaction)
