"""`python -m bot sync [--guild ID]`: publish the slash commands (over HTTP only)."""

from __future__ import annotations

import asyncio
import sys

import discord

from bot.bot import ExtensionLoadError, JamBot
from bot.cli.startup import prepare
from bot.config import Settings


def run_sync(settings: Settings, guild_id: int | None = None) -> int:
    """Publish the slash commands, to one server (instant) or globally (up to an hour)."""
    problem = prepare(settings, "DISCORD_TOKEN")
    if problem is not None:
        return problem
    return asyncio.run(_sync(settings, guild_id))


async def _sync(settings: Settings, guild_id: int | None) -> int:
    assert settings.discord_token is not None
    bot = JamBot(settings, commands_only=True)
    async with bot:
        try:
            await bot.login(settings.discord_token.reveal())  # HTTP only; runs setup_hook
        except discord.LoginFailure:
            print("Discord refused DISCORD_TOKEN; check it in the Developer Portal.")
            return 1
        except ExtensionLoadError as error:
            print(f"start-up stopped: {error}", file=sys.stderr)
            return 1
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
    where = f"server {guild_id}" if guild_id else "every server (global; may take up to an hour)"
    names = ", ".join(f"/{command.name}" for command in synced) or "(none)"
    print(f"synced {len(synced)} command(s) to {where}: {names}")
    return 0
