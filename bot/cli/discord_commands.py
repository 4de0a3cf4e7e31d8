"""`python -m bot run` and `python -m bot sync`: the Discord side of the command line."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import discord

from bot.config import ConfigError, Settings
from bot.discord_endpoints import apply_discord_endpoints
from bot.logs import setup_logging

log = logging.getLogger(__name__)


def _secrets(settings: Settings) -> list[str]:
    return [s.reveal() for s in (settings.discord_token, settings.aimlapi_key) if s is not None]


def _prepare(settings: Settings, *required: str) -> int | None:
    """Check settings and set up logging and endpoints; an exit code when something is wrong."""
    try:
        settings.require(*required)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, _secrets(settings))
    apply_discord_endpoints(settings.discord_api_base_url, settings.discord_gateway_url)
    return None


def run_bot(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT; 0 after a clean stop."""
    problem = _prepare(settings, "DISCORD_TOKEN", "AIMLAPI_KEY")
    if problem is not None:
        return problem
    return asyncio.run(_run(settings))


async def _run(settings: Settings) -> int:
    from bot.bot import ExtensionLoadError, JamBot

    assert settings.discord_token is not None
    bot = JamBot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    code = 0
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord_token.reveal()), name="bot")
        stopper = asyncio.create_task(stop.wait(), name="signal")
        done, _pending = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("stop signal received; shutting down")
        else:
            stopper.cancel()
            error = runner.exception()
            if isinstance(error, discord.LoginFailure):
                log.error("Discord refused DISCORD_TOKEN; check it in the Developer Portal")
                code = 1
            elif isinstance(error, ExtensionLoadError):
                log.error("start-up stopped: %s", error)
                code = 1
            elif error is not None:
                log.error("the bot stopped unexpectedly", exc_info=error)
                code = 1
        await bot.close()
        if not runner.done():
            runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    log.info("stopped")
    return code


def run_sync(settings: Settings, guild_id: int | None = None) -> int:
    """Publish the slash commands, to one server (instant) or globally (up to an hour)."""
    problem = _prepare(settings, "DISCORD_TOKEN")
    if problem is not None:
        return problem
    return asyncio.run(_sync(settings, guild_id))


async def _sync(settings: Settings, guild_id: int | None) -> int:
    from bot.bot import ExtensionLoadError, JamBot

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
        guild: Any = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
    where = f"server {guild_id}" if guild_id else "every server (global; may take up to an hour)"
    names = ", ".join(f"/{command.name}" for command in synced) or "(none)"
    print(f"synced {len(synced)} command(s) to {where}: {names}")
    return 0
