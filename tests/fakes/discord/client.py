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
    """Point discord.py at the fake, run `client.start()` in a task, return once it is ready
    and the fake has attached every gateway session of the client (one per shard).

    `guild_ready_timeout` shortens discord.py's wait after the last GUILD_CREATE (2 s by default;
    the fake sends every guild at once). Pass None to keep the client's own setting.
    Works for `AutoShardedClient`s too (`shard_ids=[1], shard_count=2` runs one of two shards).
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
            ids = gateway_session_ids(client)
            await fake.notifier.wait_until(
                lambda: all(
                    (s := fake.gateway_sessions.get(i)) is not None and s.connection is not None
                    for i in ids
                ),
                timeout,
            )
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
    fake has seen the client's gateway connections go; other clients' stay)."""
    ids = gateway_session_ids(client)
    await client.close()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            async with asyncio.timeout(10):
                await task
    if fake is not None:
        await fake.notifier.wait_until(
            lambda: (
                not any(
                    c.session is not None and c.session.session_id in ids for c in fake.connections
                )
            ),
            5.0,
        )


def gateway_session_ids(client: discord.Client) -> set[str]:
    """The gateway session ids a discord.py client holds (one per shard it runs)."""
    if isinstance(client, discord.AutoShardedClient):
        # ShardInfo keeps its Shard (and that its websocket) in `_parent`: no public accessor.
        sockets = [info._parent.ws for info in client.shards.values()]
    else:
        sockets = [client.ws]
    return {ws.session_id for ws in sockets if ws is not None and ws.session_id}
