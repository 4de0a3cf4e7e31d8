"""/help: what the bot does and how to use it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.presentation.text import NO_PINGS

if TYPE_CHECKING:
    from bot.bot import JamBot

HELP_TEXT = """\
**Lyria Jam** turns a few words into about 30 seconds of music with Google's Lyria 2.

**/compose** `prompt` — describe the music: genre, mood, instruments, tempo. \
Optional: `negative_prompt` (what to leave out) and `seed` (the same seed and prompt give \
the same piece).
Under a finished piece: **Re-roll** tries the same prompt with a new seed, **Variation** lets \
you edit the prompt and keeps the seed. **Cancel** stops a piece still waiting in the queue.
**/quota** — how many pieces you and this server have left; moderators manage limits there.

Each piece uses one of your credits and one from the server's daily pool. \
Failed pieces that never reached the music service give the credit back."""


class Meta(commands.Cog):
    def __init__(self, bot: JamBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to make music with this bot")
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(
            HELP_TEXT, ephemeral=True, allowed_mentions=NO_PINGS
        )


async def setup(bot: JamBot) -> None:
    await bot.add_cog(Meta(bot))
