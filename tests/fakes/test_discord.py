"""The fake Discord against the real discord.py client: login, sync, interactions, enforcement."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeUser,
    MiB,
    Perm,
    snowflake_time,
    start_client,
    stop_client,
)
from tests.fakes.discord.multipart import MultipartError, parse_multipart
from tests.fakes.discord.spec import load_validator

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 64


@dataclass
class Recorder:
    errors: list[BaseException] = field(default_factory=list)
    clicks: list[int] = field(default_factory=list)
    modal_values: list[str] = field(default_factory=list)
    limits: list[int] = field(default_factory=list)
    metadata_users: list[int] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def note_error(self, error: BaseException) -> None:
        self.errors.append(error)
        self.event.set()


class AgainButton(discord.ui.View):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__(timeout=None)
        self.recorder = recorder

    @discord.ui.button(label="Again", custom_id="jam:again", style=discord.ButtonStyle.primary)
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.recorder.clicks.append(interaction.user.id)
        await interaction.response.send_message("Queued again.", ephemeral=True)

    @discord.ui.button(label="Stop", custom_id="jam:stop")
    async def stop_button(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="Stopped", view=None)

    @discord.ui.button(label="Quiet", custom_id="jam:quiet")
    async def quiet(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="Shh")


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Your words", custom_id="words")

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(custom_id="feedback-modal")
        self.recorder = recorder

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.recorder.modal_values.append(self.text.value)
        await interaction.response.send_message("Thanks!", ephemeral=True)


def make_bot(recorder: Recorder, *, sleep_before_ack: float = 0.0, upload: int = 0) -> commands.Bot:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())

    @bot.tree.command(name="jam", description="Make a tune")
    @app_commands.describe(prompt="What to play")
    async def jam(interaction: discord.Interaction, prompt: str) -> None:
        recorder.limits.append(interaction.filesize_limit)
        if sleep_before_ack:
            await asyncio.sleep(sleep_before_ack)
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"Composing **{prompt}**…")
        data = WAV if not upload else b"\0" * upload
        sent = await interaction.followup.send(
            "Here it is",
            file=discord.File(io.BytesIO(data), "jam.wav"),
            view=AgainButton(recorder),
            allowed_mentions=discord.AllowedMentions.none(),
            wait=True,
        )
        if sent.interaction_metadata is not None:
            recorder.metadata_users.append(sent.interaction_metadata.user.id)
        recorder.event.set()

    @bot.tree.command(name="feedback", description="Tell us")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal(recorder))

    @bot.tree.command(name="say", description="Post in this channel")
    async def say(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True)
        assert isinstance(interaction.channel, discord.TextChannel)
        await interaction.channel.send(text)
        await interaction.followup.send("done", ephemeral=True)

    quota = app_commands.Group(name="quota", description="Quota")

    @quota.command(name="pool", description="Pool size")
    async def pool(interaction: discord.Interaction, size: int) -> None:
        await interaction.response.send_message(f"pool={size}", ephemeral=True)

    bot.tree.add_command(quota)

    async def moods(interaction: discord.Interaction, current: str) -> list[Any]:
        names = ["calm", "cheerful", "chaotic", "dark"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    @bot.tree.command(name="mood", description="Pick a mood")
    @app_commands.autocomplete(mood=moods)
    async def mood(interaction: discord.Interaction, mood: str) -> None:
        await interaction.response.send_message(mood)

    @bot.tree.command(name="silent", description="Forgets to answer")
    async def silent(interaction: discord.Interaction) -> None:
        recorder.event.set()

    @bot.tree.command(name="remix", description="Remix a file")
    async def remix(interaction: discord.Interaction, source: discord.Attachment) -> None:
        data = await source.read()
        await interaction.response.send_message(f"{source.filename}: {len(data)} bytes")

    @bot.tree.error
    async def on_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        recorder.note_error(getattr(error, "original", error))

    async def setup_hook() -> None:
        bot.add_view(AgainButton(recorder))

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember
    bot: commands.Bot
    recorder: Recorder


async def boot(fake: FakeDiscord, **bot_options: Any) -> World:
    guild = fake.add_guild("Jam Session")
    channel = guild.add_text_channel("music")
    alice = guild.add_member("alice")
    recorder = Recorder()
    bot = make_bot(recorder, **bot_options)
    return World(fake, guild, channel, alice, bot, recorder)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def world(fake: FakeDiscord) -> AsyncIterator[World]:
    w = await boot(fake)
    task = await start_client(w.bot, fake)
    await w.bot.tree.sync()
    yield w
    await stop_client(w.bot, task)


async def test_login_sync_and_slash_command_with_defer_edit_and_file(world: World) -> None:
    fake = world.fake
    assert world.bot.user is not None and world.bot.user.id == fake.bot_user.id
    assert world.bot.get_guild(world.guild.id) is not None
    synced = [c["name"] for c in fake.commands[None]]
    assert synced == ["jam", "feedback", "say", "quota", "mood", "silent", "remix"]

    interaction = await fake.invoke("jam", {"prompt": "lofi @everyone"}, user=world.alice)
    assert await interaction.wait_for_ack() == {"type": 5}
    followup = await interaction.wait_for_followup()

    assert interaction.original is not None
    assert interaction.original.content == "Composing **lofi @everyone**…"
    assert interaction.original.edit_count == 1 and not interaction.original.loading
    assert [a.filename for a in followup.attachments] == ["jam.wav"]
    assert followup.attachments[0].content_type == "audio/x-wav"  # Discord guesses from the name
    assert followup.attachments[0].data == WAV
    assert followup.allowed_mentions == {"parse": []}
    assert not followup.pings()
    assert interaction.original.pings().everyone  # the edit sent no allowed_mentions
    assert fake.message_payload(interaction.original)["mention_everyone"] is True
    async with asyncio.timeout(5):
        await world.recorder.event.wait()  # the bot has the followup's response too
    assert world.recorder.metadata_users == [world.alice.id]
    assert followup.custom_ids() == ["jam:again", "jam:stop", "jam:quiet"]
    assert world.channel.messages == [interaction.original, followup]
    assert world.recorder.limits == [10 * MiB]
    assert fake.active is not None and fake.active.zlib is not None  # zlib-stream frames
    assert fake.overdue() == [] and fake.late_acks == []
    assert fake.internal_errors == []
    assert fake.spec_errors == []
    assert fake.unknown_routes == []
    assert fake.problems() == []
    assert world.recorder.errors == []


async def test_attachment_is_served_like_a_cdn(world: World) -> None:
    interaction = await world.fake.invoke("jam", {"prompt": "x"}, user=world.alice)
    followup = await interaction.wait_for_followup()
    async with (
        aiohttp.ClientSession() as session,
        session.get(followup.attachments[0].url) as response,
    ):
        assert response.status == 200
        assert await response.read() == WAV


async def test_subcommand_path_and_integer_option(world: World) -> None:
    interaction = await world.fake.invoke("quota pool", {"size": 7}, user=world.alice)
    ack = await interaction.wait_for_ack()
    assert ack["type"] == 4
    assert ack["data"]["content"] == "pool=7"
    assert interaction.original is not None and interaction.original.ephemeral
    assert interaction.original not in world.channel.messages
    assert world.fake.spec_errors == []


async def test_button_click_reaches_the_persistent_view(world: World) -> None:
    bob = world.guild.add_member("bob")
    interaction = await world.fake.invoke("jam", {"prompt": "x"}, user=world.alice)
    followup = await interaction.wait_for_followup()

    click = await world.fake.click(followup, "jam:again", user=bob)
    ack = await click.wait_for_ack()
    assert ack["type"] == 4 and ack["data"]["content"] == "Queued again."
    assert world.recorder.clicks == [bob.id]
    assert world.fake.spec_errors == []


async def test_modal_is_shown_and_its_submission_reaches_the_bot(world: World) -> None:
    opened = await world.fake.invoke("feedback", user=world.alice)
    ack = await opened.wait_for_ack()
    assert ack["type"] == 9 and opened.modal is not None
    assert opened.modal["custom_id"] == "feedback-modal"

    submitted = await world.fake.submit_modal(
        "feedback-modal", {"words": "more cowbell"}, user=world.alice
    )
    reply = await submitted.wait_for_ack()
    assert reply["data"]["content"] == "Thanks!"
    assert world.recorder.modal_values == ["more cowbell"]
    assert world.fake.spec_errors == []


async def test_late_acknowledgement_gets_unknown_interaction() -> None:
    async with FakeDiscord(ack_deadline=0.2) as fake:
        w = await boot(fake, sleep_before_ack=0.4)
        task = await start_client(w.bot, fake)
        await w.bot.tree.sync()
        interaction = await fake.invoke("jam", {"prompt": "slow"}, user=w.alice)
        async with asyncio.timeout(5):
            await w.recorder.event.wait()
        await stop_client(w.bot, task)
    assert fake.late_acks == [interaction]
    assert fake.problems() == [f"acknowledged too late: interaction {interaction.id}"]
    assert not interaction.acked and interaction.original is None
    [error] = w.recorder.errors
    assert isinstance(error, discord.NotFound) and error.code == 10062


async def test_an_interaction_never_answered_is_overdue() -> None:
    async with FakeDiscord(ack_deadline=0.1) as fake:
        w = await boot(fake)
        task = await start_client(w.bot, fake)
        await w.bot.tree.sync()
        interaction = await fake.invoke("silent", user=w.alice)
        assert fake.overdue() == []  # still within its deadline
        async with asyncio.timeout(5):
            await w.recorder.event.wait()
        await asyncio.sleep(max(0.0, interaction.sent_at + 0.1 - time.time()) + 0.05)
        assert fake.overdue() == [interaction] and fake.late_acks == []
        assert fake.problems() == [f"never acknowledged: interaction {interaction.id}"]
        await stop_client(w.bot, task, fake)


async def test_expired_token_answers_50027(world: World) -> None:
    # Created 16 minutes ago: the ack deadline runs from delivery, but the token is dead.
    old = time.time() - 16 * 60
    interaction = await world.fake.invoke(
        "jam", {"prompt": "x"}, user=world.alice, snowflake_time=old
    )
    assert abs(snowflake_time(interaction.id) - old) < 0.01
    await interaction.wait_for_ack()
    async with asyncio.timeout(5):
        await world.recorder.event.wait()
    [error] = world.recorder.errors
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (401, 50027)
    assert world.fake.expired_token_calls


async def test_upload_over_the_limit_gets_413_and_boosted_guild_accepts_it() -> None:
    async with FakeDiscord() as fake:
        w = await boot(fake, upload=10 * MiB + 1)
        boosted = fake.add_guild("Boosted", premium_tier=2)
        boosted_channel = boosted.add_text_channel("music")
        boosted_member = boosted.add_member("carol")
        task = await start_client(w.bot, fake)
        await w.bot.tree.sync()

        small = await fake.invoke("jam", {"prompt": "big"}, user=w.alice)
        async with asyncio.timeout(5):
            await w.recorder.event.wait()
        w.recorder.event.clear()
        big = await fake.invoke(
            "jam", {"prompt": "big"}, user=boosted_member, channel=boosted_channel
        )
        followup = await big.wait_for_followup()
        await stop_client(w.bot, task)
    [error] = w.recorder.errors
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (413, 40005)
    assert small.followups == [] and fake.upload_rejections
    assert len(followup.attachments[0].data) == 10 * MiB + 1
    assert w.recorder.limits == [10 * MiB, 50 * MiB]


async def test_429_is_retried_by_discord_py(world: World) -> None:
    world.fake.script_ratelimit("webhook", retry_after=0.3)
    started = time.monotonic()
    interaction = await world.fake.invoke("jam", {"prompt": "x"}, user=world.alice)
    await interaction.wait_for_followup()
    assert time.monotonic() - started >= 0.3
    assert world.fake.ratelimited_count == 1
    assert interaction.original is not None and interaction.original.content.startswith("Composing")
    statuses = [r.status for r in world.fake.requests if "/webhooks/" in r.path]
    assert statuses == [429, 200, 200]
    assert world.recorder.errors == []


async def test_rate_limit_headers_make_discord_py_wait_instead_of_429() -> None:
    async with FakeDiscord(rate_limits={"channel_messages": (2, 0.5)}) as fake:
        w = await boot(fake)
        task = await start_client(w.bot, fake)
        channel = w.bot.get_channel(w.channel.id)
        assert isinstance(channel, discord.TextChannel)
        started = time.monotonic()
        for n in range(5):
            await channel.send(f"line {n}")
        elapsed = time.monotonic() - started
        await stop_client(w.bot, task)
    assert [m.content for m in w.channel.messages] == [f"line {n}" for n in range(5)]
    assert fake.ratelimited_count == 0
    assert elapsed >= 0.9  # two full windows waited out


async def test_missing_send_permission_is_403_50013(world: World) -> None:
    muted = world.guild.add_text_channel(
        "read-only", bot_permissions=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY
    )
    await asyncio.sleep(0)  # let CHANNEL_CREATE reach the client
    interaction = await world.fake.invoke("say", {"text": "hi"}, user=world.alice, channel=muted)
    await interaction.wait_for_ack()
    async with asyncio.timeout(5):
        await world.recorder.event.wait()
    [error] = world.recorder.errors
    assert isinstance(error, discord.Forbidden) and error.code == 50013
    assert muted.messages == [] and world.fake.permission_denials
    assert int(interaction.payload["app_permissions"]) & Perm.SEND_MESSAGES == 0


async def test_plain_http_rules(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(fake.api_base_url + "/users/@me") as response:
            assert response.status == 401
        headers = {"Authorization": f"Bot {fake.bot_token}"}
        async with session.get(fake.api_base_url + "/users/@me", headers=headers) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["id"] == str(fake.bot_user.id)
        async with session.get(fake.api_base_url + "/nope", headers=headers) as response:
            assert response.status == 404
            assert await response.json() == {"message": "404: Not Found", "code": 0}
        channel = fake.add_guild("g").add_text_channel("c")
        url = f"{fake.api_base_url}/channels/{channel.id}/messages"
        async with session.post(url, json={"content": 5}, headers=headers) as response:
            pass
        async with session.get(f"{url}/{channel.id}", headers=headers) as response:
            assert response.status == 404
            assert (await response.json())["code"] == 10008
        async with session.post(url, json={"content": ""}, headers=headers) as response:
            assert (response.status, (await response.json())["code"]) == (400, 50006)
        async with session.post(url, data=b"{nope", headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 50109
        async with session.get(f"{url}/not-a-number", headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 50035
    assert fake.unknown_routes == ["GET /api/v10/nope"]
    assert len(fake.spec_errors) == 2 and "content" in fake.spec_errors[0]
    assert "message_id is not a snowflake" in fake.spec_errors[1]
    assert fake.internal_errors == []


async def test_dm_invocation_and_bot_restart_gets_a_fresh_ready(fake: FakeDiscord) -> None:
    w = await boot(fake)
    task = await start_client(w.bot, fake)
    await w.bot.tree.sync()
    dm = await fake.invoke("quota pool", {"size": 3}, user=w.alice.user)
    assert (await dm.wait_for_ack())["data"]["content"] == "pool=3"
    assert "user" in dm.payload and "member" not in dm.payload
    await stop_client(w.bot, task)

    second = make_bot(Recorder())
    task = await start_client(second, fake)
    assert fake.identify_count == 2
    assert second.get_guild(w.guild.id) is not None
    await stop_client(second, task)
    assert fake.spec_errors == [] and fake.unknown_routes == []


async def test_dropped_connection_resumes_and_replays_missed_events(world: World) -> None:
    await world.fake.drop_connection(4000)
    assert world.fake.active is None and world.fake.resumable is not None
    # Sent while the bot is away: buffered in the session, replayed on RESUME.
    interaction = await world.fake.invoke("quota pool", {"size": 1}, user=world.alice)
    assert (await interaction.wait_for_ack())["type"] == 4
    assert world.fake.resume_count == 1 and world.fake.identify_count == 1


async def test_stopped_client_cannot_resume(fake: FakeDiscord) -> None:
    w = await boot(fake)
    task = await start_client(w.bot, fake)
    await w.bot.tree.sync()
    await stop_client(w.bot, task, fake)
    assert fake.resumable is None and fake.gateway_sessions == {}
    with pytest.raises(RuntimeError):
        await fake.invoke("quota pool", {"size": 1}, user=w.alice)


async def test_bot_dms_a_member_and_closed_dms_are_403_50007(world: World) -> None:
    user = await world.bot.fetch_user(world.alice.id)
    sent = await user.send("Your jam is ready")
    dm = world.fake.dm_channel(world.alice)
    assert [m.content for m in dm.messages] == ["Your jam is ready"]
    assert sent.id == dm.messages[0].id

    world.alice.user.accepts_dms = False
    with pytest.raises(discord.Forbidden) as refused:
        await user.send("again")
    assert refused.value.code == 50007
    assert len(dm.messages) == 1
    assert world.fake.spec_errors == []  # integer recipient_id is tolerated like Discord does


async def test_component_update_and_deferred_update_edit_the_clicked_message(world: World) -> None:
    interaction = await world.fake.invoke("jam", {"prompt": "x"}, user=world.alice)
    followup = await interaction.wait_for_followup()

    quiet = await world.fake.click(followup, "jam:quiet", user=world.alice)
    assert (await quiet.wait_for_ack())["type"] == 6
    await followup.wait_until(lambda m: m.content == "Shh")
    assert followup.custom_ids() == ["jam:again", "jam:stop", "jam:quiet"]

    stop = await world.fake.click(followup, "jam:stop", user=world.alice)
    assert (await stop.wait_for_ack())["type"] == 7
    assert followup.content == "Stopped" and followup.components == []
    assert followup.edit_count == 2
    with pytest.raises(LookupError):
        await world.fake.click(followup, "jam:stop", user=world.alice)  # the button is gone
    assert world.fake.spec_errors == []


async def test_every_response_carries_rate_limit_headers(fake: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake.bot_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(fake.api_base_url + "/users/@me", headers=headers) as response,
    ):
        assert response.headers["X-RateLimit-Limit"] == "50"
        assert response.headers["X-RateLimit-Remaining"] == "49"
        assert float(response.headers["X-RateLimit-Reset-After"]) > 0
        assert response.headers["X-RateLimit-Bucket"]


async def test_wrong_token_is_refused(fake: FakeDiscord) -> None:
    w = await boot(fake)
    from bot.endpoints import apply_discord_endpoints

    apply_discord_endpoints(fake.api_base_url, fake.gateway_url)
    with pytest.raises(discord.LoginFailure):
        await w.bot.start("not-the-token")
    await w.bot.close()
    assert fake.identify_count == 0


async def test_heartbeats_are_acknowledged_and_late_guilds_arrive() -> None:
    async with FakeDiscord(heartbeat_interval=0.05) as fake:
        w = await boot(fake)
        task = await start_client(w.bot, fake)
        assert fake.active is not None
        connection = fake.active
        await fake.notifier.wait_until(lambda: connection.heartbeats >= 3, 5)
        joined = asyncio.ensure_future(w.bot.wait_for("guild_join", timeout=5))
        late = fake.add_guild("Late Guild")
        assert (await joined).id == late.id
        created = asyncio.ensure_future(w.bot.wait_for("guild_channel_create", timeout=5))
        lobby = late.add_text_channel("lobby")
        assert (await created).id == lobby.id
        assert not w.bot.is_closed() and fake.active is connection
        await stop_client(w.bot, task)


def test_pings_follow_allowed_mentions() -> None:
    message = FakeMessage(id=1, channel_id=2, author_id=3, content="hi <@10> <@!11> <@&20> @here")
    assert message.pings().users == {10, 11} and message.pings().everyone
    message.allowed_mentions = {"parse": [], "users": ["11"]}
    pings = message.pings()
    assert pings.users == {11} and pings.roles == frozenset() and not pings.everyone
    message.allowed_mentions = {"parse": []}
    assert not message.pings()


async def test_multipart_parser_reads_what_aiohttp_writes() -> None:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", '{"content": "hi"}', content_type="application/json")
    form.add_field("files[0]", WAV, filename='my "jam" é.wav', content_type="audio/wav")
    form.add_field("files[1]", b"", filename="empty.txt")
    writer = form()
    sink = io.BytesIO()

    class Sink:
        async def write(self, data: bytes) -> None:
            sink.write(data)

    await writer.write(Sink())  # type: ignore[arg-type]
    parts = parse_multipart(sink.getvalue(), writer.content_type)
    assert [p.name for p in parts] == ["payload_json", "files[0]", "files[1]"]
    assert parts[0].data == b'{"content": "hi"}'
    assert parts[1].data == WAV and parts[1].content_type == "audio/wav"
    assert parts[1].filename == 'my "jam" é.wav'
    assert parts[2].data == b"" and parts[2].filename == "empty.txt"
    with pytest.raises(MultipartError):
        parse_multipart(b"--x\r\nbroken", 'multipart/form-data; boundary="x"')


async def test_the_fakes_own_answers_match_the_spec() -> None:
    async with FakeDiscord(validate_responses=True) as fake:
        w = await boot(fake)
        task = await start_client(w.bot, fake)
        await w.bot.tree.sync()
        jam = await fake.invoke("jam", {"prompt": "x"}, user=w.alice)
        followup = await jam.wait_for_followup()
        quiet = await fake.click(followup, "jam:quiet", user=w.alice)
        await quiet.wait_for_ack()
        await followup.wait_until(lambda m: m.content == "Shh")
        opened = await fake.invoke("feedback", user=w.alice)
        await opened.wait_for_ack()
        submitted = await fake.submit_modal("feedback-modal", {"words": "x"}, user=w.alice)
        await submitted.wait_for_ack()
        await (await w.bot.fetch_user(w.alice.id)).send("hi")
        channel = w.bot.get_channel(w.channel.id)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.send("x")
        await message.edit(content="y")
        await channel.fetch_message(message.id)
        await message.delete()
        await w.bot.fetch_guild(w.guild.id)
        await w.bot.fetch_channel(w.channel.id)
        await stop_client(w.bot, task, fake)
    checked = {r.template for r in fake.requests}
    assert len(checked) >= 12
    assert fake.response_spec_errors == []
    assert fake.spec_errors == [] and fake.unknown_routes == []
    assert submitted.trigger is opened


async def test_permission_and_role_changes_reach_the_client(world: World) -> None:
    guild = world.bot.get_guild(world.guild.id)
    assert guild is not None
    channel = guild.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    assert channel.permissions_for(guild.me).send_messages

    updated = asyncio.ensure_future(world.bot.wait_for("guild_channel_update", timeout=5))
    world.channel.set_bot_permissions(Perm.VIEW_CHANNEL)
    await updated
    assert not channel.permissions_for(guild.me).send_messages
    with pytest.raises(discord.Forbidden):
        await channel.send("nope")

    dj = world.guild.add_role("DJ", permissions=Perm.MANAGE_MESSAGES)
    world.alice.set_roles([dj])
    interaction = await world.fake.invoke("quota pool", {"size": 2}, user=world.alice)
    await interaction.wait_for_ack()
    assert interaction.payload["member"]["roles"] == [str(dj.id)]
    assert int(interaction.payload["member"]["permissions"]) & Perm.MANAGE_MESSAGES
    # Without the privileged members intent Discord sends no member updates, nor does the fake.
    assert world.fake.active is not None and world.fake.active.session is not None
    sent = [p["t"] for p in world.fake.active.session.sent]
    assert "GUILD_ROLE_CREATE" in sent and "GUILD_MEMBER_UPDATE" not in sent


async def test_member_updates_reach_a_client_with_the_members_intent(fake: FakeDiscord) -> None:
    w = await boot(fake)
    bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.default() | discord.Intents(members=True)
    )
    task = await start_client(bot, fake)
    dj = w.guild.add_role("DJ")
    changed = asyncio.ensure_future(bot.wait_for("member_update", timeout=5))
    w.alice.set_roles([dj])
    before, after = await changed
    assert [r.name for r in before.roles if not r.is_default()] == []
    assert [r.name for r in after.roles if not r.is_default()] == ["DJ"]
    await stop_client(bot, task, fake)


async def test_global_rate_limit_and_discord_only_limits() -> None:
    limits = {"global": (3, 0.5), "channel_messages": None}  # no per-channel pre-emptive waits
    async with FakeDiscord(rate_limits=limits) as fake:
        await global_limit_and_embed_rules(fake)


async def global_limit_and_embed_rules(fake: FakeDiscord) -> None:
    w = await boot(fake)
    task = await start_client(w.bot, fake)
    channel = w.bot.get_channel(w.channel.id)
    assert isinstance(channel, discord.TextChannel)
    for n in range(4):
        await channel.send(f"m{n}")  # the 4th meets the global limit, discord.py waits it out
    assert fake.ratelimited_count >= 1
    assert [m.content for m in w.channel.messages] == ["m0", "m1", "m2", "m3"]
    too_long = discord.Embed(description="x" * 4096, title="t" * 256)
    too_long.add_field(name="n", value="v" * 1024)
    too_long.add_field(name="n", value="v" * 1024)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send(embed=too_long)
    assert refused.value.code == 50035
    assert any("6000" in e for e in fake.spec_errors)
    await stop_client(w.bot, task, fake)


async def test_privileged_intents_not_enabled_close_the_gateway_with_4014() -> None:
    async with FakeDiscord(allowed_privileged_intents=0) as fake:
        fake.add_guild("g")
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.all())
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await start_client(bot, fake, timeout=5)
        assert fake.identify_count == 0


async def test_every_route_the_fake_serves_is_in_the_official_spec(fake: FakeDiscord) -> None:
    validator = load_validator()
    assert len(fake.served_routes) >= 25
    missing = [r for r in fake.served_routes if not validator.has_operation(*r)]
    assert missing == []


def test_spec_validation_memo_never_mixes_valid_and_invalid_bodies() -> None:
    validator = load_validator()
    followup = "/webhooks/{webhook_id}/{webhook_token}"
    assert validator.validate("POST", followup, {"content": "a" * 2000}) == []
    assert validator.validate("POST", followup, {"content": "b" * 2001})  # past the limit
    assert validator.validate("POST", followup, {"content": "c" * 1999}) == []
    users = {"parse": [], "users": ["1575257687552294926"]}
    assert validator.validate("POST", followup, {"content": "x", "allowed_mentions": users}) == []
    bad_users = {"parse": [], "users": ["01575257687552294926"]}
    assert validator.validate("POST", followup, {"content": "x", "allowed_mentions": bad_users})
    assert validator.validate("POST", followup, {"content": 5})


async def test_attachment_option_is_resolved_and_downloadable(world: World) -> None:
    upload = world.fake.upload_attachment("loop.wav", WAV, content_type="audio/wav")
    interaction = await world.fake.invoke("remix", {"source": upload}, user=world.alice)
    ack = await interaction.wait_for_ack()
    assert ack["data"]["content"] == f"loop.wav: {len(WAV)} bytes"
    assert world.fake.spec_errors == []


async def test_autocomplete_reaches_the_bot_and_its_choices_come_back(world: World) -> None:
    interaction = await world.fake.autocomplete(
        "mood", {"mood": "ch"}, focused="mood", user=world.alice
    )
    ack = await interaction.wait_for_ack()
    assert ack["type"] == 8
    assert [c["value"] for c in ack["data"]["choices"]] == ["cheerful", "chaotic"]
    assert interaction.original is None
    assert world.fake.spec_errors == []
    with pytest.raises(LookupError):
        await world.fake.autocomplete("jam", {"prompt": "x"}, focused="prompt", user=world.alice)


async def test_invalid_bodies_can_be_refused_like_discord_does() -> None:
    async with FakeDiscord(reject_invalid_bodies=True) as fake:
        w = await boot(fake)
        task = await start_client(w.bot, fake)
        channel = w.bot.get_channel(w.channel.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as refused:
            await channel.send(embed=discord.Embed(title="t" * 257))  # the spec allows 256
        assert (refused.value.status, refused.value.code) == (400, 50035)
        assert w.channel.messages == [] and len(fake.spec_errors) == 1
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)  # the spec says 4000; Discord gives bots 2000
        assert too_long.value.code == 50035 and "2000" in fake.spec_errors[-1]
        await channel.send("x" * 2000)
        assert len(w.channel.messages) == 1
        await stop_client(w.bot, task, fake)


def test_integer_snowflakes_pass_only_where_the_spec_has_a_snowflake() -> None:
    """Discord accepts ids as JSON integers (discord.py sends them); the spec types them as
    strings. Tolerated by schema position, not by key name."""
    validator = load_validator()
    followup = "/webhooks/{webhook_id}/{webhook_token}"
    big = 1575257687552294926

    def mentions(**fields: object) -> list[str]:
        body = {"content": "x", "allowed_mentions": {"parse": [], **fields}}
        return validator.validate("POST", followup, body)

    assert mentions(users=[big], roles=[big + 1]) == []
    assert mentions(users=[big, 1575257687552294927]) == []  # a second id, memo or not
    assert validator.validate("POST", "/users/@me/channels", {"recipient_id": big}) == []
    attachment = {"content": "x", "attachments": [{"id": 0, "filename": "a.wav"}]}
    assert validator.validate("POST", followup, attachment) == []
    # Still errors: not integers, negative ids, and integers where no snowflake belongs.
    assert mentions(users=[True])
    assert mentions(users=[-5])
    assert mentions(users=[1.5])
    assert mentions(parse=[big])
    assert validator.validate("POST", "/users/@me/channels", {"recipient_id": "12ab"})
    assert validator.validate("POST", followup, {"content": big})
    # The fake's own answers stay strict: Discord always sends ids as strings.
    user = FakeUser(big, "alice").to_payload()
    assert validator.validate_response("GET", "/users/{user_id}", 200, user) == []
    assert validator.validate_response("GET", "/users/{user_id}", 200, {**user, "id": big})
