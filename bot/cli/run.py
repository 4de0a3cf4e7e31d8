"""`python -m bot run` (the default): run the Discord bot until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import aiohttp
import discord

from bot.bot import ExtensionLoadError, JamBot
from bot.cli.startup import one_line, prepare
from bot.config import Settings
from bot.services import StartupError
from bot.store.errors import StoreError

log = logging.getLogger(__name__)


def run_bot(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT; 0 after a clean stop."""
    problem = prepare(settings, "DISCORD_TOKEN", "AIMLAPI_KEY")
    if problem is not None:
        return problem
    return asyncio.run(_run(settings))


async def _run(settings: Settings) -> int:
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
            elif isinstance(error, StoreError | StartupError):
                log.error("cannot start: %s", one_line(error))
                code = 1
            elif isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
                # Logging in is one HTTP request; once connected, discord.py reconnects itself.
                where = settings.discord_api_base_url
                log.error("cannot reach Discord at %s: %s", where, one_line(error))
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
