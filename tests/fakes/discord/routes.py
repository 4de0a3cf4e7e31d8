"""REST handlers of the fake Discord. Templates are the official spec's path templates."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord.messages import apply_body, check_uploads, require_content
from tests.fakes.discord.state import FakeChannel, FakeInteraction, FakeMessage, Perm
from tests.fakes.discord.wire import ApiError, UploadedFile, json_response

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
WEBHOOK_ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"


COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def command_problems(command: Any, where: str = "") -> list[str]:
    """Discord's rules for chat-input command and option names/descriptions (beyond the spec)."""
    if not isinstance(command, dict):
        return [f"{where or 'command'} is not an object"]
    name = str(command.get("name", ""))
    label = f"{where}/{name}" if where else name
    problems = []
    chat_input = command.get("type", 1) in (1, None) or where
    if chat_input and (not COMMAND_NAME.match(name) or name != name.lower()):
        problems.append(f"{label}: invalid name {name!r}")
    description = command.get("description") or ""
    if chat_input and not 1 <= len(description) <= 100:
        problems.append(f"{label}: description must be 1-100 characters")
    for option in command.get("options") or []:
        problems.extend(command_problems(option, label))
    return problems


QUERY_IDS = ("before", "after", "around")


def page_of_messages(messages: list[FakeMessage], query: Mapping[str, str]) -> list[FakeMessage]:
    """GET /channels/{id}/messages: newest first, `limit` (1-100, default 50) of the live
    messages `before` or `after` an id, or `around` one (half older, the rest from it on)."""
    try:
        limit = int(query.get("limit", "50"))
        before, after, around = (int(query[k]) if k in query else None for k in QUERY_IDS)
    except ValueError as exc:
        raise ApiError(400, 50035, "Invalid Form Body") from exc
    if not 1 <= limit <= 100:
        raise ApiError(400, 50035, "Invalid Form Body: limit must be 1-100")
    live = sorted((m for m in messages if not m.deleted), key=lambda m: m.id)
    if around is not None:
        older = [m for m in live if m.id < around][-(limit // 2) :] if limit // 2 else []
        page = older + [m for m in live if m.id >= around][: limit - len(older)]
    else:
        live = [m for m in live if (before is None or m.id < before)]
        live = [m for m in live if (after is None or m.id > after)]
        # `after` alone pages forwards (the oldest after it), otherwise backwards.
        page = live[:limit] if after is not None and before is None else live[-limit:]
    return list(reversed(page))


def register(fake: FakeDiscord, app: web.Application) -> None:

    route = fake.add_route

    def no_content() -> web.Response:
        return web.Response(status=204)

    # ------------------------------------------------------------ identity
    async def get_me(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        return json_response(fake.bot_user_payload())

    async def get_application(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        return json_response(
            {
                "id": str(fake.application_id),
                "name": fake.bot_user.username,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": fake.owner.to_payload(),
                "verify_key": "0" * 64,
                "team": None,
                "type": None,
                "flags": 0,
                "flags_new": "0",
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": [],
                "summary": "",
                "bot": fake.bot_user.to_payload(),
                "integration_types_config": {"0": {}},
                "approximate_guild_count": len(fake.guilds),
            }
        )

    async def get_user(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        user = fake.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user.to_payload())

    async def get_gateway(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        return json_response({"url": fake.gateway_url})

    async def get_gateway_bot(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        total = 1000
        return json_response(
            {
                "url": fake.gateway_url,
                "shards": fake.recommended_shards,
                "session_start_limit": {
                    "total": total,
                    "remaining": max(0, total - fake.identify_count),
                    "reset_after": 86_400_000 if fake.identify_count else 0,
                    "max_concurrency": 1,
                },
            }
        )

    route(app, "GET", "/users/@me", get_me)
    route(app, "GET", "/oauth2/applications/@me", get_application)
    route(app, "GET", "/gateway", get_gateway, auth=False)
    route(app, "GET", "/gateway/bot", get_gateway_bot)

    # ------------------------------------------------------------ commands
    def check_app(request: web.Request) -> None:
        if request.match_info["application_id"] != str(fake.application_id):
            raise ApiError(403, 50001, "Missing Access")

    def store_commands(body: Any, guild_id: int | None) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise ApiError(400, 50035, "Invalid Form Body")
        problems = [p for item in body for p in command_problems(item)]
        if problems:
            fake.spec_errors.extend(f"command sync: {p}" for p in problems)
            raise ApiError(400, 50035, "Invalid Form Body")
        previous = fake.guild_commands.get(guild_id, []) if guild_id else fake.global_commands
        stored = []
        for item in body:
            old = next(
                (
                    c
                    for c in previous
                    if c["name"] == item.get("name") and c.get("type", 1) == item.get("type", 1)
                ),
                None,
            )
            command = dict(item)
            command.setdefault("type", 1)
            command.setdefault("description", "")
            command["id"] = old["id"] if old else str(fake.snowflakes.next())
            command["application_id"] = str(fake.application_id)
            command["version"] = str(fake.snowflakes.next())
            command.setdefault("default_member_permissions", None)
            command.setdefault("nsfw", False)
            if guild_id:
                command["guild_id"] = str(guild_id)
            else:
                command.setdefault("contexts", None)
                if command.get("integration_types") is None:
                    command["integration_types"] = [0]
            stored.append(command)
        fake.command_syncs += 1
        fake.changed()
        return stored

    async def put_global(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        check_app(request)
        fake.global_commands = store_commands(body, None)
        return json_response(fake.global_commands)

    async def get_global(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        check_app(request)
        return json_response(fake.global_commands)

    def guild_of(request: web.Request) -> int:
        guild_id = int(request.match_info["guild_id"])
        if fake.get_guild(guild_id) is None:
            raise ApiError(403, 50001, "Missing Access")
        return guild_id

    async def put_guild(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        check_app(request)
        guild_id = guild_of(request)
        fake.guild_commands[guild_id] = store_commands(body, guild_id)
        return json_response(fake.guild_commands[guild_id])

    async def get_guild_cmds(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        check_app(request)
        return json_response(fake.guild_commands.get(guild_of(request), []))

    cmds = "/applications/{application_id}/commands"
    gcmds = "/applications/{application_id}/guilds/{guild_id}/commands"
    route(app, "PUT", cmds, put_global, group="commands", major="application_id")
    route(app, "GET", cmds, get_global)
    route(app, "PUT", gcmds, put_guild, group="commands", major="guild_id")
    route(app, "GET", gcmds, get_guild_cmds)

    # ------------------------------------------------------------ interaction callback
    async def callback(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        interaction = fake.interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["interaction_token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        if not isinstance(body, dict):
            raise ApiError(400, 50035, "Invalid Form Body")
        now = time.time()
        if interaction.acked:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if now - interaction.sent_at > fake.ack_deadline:
            interaction.late = True
            fake.late_acks.append(interaction)
            fake.changed(interaction)
            raise ApiError(404, 10062, "Unknown interaction")
        kind = body.get("type")
        data = body.get("data") or {}
        check_uploads(fake, files, interaction.upload_limit, "interaction callback")
        message: FakeMessage | None = None
        if kind == 4:
            require_content(data, files)
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) & FakeMessage.EPHEMERAL
            if kind == 5:
                flags |= FakeMessage.LOADING
            message = fake.new_bot_message(interaction.channel, via="interaction", flags=flags)
            message.interaction_id = interaction.id
            if kind == 4:
                apply_body(fake, message, data, files, creating=True)
            interaction.original = message
            fake.message_event("MESSAGE_CREATE", message)
        elif kind in (6, 7):
            if interaction.message is None:
                raise ApiError(400, 40094, "This interaction has no message to update.")
            message = interaction.original = interaction.message
            if kind == 7:
                fake.edit_message(message, data, files)
        elif kind == 9:
            if interaction.type == 5:
                raise ApiError(400, 50035, "Invalid Form Body: a modal cannot answer a modal")
            interaction.modal = data
        elif kind == 8:
            pass
        else:
            raise ApiError(400, 50035, "Invalid Form Body: unsupported callback type")
        interaction.callbacks.append(body)
        interaction.acked_at = now
        fake.changed(interaction, message)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return no_content()
        result: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            },
        }
        if message is not None:
            result["interaction"]["response_message_id"] = str(message.id)
        if message is not None and kind in (4, 7):
            # Discord's docs: the resource carries the message only for types 4 and 7.
            result["resource"] = {"type": kind, "message": fake.message_payload(message)}
        return json_response(result)

    route(
        app,
        "POST",
        "/interactions/{interaction_id}/{interaction_token}/callback",
        callback,
        auth=False,
    )

    # ------------------------------------------------------------ interaction webhooks
    def webhook_interaction(request: web.Request) -> FakeInteraction:
        interaction = fake.by_token.get(request.match_info["webhook_token"])
        if interaction is None or request.match_info["webhook_id"] != str(fake.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        if time.time() > interaction.created_at + fake.token_lifetime:
            fake.expired_token_calls.append(f"{request.method} {request.path}")
            raise ApiError(401, 50027, "Invalid Webhook Token")
        if not interaction.acked:
            raise ApiError(404, 10015, "Unknown Webhook")
        return interaction

    def webhook_message(interaction: FakeInteraction, request: web.Request) -> FakeMessage:
        ident = request.match_info.get("message_id", "@original")
        if ident == "@original":
            message = interaction.original
        else:
            candidates = [interaction.original, *interaction.followups]
            message = next((m for m in candidates if m is not None and str(m.id) == ident), None)
        if message is None or message.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    async def get_webhook_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        message = webhook_message(webhook_interaction(request), request)
        return json_response(fake.message_payload(message))

    async def edit_webhook_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        interaction = webhook_interaction(request)
        message = webhook_message(interaction, request)
        check_uploads(fake, files, interaction.upload_limit, "webhook edit")
        fake.edit_message(message, body or {}, files)
        fake.changed(interaction)
        return json_response(fake.message_payload(message))

    async def delete_webhook_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        interaction = webhook_interaction(request)
        delete_message(webhook_message(interaction, request))
        fake.changed(interaction)
        return no_content()

    async def followup(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        interaction = webhook_interaction(request)
        check_uploads(fake, files, interaction.upload_limit, "followup")
        body = body or {}
        require_content(body, files)
        original = interaction.original
        if original is not None and original.loading and not interaction.followups:
            # After a type-5 defer the first followup fills the "thinking" message.
            message = original
            fake.edit_message(message, body, files)
        else:
            flags = int(body.get("flags") or 0) & FakeMessage.EPHEMERAL
            message = fake.new_bot_message(interaction.channel, via="webhook", flags=flags)
            message.interaction_id = interaction.id
            apply_body(fake, message, body, files, creating=True)
            fake.message_event("MESSAGE_CREATE", message)
        interaction.followups.append(message)
        fake.changed(interaction, message)
        if request.query.get("wait") not in ("1", "true", "True"):
            return no_content()
        return json_response(fake.message_payload(message))

    hook = dict(auth=False, group="webhook", major="webhook_token")
    for template in (WEBHOOK_ORIGINAL, WEBHOOK_MESSAGE):
        route(app, "GET", template, get_webhook_message, **hook)  # type: ignore[arg-type]
        route(app, "PATCH", template, edit_webhook_message, **hook)  # type: ignore[arg-type]
        route(app, "DELETE", template, delete_webhook_message, **hook)  # type: ignore[arg-type]
    route(app, "POST", "/webhooks/{webhook_id}/{webhook_token}", followup, **hook)  # type: ignore[arg-type]

    # ------------------------------------------------------------ channels and messages
    def channel_of(request: web.Request) -> FakeChannel:
        channel = fake.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        if channel.guild is not None and not channel.bot_permission_bits() & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        return channel

    def message_of(channel: FakeChannel, request: web.Request) -> FakeMessage:
        message = fake.messages.get(int(request.match_info["message_id"]))
        if (
            message is None
            or message.deleted
            or message.channel_id != channel.id
            or message.ephemeral
        ):
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def require(channel: FakeChannel, bits: int, what: str) -> None:
        if channel.guild is not None and channel.bot_permission_bits() & bits != bits:
            fake.permission_denials.append(f"{what} in #{channel.name}")
            raise ApiError(403, 50013, "Missing Permissions")

    def delete_message(message: FakeMessage) -> None:
        message.deleted = True
        fake.message_event("MESSAGE_DELETE", message)
        fake.changed(message)

    async def get_channel(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        return json_response(channel_of(request).to_payload())

    async def create_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        require(channel, channel.send_permission, "send")
        if files:
            require(channel, Perm.ATTACH_FILES, "attach")
        if channel.recipient is not None and not channel.recipient.accepts_dms:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        check_uploads(fake, files, channel.upload_limit, f"#{channel.name}")
        body = body or {}
        require_content(body, files)
        channel.before_write("post", fake.bot_user.id)
        message = fake.new_bot_message(channel, via="bot")
        apply_body(fake, message, body, files, creating=True)
        fake.message_event("MESSAGE_CREATE", message)
        fake.changed(message)
        return json_response(fake.message_payload(message))

    async def list_messages(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        require(channel, Perm.READ_MESSAGE_HISTORY, "read history")
        found = page_of_messages(channel.messages, request.query)
        return json_response([fake.message_payload(m) for m in found])

    async def get_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        require(channel, Perm.READ_MESSAGE_HISTORY, "read history")
        return json_response(fake.message_payload(message_of(channel, request)))

    async def edit_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        message = message_of(channel, request)
        if message.author_id != fake.bot_user.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        channel.before_write("edit", fake.bot_user.id)
        check_uploads(fake, files, channel.upload_limit, f"#{channel.name}")
        fake.edit_message(message, body or {}, files)
        return json_response(fake.message_payload(message))

    async def remove_message(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        channel = channel_of(request)
        message = message_of(channel, request)
        if message.author_id != fake.bot_user.id:
            require(channel, Perm.MANAGE_MESSAGES, "delete others' messages")
        channel.before_write("delete", fake.bot_user.id)
        delete_message(message)
        return no_content()

    msgs = "/channels/{channel_id}/messages"
    one = "/channels/{channel_id}/messages/{message_id}"
    limited = dict(group="channel_messages", major="channel_id")
    route(app, "GET", "/channels/{channel_id}", get_channel)
    route(app, "POST", msgs, create_message, **limited)  # type: ignore[arg-type]
    route(app, "GET", msgs, list_messages)
    route(app, "GET", one, get_message)
    route(app, "PATCH", one, edit_message, **limited)  # type: ignore[arg-type]
    route(app, "DELETE", one, remove_message, **limited)  # type: ignore[arg-type]

    # ------------------------------------------------------------ users, DMs, guilds
    async def open_dm(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        user = fake.users.get(int((body or {}).get("recipient_id", 0)))
        if user is None:
            raise ApiError(400, 50033, "Invalid Recipient(s)")
        return json_response(fake.dm_channel(user).to_payload())

    async def get_guild(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        guild = fake.get_guild(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return json_response(guild.to_payload())

    async def get_guild_channels(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        guild = fake.get_guild(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return json_response([c.to_payload() for c in guild.channels])

    async def get_roles(request: web.Request, body: Any, files: list[UploadedFile]) -> web.Response:
        guild = fake.get_guild(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return json_response([r.to_payload() for r in guild.roles])

    async def get_member(
        request: web.Request, body: Any, files: list[UploadedFile]
    ) -> web.Response:
        guild = fake.get_guild(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        member = guild.members.get(int(request.match_info["user_id"]))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(member.to_payload())

    route(app, "POST", "/users/@me/channels", open_dm)
    route(app, "GET", "/users/{user_id}", get_user)
    route(app, "GET", "/guilds/{guild_id}", get_guild)
    route(app, "GET", "/guilds/{guild_id}/channels", get_guild_channels)
    route(app, "GET", "/guilds/{guild_id}/roles", get_roles)
    route(app, "GET", "/guilds/{guild_id}/members/{user_id}", get_member)
