"""Threads in the fake Discord, driven by the real discord.py client: starting threads (from a
message and without one), posting and paging in them, commands used inside them, archive, lock
and delete events, and the permission rules Discord applies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import (
    ApiError,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeThread,
    Perm,
    start_client,
    stop_client,
)


@dataclass
class Seen:
    """What the bot's `/where` command saw, in order."""

    channels: list[Any] = field(default_factory=list)


def make_bot(seen: Seen) -> commands.Bot:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())

    @bot.tree.command(name="where", description="Say where this was used")
    async def where(interaction: discord.Interaction) -> None:
        seen.channels.append(interaction.channel)
        await interaction.response.send_message("here")
        await interaction.followup.send("and here")

    return bot


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember
    bob: FakeMember
    bot: commands.Bot
    seen: Seen

    def text_channel(self) -> discord.TextChannel:
        channel = self.bot.get_channel(self.channel.id)
        assert isinstance(channel, discord.TextChannel)
        return channel

    def event(self, name: str, check: Any = None) -> asyncio.Future[Any]:
        """Start waiting for a discord.py event before causing it."""
        return asyncio.ensure_future(self.bot.wait_for(name, check=check, timeout=5))


def build_world(fake: FakeDiscord) -> World:
    guild = fake.add_guild("Jam Session")
    channel = guild.add_text_channel("music")
    alice = guild.add_member("alice")
    bob = guild.add_member("bob")
    seen = Seen()
    return World(fake, guild, channel, alice, bob, make_bot(seen), seen)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(validate_responses=True) as server:
        yield server
        assert server.response_spec_errors == []


@pytest.fixture
async def world(fake: FakeDiscord) -> AsyncIterator[World]:
    w = build_world(fake)
    task = await start_client(w.bot, fake)
    await w.bot.tree.sync()
    yield w
    await stop_client(w.bot, task, fake)
    assert fake.problems() == []


async def test_the_bot_starts_a_thread_from_its_message_and_posts_in_it(world: World) -> None:
    fake = world.fake
    message = await world.text_channel().send("Jam tonight!")
    created = world.event("thread_create")
    thread = await message.create_thread(name="Jam session", auto_archive_duration=60)
    assert isinstance(thread, discord.Thread)
    assert thread.id == message.id and thread.parent_id == world.channel.id
    assert await created is not None and world.bot.get_channel(thread.id) is not None

    fake_thread = world.guild.get_thread(thread.id)
    assert isinstance(fake_thread, FakeThread)
    assert fake_thread.type == 11 and fake_thread.parent is world.channel
    assert fake_thread.owner_id == fake.bot_user.id and fake_thread.auto_archive_duration == 60
    starter = fake.messages[message.id]
    assert starter.thread_id == thread.id and starter.flags & FakeMessage.HAS_THREAD
    assert fake.message_payload(starter)["thread"]["id"] == str(thread.id)
    await message.edit(suppress=True)  # sends `flags`: HAS_THREAD is Discord's to keep
    assert starter.flags & FakeMessage.HAS_THREAD and starter.history[-1]["flags"] == 4

    first = await thread.send("first riff")
    await thread.send("second riff")
    assert [m.content for m in fake_thread.messages] == ["first riff", "second riff"]
    assert fake_thread.messages[0].channel_id == thread.id
    assert world.channel.messages == [starter]  # nothing leaked into the parent
    payload = fake_thread.to_payload()
    assert (payload["message_count"], payload["total_message_sent"]) == (2, 2)
    assert payload["member_count"] == 1 and payload["member"]["user_id"] == str(fake.bot_user.id)

    await first.delete()
    assert (fake_thread.message_count, fake_thread.total_message_sent) == (1, 2)
    history = [m.content async for m in thread.history(limit=10)]
    assert history == ["second riff"]
    fetched = await world.bot.fetch_channel(thread.id)
    assert isinstance(fetched, discord.Thread) and fetched.message_count == 1

    with pytest.raises(discord.HTTPException) as again:
        await message.create_thread(name="Another")
    assert (again.value.status, again.value.code) == (400, 160004)


async def test_threads_without_a_message_public_and_private(world: World) -> None:
    text = world.text_channel()
    created = world.event("thread_create")
    public = await text.create_thread(name="Open jam", type=discord.ChannelType.public_thread)
    assert (await created).id == public.id
    created = world.event("thread_create")
    private = await text.create_thread(name="Backstage", invitable=False)  # private by default
    assert (await created).id == private.id
    assert public.type is discord.ChannelType.public_thread
    assert private.type is discord.ChannelType.private_thread and not private.invitable
    kinds = {t.name: t.type for t in world.guild.threads}
    assert kinds == {"Open jam": 11, "Backstage": 12}
    assert {t.id for t in text.threads} == {public.id, private.id}
    assert not {public.id, private.id} & world.fake.messages.keys()  # ids of their own


async def test_a_command_used_in_a_thread_sees_a_thread(world: World) -> None:
    note = world.fake.post_user_message(world.channel, world.alice, "who's in?")
    created = world.event("thread_create")
    thread = world.channel.start_thread("Jam", by=world.alice, message=note)
    assert (await created).owner_id == world.alice.id

    interaction = await world.fake.invoke("where", user=world.bob, channel=thread)
    followup = await interaction.wait_for_followup()
    [seen] = world.seen.channels
    assert isinstance(seen, discord.Thread)
    assert seen.id == thread.id and seen.parent_id == world.channel.id
    assert interaction.payload["channel_id"] == str(thread.id)
    assert interaction.payload["channel"]["type"] == 11
    assert interaction.original is not None
    assert thread.messages == [interaction.original, followup]
    assert world.channel.messages == [note]


async def test_archive_lock_and_delete_reach_the_bot(world: World) -> None:
    created = world.event("thread_create")
    thread = world.channel.start_thread("Jam", by=world.alice)
    bot_thread = await created
    assert isinstance(bot_thread, discord.Thread) and not bot_thread.archived
    assert await world.guild.wait_for_thread() is thread

    updated = world.event("thread_update")
    thread.archive(by=world.alice)  # its creator may
    before, after = await updated
    assert not before.archived and after.archived
    with pytest.raises(ValueError, match="archived"):
        await world.fake.invoke("where", user=world.alice, channel=thread)

    # A message from the bot brings an archived (unlocked) thread back.
    unarchived = world.event("raw_thread_update")
    await bot_thread.send("still jamming")
    assert (await unarchived).data["thread_metadata"]["archived"] is False
    assert not thread.archived and thread.bot_is_member()

    with pytest.raises(ApiError) as refused:
        thread.edit(by=world.bob, name="mine now")  # neither creator nor moderator
    assert refused.value.code == 50013 and thread.name == "Jam"

    thread.archive(lock=True)  # the guild owner (a moderator)
    with pytest.raises(discord.Forbidden) as locked:
        await bot_thread.send("let me in")
    assert locked.value.code == 160005

    raw_deleted = world.event("raw_thread_delete")
    thread.delete()
    raw = await raw_deleted
    assert (raw.thread_id, raw.parent_id, raw.guild_id) == (
        thread.id,
        world.channel.id,
        world.guild.id,
    )
    assert raw.thread_type is discord.ChannelType.public_thread
    # The bot's cache dropped the archived thread earlier, so only the raw event knows it.
    assert raw.thread is None
    assert world.guild.threads == [] and thread.id not in world.fake.channels


async def test_thread_delete_reaches_on_thread_delete(world: World) -> None:
    created = world.event("thread_create")
    thread = world.channel.start_thread("Short jam", by=world.alice)
    await created
    deleted = world.event("thread_delete")
    thread.delete()
    gone = await deleted
    assert gone.id == thread.id and world.bot.get_channel(thread.id) is None


async def test_the_bot_archives_renames_and_deletes_with_the_right_permissions(
    world: World,
) -> None:
    text = world.text_channel()
    thread = await text.create_thread(name="Jam", type=discord.ChannelType.public_thread)
    fake_thread = world.guild.get_thread(thread.id)
    assert fake_thread is not None

    await thread.edit(name="Jam #1", archived=True)  # its creator may
    assert (fake_thread.name, fake_thread.archived) == ("Jam #1", True)
    with pytest.raises(discord.HTTPException) as archived:
        await thread.edit(name="Jam #2")  # an archived thread only takes being unarchived
    assert archived.value.code == 50083
    await thread.edit(archived=False)
    assert not fake_thread.archived

    with pytest.raises(discord.Forbidden) as lock:
        await thread.edit(locked=True)
    with pytest.raises(discord.Forbidden) as delete:
        await thread.delete()
    assert lock.value.code == delete.value.code == 50013
    assert len(world.fake.permission_denials) == 2

    updated = world.event("guild_channel_update")
    world.channel.set_bot_permissions(Perm.ALL & ~Perm.ADMINISTRATOR)  # MANAGE_THREADS too
    await updated
    await thread.edit(locked=True)
    assert fake_thread.locked
    deleted = world.event("raw_thread_delete")
    await thread.delete()
    assert (await deleted).thread_id == thread.id
    assert world.guild.threads == []


async def test_missing_thread_permissions_are_403_50013(world: World) -> None:
    no_threads = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.READ_MESSAGE_HISTORY
    created = world.event("guild_channel_create")
    strict = world.guild.add_text_channel("strict", bot_permissions=no_threads)
    channel = await created
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("no threads here")
    with pytest.raises(discord.Forbidden) as refused:
        await message.create_thread(name="Jam")
    assert refused.value.code == 50013
    assert world.fake.permission_denials == ["start a thread in #strict"]
    assert world.guild.threads == [] and strict.messages[0].thread_id is None

    # SEND_MESSAGES does not let anyone talk in a thread: SEND_MESSAGES_IN_THREADS does.
    created = world.event("thread_create")
    thread = strict.start_thread("Jam", by=world.alice)
    bot_thread = await created
    with pytest.raises(discord.Forbidden) as mute:
        await bot_thread.send("hello")
    assert mute.value.code == 50013 and thread.messages == []


async def test_forum_channels_and_repeated_threads_are_refused(world: World) -> None:
    created = world.event("guild_channel_create", lambda c: c.name == "clips")
    forum = world.guild.add_forum_channel("ideas")
    media = world.guild.add_forum_channel("clips", media=True)
    note = world.fake.post_user_message(world.channel, world.alice, "thread me")
    for channel in (forum, media):
        with pytest.raises(ApiError) as refused:
            channel.start_thread("post", by=world.alice)
        assert refused.value.code == 50024
    world.channel.start_thread("first", by=world.alice, message=note)
    with pytest.raises(ApiError) as twice:
        world.channel.start_thread("second", by=world.bob, message=note)
    assert twice.value.code == 160004
    with pytest.raises(ApiError) as duration:
        world.channel.start_thread("odd", by=world.alice, auto_archive_duration=30)
    assert duration.value.code == 50035
    assert (await created).type is discord.ChannelType.media
    assert isinstance(world.bot.get_channel(forum.id), discord.ForumChannel)


async def test_private_threads_stay_hidden_from_a_bot_outside_them(world: World) -> None:
    hidden = world.channel.start_thread("secret", by=world.alice, private=True)
    world.fake.post_user_message(hidden, world.alice, "psst")
    created = world.event("thread_create")
    joined = world.channel.start_thread("open", by=world.alice)
    assert (await created).id == joined.id
    assert world.bot.get_channel(hidden.id) is None
    session = world.fake.active.session if world.fake.active else None
    assert session is not None
    assert [e["id"] for e in session.events("THREAD_CREATE")] == [str(joined.id)]
    assert all(e["channel_id"] != str(hidden.id) for e in session.events("MESSAGE_CREATE"))

    # Commands still work there; discord.py builds the Thread from the interaction payload.
    interaction = await world.fake.invoke("where", user=world.alice, channel=hidden)
    await interaction.wait_for_followup()
    [seen] = world.seen.channels
    assert isinstance(seen, discord.Thread) and seen.id == hidden.id
    assert seen.type is discord.ChannelType.private_thread


async def test_a_restarted_bot_knows_the_active_threads(fake: FakeDiscord) -> None:
    w = build_world(fake)
    task = await start_client(w.bot, fake)
    text = w.text_channel()
    mine = await text.create_thread(name="mine", type=discord.ChannelType.public_thread)
    theirs = w.channel.start_thread("theirs", by=w.alice)
    old = w.channel.start_thread("old", by=w.alice)
    old.archive()
    await stop_client(w.bot, task, fake)

    again = make_bot(Seen())
    task = await start_client(again, fake)
    guild = again.get_guild(w.guild.id)
    assert guild is not None
    assert {t.id for t in guild.threads} == {mine.id, theirs.id}
    restored = guild.get_thread(mine.id)
    assert restored is not None and restored.me is not None  # the bot is a member of its own
    other = guild.get_thread(theirs.id)
    assert other is not None and other.me is None and other.owner_id == w.alice.id
    active = await guild.active_threads()
    assert {t.id for t in active} == {mine.id, theirs.id}
    await stop_client(again, task, fake)
    assert fake.problems() == []


async def test_history_pages_before_after_and_around(world: World) -> None:
    posted = [world.fake.post_user_message(world.channel, world.alice, f"m{n}") for n in range(130)]
    ids = [m.id for m in posted]
    text = world.text_channel()
    newest_first = [m.id async for m in text.history(limit=None)]
    assert newest_first == list(reversed(ids))  # two pages: 100, then 30
    oldest_first = [m.id async for m in text.history(limit=None, oldest_first=True)]
    assert oldest_first == ids
    before = [m.id async for m in text.history(limit=5, before=discord.Object(ids[50]))]
    assert before == list(reversed(ids[45:50]))
    after = [m.id async for m in text.history(limit=5, after=discord.Object(ids[50]))]
    assert after == ids[51:56]  # discord.py turns `after` pages oldest first
    around = [m.id async for m in text.history(limit=5, around=discord.Object(ids[50]))]
    assert sorted(around) == ids[48:53]
    posted[49].deleted = True
    before = [m.id async for m in text.history(limit=3, before=discord.Object(ids[51]))]
    assert before == [ids[50], ids[48], ids[47]]
