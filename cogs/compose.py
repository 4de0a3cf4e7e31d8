"""/compose: turn a prompt into music. Thin: the decisions live in `bot.discord_compose`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_buttons import handle_variation_submit
from bot.discord_compose import start_compose
from bot.presentation.errors import NEGATIVE_PROMPT_MAX_CHARS, PROMPT_MAX_CHARS, SEED_MAX

if TYPE_CHECKING:
    from bot.bot import JamBot


class Compose(commands.Cog):
    def __init__(self, bot: JamBot) -> None:
        self.bot = bot

    @app_commands.command(name="compose", description="Turn a text prompt into a piece of music")
    @app_commands.describe(
        prompt="What the music should sound like: genre, mood, instruments, tempo…",
        negative_prompt="What to leave out, e.g. 'vocals, drums'",
        seed="A number (0 or more) to make the result repeatable; leave empty for a surprise",
    )
    async def compose(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, PROMPT_MAX_CHARS],
        negative_prompt: app_commands.Range[str, 1, NEGATIVE_PROMPT_MAX_CHARS] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    ) -> None:
        await start_compose(
            self.bot, interaction, prompt=prompt, negative_prompt=negative_prompt, seed=seed
        )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # Variation modals are answered here so that they work after a restart, too.
        await handle_variation_submit(interaction)


async def setup(bot: JamBot) -> None:
    await bot.add_cog(Compose(bot))
