"""/help: what the bot does and how to use it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import JamBot
from bot.interactions import NO_PINGS, requester_of
from bot.text.help import help_text


class Meta(commands.Cog):
    def __init__(self, bot: JamBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to make music with this bot")
    async def help(self, interaction: discord.Interaction[JamBot]) -> None:
        remaining = None
        if self.bot.has_services:
            remaining = await self.bot.services.quota.queries.remaining(requester_of(interaction))
        await interaction.response.send_message(
            help_text(remaining), ephemeral=True, allowed_mentions=NO_PINGS
        )


async def setup(bot: JamBot) -> None:
    await bot.add_cog(Meta(bot))
