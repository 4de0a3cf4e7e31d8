"""Log a real discord.py client into a FakeDiscord, and stop it again."""

from __future__ import annotations

import asyncio
import contextlib

import discord

from bot.endpoints import apply_discord_endpoints
from tests.fakes.discord.server import FakeDiscord


async def start_client(
    client: discord.Client,
    fake: FakeDiscord,
    *,
    timeout: float = 15.0,  # noqa: ASYNC109
    guild_ready_timeout: float | None = 0.05,
) -> asyncio.Task[None]:
    """Point discord.py at the fake, run `client.start()` in a task, return once it is ready.

    `guild_ready_timeout` shortens discord.py's wait after the last GUILD_CREATE (2 s by default;
    the fake sends every guild at once). Pass None to keep the client's own setting.
    """
    apply_discord_endpoints(fake.api_base_url, fake.gateway_url)
    if guild_ready_timeout is not None:
        client._connection.guild_ready_timeout = guild_ready_timeout
    task = asyncio.create_task(client.start(fake.bot_token), name="fake-discord-client")
    try:
        async with asyncio.timeout(timeout):
            ready = asyncio.ensure_future(client.wait_until_ready())
            done, _ = await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                ready.cancel()
                task.result()  # re-raises the start-up failure
                raise RuntimeError("the discord client stopped before it became ready")
            await fake.wait_ready(timeout)
    except BaseException:
        await stop_client(client, task)
        raise
    return task


async def stop_client(
    client: discord.Client,
    task: asyncio.Task[None] | None = None,
    fake: FakeDiscord | None = None,
) -> None:
    """Close the client and wait for its start() task to end (and, given the fake, until the
    fake has seen the gateway connection go)."""
    await client.close()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            async with asyncio.timeout(10):
                await task
    if fake is not None:
        await fake.notifier.wait_until(lambda: fake.active is None, 5.0)
