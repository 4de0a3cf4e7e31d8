"""REST handlers for threads and channel changes: start a thread (from a message or without
one), modify or delete a channel or thread, join or leave a thread, list a guild's active
threads. The rules live in threads.py; here the bot is the actor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord.state import FakeChannel, FakeMember, Perm
from tests.fakes.discord.threads import (
    PRIVATE_THREAD,
    FakeThread,
    create_thread,
    delete_thread,
    modify_thread,
    require,
)
from tests.fakes.discord.wire import ApiError, UploadedFile, json_response

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord


def register(fake: FakeDiscord, app: web.Application) -> None:
    route = fake.add_route

    def channel_of(request: web.Request) -> FakeChannel:
        channel = fake.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        if channel.guild is not None and not channel.bot_permission_bits() & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        return channel

    def bot_in(channel: FakeChannel) -> FakeMember:
        if channel.guild is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        return channel.guild.bot_member

    def thread_of(request: web.Request) -> FakeThread:
        channel = channel_of(request)
        if not isinstance(channel, FakeThread):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        return channel

    def options(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ApiError(400, 50035, "Invalid Form Body: name is required")
        return {
            "auto_archive_duration": body.get("auto_archive_duration") or 1440,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
        }

    async def thread_from_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        settings = options(body)
        message = fake.messages.get(int(request.match_info["message_id"]))
        if message is None or message.deleted or message.ephemeral:
            raise ApiError(404, 10008, "Unknown Message")
        if message.channel_id != channel.id:
            raise ApiError(404, 10008, "Unknown Message")
        thread = create_thread(
            fake, channel, body["name"], actor=bot_in(channel), message=message, **settings
        )
        return json_response(thread.to_payload(), 201)

    async def thread_without_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        settings = options(body)
        invitable = body.get("invitable")
        thread = create_thread(
            fake,
            channel,
            body["name"],
            actor=bot_in(channel),
            kind=body.get("type") or PRIVATE_THREAD,  # Discord's default since API v9
            invitable=True if invitable is None else bool(invitable),
            **settings,
        )
        return json_response(thread.to_payload(), 201)

    async def modify_channel(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        if not isinstance(body, dict):
            raise ApiError(400, 50035, "Invalid Form Body")
        if isinstance(channel, FakeThread):
            modify_thread(fake, channel, body, actor=bot_in(channel))
            return json_response(channel.to_payload())
        require(fake, bot_in(channel), channel, Perm.MANAGE_CHANNELS, "edit a channel")
        unsupported = set(body) - {"name"}
        if unsupported:  # the fake keeps no other channel settings
            raise ApiError(400, 50035, f"Invalid Form Body: not modelled {sorted(unsupported)}")
        if "name" in body:
            channel.name = str(body["name"])
        fake.dispatch_if_live("CHANNEL_UPDATE", channel.to_payload)
        fake.changed(channel)
        return json_response(channel.to_payload())

    async def delete_channel(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        if isinstance(channel, FakeThread):
            delete_thread(fake, channel, actor=bot_in(channel))
            return json_response(channel.to_payload())
        if channel.guild is None:  # closing a DM: nothing changes for the fake
            return json_response(channel.to_payload())
        guild = channel.guild
        require(fake, guild.bot_member, channel, Perm.MANAGE_CHANNELS, "delete a channel")
        guild.channels.remove(channel)
        fake.channels.pop(channel.id, None)
        for thread in [t for t in guild.threads if t.parent is channel]:
            thread.deleted = True  # Discord drops a channel's threads with it
            guild.threads.remove(thread)
            fake.channels.pop(thread.id, None)
        fake.dispatch_if_live("CHANNEL_DELETE", channel.to_payload)
        fake.changed(channel)
        return json_response(channel.to_payload())

    async def join_thread(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        thread = thread_of(request)
        if thread.archived:
            raise ApiError(400, 50083, "Thread is archived")
        thread.add_member(bot_in(thread))
        fake.changed(thread)
        return web.Response(status=204)

    async def leave_thread(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        thread = thread_of(request)
        thread.member_ids.pop(fake.bot_user.id, None)
        fake.changed(thread)
        return web.Response(status=204)

    async def active_threads(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        guild = fake.get_guild(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        threads = [t for t in guild.threads if t.listed_on_connect()]
        members = [t.member_payload(fake.bot_user.id) for t in threads if t.bot_is_member()]
        return json_response(
            {"threads": [t.to_payload() for t in threads], "members": members, "has_more": False}
        )

    channel = "/channels/{channel_id}"
    route(app, "POST", channel + "/messages/{message_id}/threads", thread_from_message)
    route(app, "POST", channel + "/threads", thread_without_message)
    route(app, "PATCH", channel, modify_channel)
    route(app, "DELETE", channel, delete_channel)
    route(app, "PUT", channel + "/thread-members/@me", join_thread)
    route(app, "DELETE", channel + "/thread-members/@me", leave_thread)
    route(app, "GET", "/guilds/{guild_id}/threads/active", active_threads)
