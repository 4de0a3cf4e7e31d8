"""A burst of /compose shares a bounded pool of kept-alive HTTP connections to Discord.

discord.py's own pool is unlimited: hundreds of defers in the same moment each opened a new TCP
connection (the loop-lag spikes of bench/compose_load.py). The fake keeps connections alive as
Discord does, so the number of client ends it saw is the number of connections the bot opened.
"""

from __future__ import annotations

import asyncio

from bot.bot import DISCORD_CONNECTIONS
from tests.conftest import Harness

BURST = 2 * DISCORD_CONNECTIONS


async def test_a_burst_of_commands_reuses_a_bounded_pool_of_connections(harness: Harness) -> None:
    members = [harness.alice, harness.bob, harness.moderator]
    interactions = await asyncio.gather(
        *(harness.compose(f"burst piece {i}", user=members[i % 3]) for i in range(BURST))
    )
    acks = await asyncio.gather(*(interaction.wait_for_ack() for interaction in interactions))
    assert len(acks) == BURST
    # Every request so far (gateway, command sync, the defers and what followed) came over at
    # most the pool's connections: they were reused, not one opened per request.
    assert len(harness.fake_discord.requests) > BURST
    assert 1 < len(harness.fake_discord.http_peers) <= DISCORD_CONNECTIONS
    assert harness.fake_discord.late_acks == []
