"""`python -m bot sync [--guild ID [--clear]]`: publish the slash commands (over HTTP only).

A server that has its own copy of the commands (`--guild`) and also gets the global ones shows
every command twice; `sync --guild ID` says so when it happens, and `--clear` removes that
server's copies. Every failure is one line: no network, a refused token, a server the bot is
not in.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import discord

from bot.bot import ExtensionLoadError, JamBot
from bot.cli.startup import one_line, prepare
from bot.config import Settings


def run_sync(settings: Settings, guild_id: int | None = None, *, clear: bool = False) -> int:
    """Publish the slash commands, to one server (instant) or globally (up to an hour);
    with `clear`, remove that one server's own copies instead."""
    if clear and guild_id is None:
        print("sync --clear needs --guild ID: it removes one server's own copies", file=sys.stderr)
        return 2
    problem = prepare(settings, "DISCORD_TOKEN", quiet=True)
    if problem is not None:
        return problem
    return asyncio.run(_sync(settings, guild_id, clear=clear))


async def _sync(settings: Settings, guild_id: int | None, *, clear: bool) -> int:
    assert settings.discord_token is not None
    bot = JamBot(settings, commands_only=True)
    async with bot:
        try:
            await bot.login(settings.discord_token.reveal())  # HTTP only; runs setup_hook
            return await _publish(bot, guild_id, clear=clear)
        except discord.LoginFailure:
            print("Discord refused DISCORD_TOKEN; check it in the Developer Portal.")
        except ExtensionLoadError as error:
            print(f"start-up stopped: {error}", file=sys.stderr)
        except discord.Forbidden as error:
            where = (
                f"server {guild_id} (is the bot in it, invited with applications.commands?)"
                if guild_id
                else "the application's commands"
            )
            print(f"Discord refused access to {where}: {one_line(error)}", file=sys.stderr)
        except discord.HTTPException as error:
            print(f"Discord refused the sync: {one_line(error)}", file=sys.stderr)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            print(
                f"cannot reach Discord at {settings.discord_api_base_url}: {one_line(error)}",
                file=sys.stderr,
            )
    return 1


async def _publish(bot: JamBot, guild_id: int | None, *, clear: bool) -> int:
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is None:
        synced = await bot.tree.sync()
        print(
            f"synced {len(synced)} command(s) to every server (global; may take up to an hour): "
            f"{_names(synced)}"
        )
        print(
            "A server synced earlier with `sync --guild ID` keeps its own copies and shows every "
            "command twice: `python -m bot sync --guild ID --clear` removes them."
        )
        return 0
    if clear:
        bot.tree.clear_commands(guild=guild)
        await bot.tree.sync(guild=guild)
        print(f"removed the commands of server {guild_id} (the global ones stay)")
        return 0
    bot.tree.copy_global_to(guild=guild)
    synced = await bot.tree.sync(guild=guild)
    print(f"synced {len(synced)} command(s) to server {guild_id}: {_names(synced)}")
    published = {command.name for command in await bot.tree.fetch_commands()}
    twice = sorted(published & {command.name for command in synced})
    if twice:
        print(
            f"warning: {len(twice)} of these are also published globally, so server {guild_id} "
            f"shows each twice. Keep one copy: `python -m bot sync --guild {guild_id} --clear` "
            "removes this server's own."
        )
    return 0


def _names(commands: list[discord.app_commands.AppCommand]) -> str:
    return ", ".join(f"/{command.name}" for command in commands) or "(none)"
