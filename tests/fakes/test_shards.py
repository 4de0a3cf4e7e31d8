"""Sharding in the fake Discord, driven by real discord.py clients: each gateway session gets
only the guilds of its shard (`(guild_id >> 22) % shard_count`, DMs on shard 0), their events
and their interactions; GET /gateway/bot tells an AutoShardedClient how many shards to run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    start_client,
    stop_client,
)
from tests.fakes.discord.snowflakes import shard_of


@dataclass
class Handled:
    """Which bot handled what: (bot label, guild id or None for a DM)."""

    commands: list[tuple[str, int | None]] = field(default_factory=list)
    messages: list[tuple[str, int | None]] = field(default_factory=list)


class QuickShardedBot(commands.AutoShardedBot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s between two shards' IDENTIFYs (Discord's concurrency limit of
        one); the fake has no such limit."""


def sharded_bot(label: str, handled: Handled, **sharding: Any) -> commands.AutoShardedBot:
    bot = QuickShardedBot(command_prefix="!", intents=discord.Intents.default(), **sharding)

    @bot.tree.command(name="ping", description="Who answers?")
    async def ping(interaction: discord.Interaction) -> None:
        handled.commands.append((label, interaction.guild_id))
        shard = interaction.guild.shard_id if interaction.guild else 0
        await interaction.response.send_message(f"{label} (shard {shard})")

    @bot.event
    async def on_message(message: discord.Message) -> None:
        handled.messages.append((label, message.guild.id if message.guild else None))

    return bot


@dataclass
class Server:
    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember


def add_server(fake: FakeDiscord, name: str, shard: tuple[int, int]) -> Server:
    guild = fake.add_guild(name, shard=shard)
    return Server(guild, guild.add_text_channel("music"), guild.add_member(f"{name}-fan"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(recommended_shards=2, validate_responses=True) as server:
        yield server
        assert server.problems() == [] and server.response_spec_errors == []


def test_guild_ids_can_be_minted_on_a_chosen_shard() -> None:
    fake = FakeDiscord()
    for count in (1, 2, 3, 16):
        for shard_id in range(count):
            guild = fake.add_guild(f"g{shard_id}", shard=(shard_id, count))
            assert shard_of(guild.id, count) == shard_id
    with pytest.raises(ValueError, match="no shard"):
        fake.add_guild("nowhere", shard=(2, 2))


async def test_two_processes_each_see_only_their_shard(fake: FakeDiscord) -> None:
    zero = [add_server(fake, f"zero{n}", (0, 2)) for n in range(2)]
    one = [add_server(fake, f"one{n}", (1, 2)) for n in range(2)]
    handled = Handled()
    bot0 = sharded_bot("bot0", handled, shard_ids=[0], shard_count=2)
    bot1 = sharded_bot("bot1", handled, shard_ids=[1], shard_count=2)
    task0 = await start_client(bot0, fake)
    task1 = await start_client(bot1, fake)
    try:
        await bot0.tree.sync()
        assert {g.id for g in bot0.guilds} == {s.guild.id for s in zero}
        assert {g.id for g in bot1.guilds} == {s.guild.id for s in one}
        assert (bot0.shard_count, bot1.shard_count) == (2, 2)
        session0, session1 = fake.session_of_shard(0), fake.session_of_shard(1)
        assert session0 is not None and session1 is not None
        assert (session0.shard, session1.shard) == ((0, 2), (1, 2))
        assert session0.events("READY")[0]["shard"] == [0, 2]
        assert [g["id"] for g in session1.events("READY")[0]["guilds"]] == [
            str(s.guild.id) for s in one
        ]

        for server in [*zero, *one]:
            interaction = await fake.invoke("ping", user=server.member, channel=server.channel)
            ack = await interaction.wait_for_ack()
            owner = "bot0" if server in zero else "bot1"
            assert ack["data"]["content"].startswith(owner)
        dm = await fake.invoke("ping", user=one[0].member.user)  # DMs belong to shard 0
        assert (await dm.wait_for_ack())["data"]["content"] == "bot0 (shard 0)"
        assert handled.commands == [
            *[("bot0", s.guild.id) for s in zero],
            *[("bot1", s.guild.id) for s in one],
            ("bot0", None),
        ]
        routed = [e["guild_id"] for e in session1.events("INTERACTION_CREATE")]
        assert routed == [str(s.guild.id) for s in one]

        # Guild events follow the guild: a new guild on shard 1 reaches bot1 only.
        joined = asyncio.ensure_future(bot1.wait_for("guild_join", timeout=5))
        late = add_server(fake, "late", (1, 2))
        assert (await joined).id == late.guild.id
        assert bot0.get_guild(late.guild.id) is None
        assert all(e["id"] != str(late.guild.id) for e in session0.events("GUILD_CREATE"))
    finally:
        await stop_client(bot0, task0, fake)
        assert fake.session_of_shard(1) is not None  # the other process stays connected
        await stop_client(bot1, task1, fake)
    assert fake.live_sessions == []


async def test_message_events_reach_the_owning_shard_only(fake: FakeDiscord) -> None:
    a = add_server(fake, "a", (0, 2))
    b = add_server(fake, "b", (1, 2))
    handled = Handled()
    bot0 = sharded_bot("bot0", handled, shard_ids=[0], shard_count=2)
    bot1 = sharded_bot("bot1", handled, shard_ids=[1], shard_count=2)
    task0 = await start_client(bot0, fake)
    task1 = await start_client(bot1, fake)
    seen0 = asyncio.ensure_future(bot0.wait_for("message", timeout=5))
    seen1 = asyncio.ensure_future(bot1.wait_for("message", timeout=5))
    fake.post_user_message(b.channel, b.member, "on shard one")
    fake.post_user_message(a.channel, a.member, "on shard zero")
    assert (await seen0).guild.id == a.guild.id
    assert (await seen1).guild.id == b.guild.id
    assert sorted(handled.messages) == [("bot0", a.guild.id), ("bot1", b.guild.id)]
    await stop_client(bot0, task0, fake)
    await stop_client(bot1, task1, fake)


async def test_one_shard_resumes_while_the_other_carries_on(fake: FakeDiscord) -> None:
    a = add_server(fake, "a", (0, 2))
    b = add_server(fake, "b", (1, 2))
    handled = Handled()
    bot0 = sharded_bot("bot0", handled, shard_ids=[0], shard_count=2)
    bot1 = sharded_bot("bot1", handled, shard_ids=[1], shard_count=2)
    task0 = await start_client(bot0, fake)
    task1 = await start_client(bot1, fake)
    await bot0.tree.sync()

    await fake.drop_connection(4000, shard_id=1)
    assert fake.session_of_shard(1) is None and fake.resumable is not None
    assert fake.resumable.shard == (1, 2)
    first = await fake.invoke("ping", user=a.member, channel=a.channel)  # shard 0: live
    assert (await first.wait_for_ack())["data"]["content"] == "bot0 (shard 0)"
    second = await fake.invoke("ping", user=b.member, channel=b.channel)  # buffered, replayed
    assert (await second.wait_for_ack())["data"]["content"] == "bot1 (shard 1)"
    assert fake.resume_count == 1 and fake.identify_count == 2
    await stop_client(bot0, task0, fake)
    await stop_client(bot1, task1, fake)


async def test_an_auto_sharded_bot_asks_gateway_bot_and_runs_every_shard(
    fake: FakeDiscord,
) -> None:
    a = add_server(fake, "a", (0, 2))
    b = add_server(fake, "b", (1, 2))
    handled = Handled()
    bot = sharded_bot("auto", handled)  # no shard_count: asks GET /gateway/bot
    task = await start_client(bot, fake)
    await bot.tree.sync()
    assert [r.status for r in fake.requests if r.template == "/gateway/bot"] == [200]
    assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert {g.id: g.shard_id for g in bot.guilds} == {a.guild.id: 0, b.guild.id: 1}
    assert sorted(s.shard for s in fake.live_sessions) == [(0, 2), (1, 2)]
    answer = await fake.invoke("ping", user=b.member, channel=b.channel)
    assert (await answer.wait_for_ack())["data"]["content"] == "auto (shard 1)"
    limits = await bot.fetch_session_start_limits()
    assert (limits.total, limits.remaining) == (1000, 998)
    await stop_client(bot, task, fake)


async def test_an_invalid_shard_is_refused_with_4010(fake: FakeDiscord) -> None:
    add_server(fake, "a", (0, 2))
    bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.default(), shard_id=2, shard_count=2
    )
    with pytest.raises(discord.ConnectionClosed) as closed:
        await start_client(bot, fake, timeout=5)
    assert closed.value.code == 4010
    assert fake.identify_count == 0 and fake.gateway_sessions == {}
