"""FakeDiscord: Discord's REST API and gateway on 127.0.0.1 for the real discord.py client.

Every JSON body the client sends is checked against Discord's OpenAPI spec (`spec_errors`); the
rules that bite real bots are enforced and recorded: the 3 s acknowledgement (`late_acks`),
the 15 min interaction token lifetime (401/50027), the per-attachment upload limit (413/40005),
per-route rate limits (429 + headers, `ratelimited_count`), channel permissions (403/50013).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from aiohttp import web

from tests.fakes.discord import routes, thread_routes
from tests.fakes.discord.gateway import GatewayConnection, GatewaySession, gateway_handler
from tests.fakes.discord.interactions import (
    build_command_data,
    find_component,
    mark_focused,
    modal_submit_components,
)
from tests.fakes.discord.messages import apply_body, discord_rule_problems
from tests.fakes.discord.ratelimit import RateLimiter
from tests.fakes.discord.snowflakes import SnowflakeGenerator
from tests.fakes.discord.spec import SpecValidator, load_validator
from tests.fakes.discord.state import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    MiB,
    Notifier,
    Perm,
)
from tests.fakes.discord.threads import FakeThread
from tests.fakes.discord.wire import (
    RECORD,
    ApiError,
    RecordedRequest,
    UploadedFile,
    error_response,
    json_response,
    read_body,
)
from tests.fakes.hooks import Action, Moment, RequestHook, RequestHooks

API_PREFIX = "/api/v10"
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES = 1 << 0, 1 << 1, 1 << 9, 1 << 12
EVENT_INTENTS = {
    "GUILD_CREATE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "CHANNEL_DELETE": GUILDS,
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
}
MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"})
# Close codes after which a session cannot be resumed.
NON_RESUMABLE_CLOSES = frozenset({1000, 1001, 4004, 4010, 4011, 4012, 4013, 4014})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeDiscord:
    """`async with FakeDiscord() as discord:` — see the module docstring and the test file."""

    def __init__(
        self,
        *,
        bot_name: str = "Lyria Jam",
        ack_deadline: float = 3.0,
        token_lifetime: float = 900.0,
        rate_limits: Mapping[str, tuple[int, float] | None] | None = None,
        heartbeat_interval: float = 41.25,
        validate_spec: bool = True,
        validate_responses: bool = False,
        reject_invalid_bodies: bool = False,
        dispatch_message_events: bool = True,
        allowed_privileged_intents: int = (1 << 1) | (1 << 8) | (1 << 15),
        recommended_shards: int = 1,
    ) -> None:
        self.snowflakes = SnowflakeGenerator()
        self.bot_token = "fake." + secrets.token_urlsafe(32)
        self.application_id = self.snowflakes.next()
        self.bot_user = FakeUser(self.application_id, bot_name, bot=True)
        self.owner = FakeUser(self.snowflakes.next(), "app-owner")
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.heartbeat_interval = heartbeat_interval
        self.dispatch_message_events = dispatch_message_events
        # Privileged intents the "developer portal" enabled; asking for others closes with 4014.
        self.allowed_privileged_intents = allowed_privileged_intents
        self.ratelimiter = RateLimiter()
        for group, limit in (rate_limits or {}).items():
            if limit is None:  # None switches a group off
                self.ratelimiter.limits.pop(group, None)
            else:
                self.ratelimiter.limits[group] = limit
        self._spec: SpecValidator | None = load_validator() if validate_spec else None

        self.users: dict[int, FakeUser] = {
            self.bot_user.id: self.bot_user,
            self.owner.id: self.owner,
        }
        self.guilds: list[FakeGuild] = []
        self.channels: dict[int, FakeChannel] = {}
        self.dm_channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.by_token: dict[str, FakeInteraction] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs = 0

        self.requests: list[RecordedRequest] = []
        # Scripted outages: (method, route template, status, times left or None for ever).
        self.scripted_failures: list[list[Any]] = []
        self.request_hooks: RequestHooks[RecordedRequest] = RequestHooks()
        self.spec_errors: list[str] = []
        self.validate_responses = validate_responses
        # Discord answers a body that breaks its schema with 400/50035; by default the fake
        # only records the violation (tests assert spec_errors == []) and carries on.
        self.reject_invalid_bodies = reject_invalid_bodies
        self.response_spec_errors: list[str] = []  # the fake's own answers vs the spec
        self.unknown_routes: list[str] = []
        self.internal_errors: list[str] = []  # exceptions inside the fake (tests assert empty)
        self.late_acks: list[FakeInteraction] = []
        self.expired_token_calls: list[str] = []
        self.upload_rejections: list[str] = []
        self.permission_denials: list[str] = []
        # Client ends of the HTTP connections requests arrived on (host, port): how many
        # connections the client opened, e.g. whether it reuses them (keep-alive).
        self.http_peers: set[tuple[str, int]] = set()

        self.connections: list[GatewayConnection] = []
        # Identified sessions: live, identifying, or dropped by the fake and awaiting RESUME.
        self.gateway_sessions: dict[str, GatewaySession] = {}
        # What GET /gateway/bot recommends (AutoShardedClient without shard_count uses it).
        self.recommended_shards = recommended_shards
        self.identify_count = 0
        self.resume_count = 0
        self._ready_event = asyncio.Event()
        self.notifier = Notifier()

        self._runner: web.AppRunner | None = None
        self.served_routes: list[tuple[str, str]] = []  # (method, spec template) of each route
        self.port = 0

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=256 * MiB, middlewares=[self._middleware])
        app.router.add_get("/gateway", partial(gateway_handler, self))
        app.router.add_get("/gateway/", partial(gateway_handler, self))
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._cdn)
        routes.register(self, app)
        thread_routes.register(self, app)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        for connection in list(self.connections):
            await connection.ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def ready(self) -> Awaitable[bool]:
        """Awaitable: a client has identified and received READY and every GUILD_CREATE."""
        return self._ready_event.wait()

    async def wait_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self._ready_event.wait()

    @property
    def ratelimited_count(self) -> int:
        return self.ratelimiter.ratelimited_count

    @property
    def commands(self) -> dict[int | None, list[dict[str, Any]]]:
        """Synced commands: key None for global, a guild id for guild commands."""
        result: dict[int | None, list[dict[str, Any]]] = {None: self.global_commands}
        for guild_id, commands in self.guild_commands.items():
            result[guild_id] = commands
        return result

    def problems(self) -> list[str]:
        """Everything a clean end-to-end run should not have produced, as readable lines:
        spec violations, unknown routes, exceptions inside the fake, late or missing acks."""
        found = [f"spec: {e}" for e in self.spec_errors]
        found += [f"unknown route: {r}" for r in self.unknown_routes]
        found += [f"fake crashed: {e}" for e in self.internal_errors]
        found += [f"acknowledged too late: interaction {i.id}" for i in self.late_acks]
        found += [f"never acknowledged: interaction {i.id}" for i in self.overdue()]
        return found

    def overdue(self) -> list[FakeInteraction]:
        """Interactions past their ack deadline that the bot has not even tried to acknowledge
        (a late attempt is in `late_acks` instead)."""
        now = time.time()
        return [
            i
            for i in self.interactions.values()
            if not i.acked and not i.late and now - i.sent_at > self.ack_deadline
        ]

    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        """The oldest live message anywhere (ephemeral ones included) matching the predicate."""

        def check() -> FakeMessage | None:
            for message in self.messages.values():
                if not message.deleted and (predicate is None or predicate(message)):
                    return message
            return None

        result: FakeMessage = await self.notifier.wait_until(check, timeout)
        return result

    # ----------------------------------------------------------------- world building
    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        user = FakeUser(self.snowflakes.next(), name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str, *, premium_tier: int = 0, shard: tuple[int, int] | None = None
    ) -> FakeGuild:
        """A guild the bot is in; `shard=(shard_id, shard_count)` picks an id whose events go
        to that shard (`(guild_id >> 22) % shard_count == shard_id`)."""
        guild = FakeGuild(self, self.snowflakes.next(shard=shard), name, premium_tier)
        self.guilds.append(guild)
        self.dispatch_if_live("GUILD_CREATE", lambda: guild.gateway_payload(joined=True))
        return guild

    def get_guild(self, guild_id: int) -> FakeGuild | None:
        return next((g for g in self.guilds if g.id == guild_id), None)

    def register_channel(self, channel: FakeChannel) -> None:
        self.channels[channel.id] = channel

    def dm_channel(self, user: FakeUser | FakeMember) -> FakeChannel:
        """The bot's DM channel with a user (created on demand, like POST /users/@me/channels)."""
        target = user.user if isinstance(user, FakeMember) else user
        channel = self.dm_channels.get(target.id)
        if channel is None:
            channel = FakeChannel(
                id=self.snowflakes.next(),
                name=f"dm-{target.username}",
                type=1,
                recipient=target,
                _fake=self,
            )
            self.dm_channels[target.id] = channel
            self.register_channel(channel)
        return channel

    def bot_user_payload(self) -> dict[str, Any]:
        payload = self.bot_user.to_payload()
        payload.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})
        return payload

    def upload_attachment(
        self, filename: str, data: bytes, *, content_type: str | None = None
    ) -> FakeAttachment:
        """A file a user attached to a slash command (pass it as an attachment option's value);
        its URL serves the bytes like Discord's CDN."""
        attachment = FakeAttachment(
            id=self.snowflakes.next(), filename=filename, data=data, content_type=content_type
        )
        attachment.url = f"{self.base_url}/attachments/0/{attachment.id}/{filename}"
        self.attachments[attachment.id] = attachment
        return attachment

    def script_ratelimit(
        self, group: str, *, retry_after: float = 0.25, times: int = 1, is_global: bool = False
    ) -> None:
        """The next `times` requests in this rate-limit group answer 429 (a sub-limit)."""
        self.ratelimiter.script(group, retry_after=retry_after, times=times, is_global=is_global)

    def script_failure(
        self, method: str, template: str, *, status: int = 503, times: int | None = None
    ) -> None:
        """The next `times` requests (None: every one) to this route answer `status`, as an
        outage at Discord would (e.g. "PATCH" and WEBHOOK_MESSAGE for status edits)."""
        self.scripted_failures.append([method, template, status, times])

    def clear_failures(self) -> None:
        self.scripted_failures.clear()

    def on_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        action: Action[RecordedRequest],
        *,
        when: Moment = "after",
        times: int | None = 1,
    ) -> RequestHook[RecordedRequest]:
        """Run `action` at an exact moment of the first `times` REST requests matching
        `predicate` (its `method`, `template`, `body`): "after" their effect is applied but
        before the answer, or "before" (the request is then dropped unapplied). See
        tests/fakes/hooks.py."""
        return self.request_hooks.add(predicate, action, when=when, times=times)

    def _scripted_failure(self, method: str, template: str) -> int | None:
        for entry in self.scripted_failures:
            if entry[0] == method and entry[1] == template and entry[3] != 0:
                if entry[3] is not None:
                    entry[3] -= 1
                return int(entry[2])
        return None

    def changed(self, *things: FakeMessage | FakeInteraction | FakeChannel | None) -> None:
        """Wake waiters on these objects (a message also wakes its channel and interaction)."""
        for thing in things:
            if thing is None:
                continue
            thing.notifier.bump()
            if isinstance(thing, FakeMessage):
                channel = self.channels.get(thing.channel_id)
                if channel is not None:
                    channel.notifier.bump()
                interaction = self.interactions.get(thing.interaction_id or 0)
                if interaction is not None:
                    interaction.notifier.bump()
        self.notifier.bump()

    # ----------------------------------------------------------------- gateway glue
    @property
    def live_sessions(self) -> list[GatewaySession]:
        """Sessions with an attached connection, in the order they identified."""
        return [s for s in self.gateway_sessions.values() if s.connection is not None]

    @property
    def active(self) -> GatewayConnection | None:
        """The live connection of the latest session (with one client: its connection)."""
        live = self.live_sessions
        return live[-1].connection if live else None

    @property
    def resumable(self) -> GatewaySession | None:
        """The latest session whose connection the fake dropped and that may still RESUME."""
        waiting = [s for s in self.gateway_sessions.values() if s.dropped]
        return waiting[-1] if waiting else None

    def session_of_shard(self, shard_id: int) -> GatewaySession | None:
        """The live session that identified as this shard (the latest, if several)."""
        found = [s for s in self.live_sessions if s.shard[0] == shard_id]
        return found[-1] if found else None

    def sessions_for(self, guild_id: int | None) -> list[GatewaySession]:
        """Sessions (live, identifying or resumable) whose shard owns this guild (None: DMs)."""
        return [s for s in self.gateway_sessions.values() if s.owns(guild_id)]

    def attach_connection(self, connection: GatewayConnection) -> None:
        assert connection.session is not None
        connection.session.connection = connection
        connection.session.dropped = False
        self._ready_event.set()
        self.changed()

    def detach_connection(self, connection: GatewayConnection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        session = connection.session
        if session is not None and session.connection is connection:
            session.connection = None
            dropped = connection.dropped_with
            if dropped is not None and dropped not in NON_RESUMABLE_CLOSES:
                # A network blip we caused: Discord keeps the session, buffering its events
                # until the client RESUMEs. A client that closes by itself is treated as stopped.
                session.dropped = True
            else:
                self.gateway_sessions.pop(session.session_id, None)
        elif session is not None and session.connection is None and not session.dropped:
            self.gateway_sessions.pop(session.session_id, None)  # gone while identifying
        if not self.live_sessions:
            self._ready_event.clear()
        self.changed()

    async def drop_connection(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        """Close a live gateway connection (with 4000 the client reconnects and RESUMEs):
        the latest one, or that of the session identified as `shard_id`."""
        session = self.session_of_shard(shard_id) if shard_id is not None else None
        connection = session.connection if session is not None else self.active
        if connection is not None:
            connection.dropped_with = code
            await connection.ws.close(code=code, message=b"fake disconnect")
            await self.notifier.wait_until(lambda: connection not in self.connections, 5.0)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to the session(s) owning its guild's shard (DMs: shard 0);
        a disconnected resumable session buffers it."""
        guild_id = _routing_guild(event, data)
        sessions = self.sessions_for(guild_id)
        if not sessions:
            raise RuntimeError(f"no discord client is connected for {_shard_owner(guild_id)}")
        for session in sessions:
            await session.dispatch(event, data)

    def dispatch_if_live(self, event: str, build: Callable[[], dict[str, Any]]) -> None:
        """Send an event to the connected (or resumable) sessions that own its guild and whose
        intents ask for it."""
        if not self.gateway_sessions:
            return
        data = build()
        guild_id = _routing_guild(event, data)
        for session in self.sessions_for(guild_id):
            if not _wants(session, event, guild_id):
                continue
            task = asyncio.get_running_loop().create_task(session.dispatch(event, data))
            task.add_done_callback(_swallow)

    def message_event(self, event: str, message: FakeMessage) -> None:
        if not self.dispatch_message_events or message.ephemeral:
            return
        channel = self.channels.get(message.channel_id)
        if channel is not None and not channel.bot_permission_bits() & Perm.VIEW_CHANNEL:
            return  # Discord sends nothing from channels (or private threads) the bot can't see
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id:
                data["guild_id"] = str(message.guild_id)
            self.dispatch_if_live(event, lambda: data)
        else:
            self.dispatch_if_live(event, lambda: self.message_payload(message))

    # ----------------------------------------------------------------- interactions
    async def invoke(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeMember | FakeUser,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        snowflake_time: float | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send a slash command INTERACTION_CREATE ("quota pool" invokes a subcommand)."""
        guild, channel = self._where(user, guild, channel)
        parts = name.split()
        command = self._synced_command(parts[0], guild)
        values = {k: v for k, v in (options or {}).items() if v is not None}
        data = build_command_data(command, parts[1:], values, guild)
        return await self._send_interaction(
            2,
            data,
            user=user,
            guild=guild,
            channel=channel,
            snowflake_time=snowflake_time,
            locale=locale,
        )

    def _where(
        self, user: FakeMember | FakeUser, guild: FakeGuild | None, channel: FakeChannel | None
    ) -> tuple[FakeGuild | None, FakeChannel]:
        """Defaults: a member's guild and its first channel; for a plain user, their DM."""
        guild = guild or (user.guild if isinstance(user, FakeMember) else None)
        if channel is None:
            channel = guild.channels[0] if guild else self.dm_channel(user)
        return guild, channel

    def _synced_command(self, name: str, guild: FakeGuild | None) -> dict[str, Any]:
        """A chat-input command as synced: the guild's own first, then the global one."""
        command = None
        if guild is not None:
            command = _find_command(self.guild_commands.get(guild.id, []), name)
        command = command or _find_command(self.global_commands, name)
        if command is None:
            raise LookupError(f"/{name} was never synced")
        return command

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        user: FakeMember | FakeUser,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
    ) -> FakeInteraction:
        """An autocomplete request (type 4) while the user types `options[focused]`; the bot's
        type-8 answer lands in `callbacks[0]["data"]["choices"]`."""
        guild, channel = self._where(user, guild, channel)
        parts = name.split()
        command = self._synced_command(parts[0], guild)
        typed = {k: v for k, v in options.items() if k != focused}
        data = build_command_data(command, parts[1:], typed, guild, partial=True)
        mark_focused(data, command, parts[1:], focused, str(options[focused]))
        return await self._send_interaction(4, data, user=user, guild=guild, channel=channel)

    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user: FakeMember | FakeUser,
        values: list[str] | None = None,
    ) -> FakeInteraction:
        """Press a button (or choose select `values`) on a message the bot sent."""
        component = find_component(message.components, custom_id)
        if component is None:
            raise LookupError(f"message {message.id} has no component {custom_id!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = values
        channel = self.channels[message.channel_id]
        return await self._send_interaction(
            3, data, user=user, guild=channel.guild, channel=channel, message=message
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, str],
        *,
        user: FakeMember | FakeUser,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        """Submit a modal; mirrors the layout of the modal the bot showed with that custom_id."""
        trigger = next(
            (
                i
                for i in reversed(list(self.interactions.values()))
                if i.modal and i.modal.get("custom_id") == custom_id
            ),
            None,
        )
        shown = trigger.modal if trigger is not None else None
        guild, channel = self._where(user, guild, channel)
        data = {"custom_id": custom_id, "components": modal_submit_components(shown, values)}
        return await self._send_interaction(
            5, data, user=user, guild=guild, channel=channel, message=message, trigger=trigger
        )

    async def _send_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: FakeMember | FakeUser,
        guild: FakeGuild | None,
        channel: FakeChannel,
        message: FakeMessage | None = None,
        snowflake_time: float | None = None,
        locale: str = "en-US",
        trigger: FakeInteraction | None = None,
    ) -> FakeInteraction:
        if isinstance(channel, FakeThread) and (channel.archived or channel.deleted):
            raise ValueError(f"no interaction can come from the archived thread {channel.name!r}")
        interaction_id = self.snowflakes.next(snowflake_time)
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        member: FakeMember | None = None
        if guild is not None:
            member = user if isinstance(user, FakeMember) else guild.members.get(user.id)
            if member is None:
                raise LookupError(f"{user.name} is not a member of {guild.name}")
        plain_user = member.user if member else user
        assert isinstance(plain_user, FakeUser)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "channel": channel.to_payload(),
            "token": token,
            "version": 1,
            "app_permissions": str(channel.bot_permission_bits()),
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": channel.upload_limit,
        }
        if guild is not None and member is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = member.to_payload(with_permissions=True)
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
            payload["context"] = 0
        else:
            payload["user"] = plain_user.to_payload()
            payload["authorizing_integration_owners"] = {"0": "0"}
            payload["context"] = 1
        if message is not None:
            payload["message"] = self.message_payload(message)
        interaction = FakeInteraction(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            user=plain_user,
            guild=guild,
            channel=channel,
            sent_at=time.time(),
            message=message,
            trigger=trigger,
            _fake=self,
        )
        guild_id = guild.id if guild is not None else None
        if not self.sessions_for(guild_id):
            raise RuntimeError(f"no discord client is connected for {_shard_owner(guild_id)}")
        self.interactions[interaction_id] = interaction
        self.by_token[token] = interaction
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # ----------------------------------------------------------------- messages
    def message_payload(self, message: FakeMessage) -> dict[str, Any]:
        author = self.users.get(message.author_id, self.bot_user)
        payload = message.to_payload(author, self.application_id)
        thread = self.channels.get(message.thread_id or 0)
        if thread is not None:
            payload["thread"] = thread.to_payload()
        pings = message.pings()
        if pings:
            payload["mentions"] = [
                self.users[u].to_payload() for u in pings.users if u in self.users
            ]
            payload["mention_roles"] = [str(r) for r in pings.roles]
            payload["mention_everyone"] = pings.everyone
        interaction = self.interactions.get(message.interaction_id or 0)
        if interaction is not None:
            metadata = self._interaction_metadata(interaction)
            if interaction.original is not None and interaction.original is not message:
                metadata["original_response_message_id"] = str(interaction.original.id)
            payload["interaction_metadata"] = metadata
        return payload

    def _interaction_metadata(self, interaction: FakeInteraction) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user.to_payload(),
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        }
        if interaction.message is not None:
            metadata["interacted_message_id"] = str(interaction.message.id)
        if interaction.type == 5:
            trigger = interaction.trigger
            metadata["triggering_interaction_metadata"] = (
                self._interaction_metadata(trigger)
                if trigger is not None
                else {"id": "0", "type": 2, "authorizing_integration_owners": {}}
            )
        return metadata

    def new_bot_message(self, channel: FakeChannel, *, via: str, flags: int = 0) -> FakeMessage:
        message = FakeMessage(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            author_id=self.bot_user.id,
            guild_id=channel.guild_id,
            via=via,
            flags=flags,
            _fake=self,
        )
        self.messages[message.id] = message
        if not message.ephemeral:
            channel.messages.append(message)
        return message

    def post_user_message(
        self, channel: FakeChannel, author: FakeMember | FakeUser, content: str
    ) -> FakeMessage:
        """A message written by a (fake) human, dispatched as MESSAGE_CREATE."""
        user = author.user if isinstance(author, FakeMember) else author
        channel.before_write("post", user.id)
        message = FakeMessage(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            author_id=user.id,
            guild_id=channel.guild_id,
            content=content,
            via="user",
            _fake=self,
        )
        self.messages[message.id] = message
        channel.messages.append(message)
        self.message_event("MESSAGE_CREATE", message)
        self.changed(message)
        return message

    def edit_message(
        self, message: FakeMessage, body: dict[str, Any], files: list[UploadedFile]
    ) -> None:
        apply_body(self, message, body, files, creating=False)
        message.flags &= ~FakeMessage.LOADING
        message.edit_count += 1
        message.edited_at = time.time()
        message.edit_times.append(time.monotonic())
        self.message_event("MESSAGE_UPDATE", message)
        self.changed(message)

    # ----------------------------------------------------------------- HTTP plumbing
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            self.http_peers.add((peer[0], peer[1]))
        try:
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        record = request.get(RECORD)
        if isinstance(record, RecordedRequest):
            record.status = response.status
        return response

    async def _unknown(self, request: web.Request) -> web.Response:
        self.unknown_routes.append(f"{request.method} {request.path}")
        return error_response(404, 0, "404: Not Found")

    async def _cdn(self, request: web.Request) -> web.Response:
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=attachment.data, content_type=attachment.content_type or "application/octet-stream"
        )

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.bot_token}"

    def add_route(
        self,
        app: web.Application,
        method: str,
        template: str,
        handler: Callable[..., Awaitable[web.StreamResponse]],
        *,
        auth: bool = True,
        group: str | None = None,
        major: str | None = None,
    ) -> None:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            record = RecordedRequest(request.method, request.path, template)
            request[RECORD] = record
            self.requests.append(record)
            failing = self._scripted_failure(method, template)
            if failing is not None:
                record.body, files = await read_body(request)
                record.uploads = [(f.filename, len(f.data)) for f in files]
                record.status = failing
                return error_response(failing, 0, f"{failing}: Service Unavailable")
            record.authorized = self._authorized(request)
            if auth and not record.authorized:
                return error_response(401, 0, "401: Unauthorized")
            bad = [
                k
                for k, v in request.match_info.items()
                if k.endswith("_id") and not v.isdigit() and v != "@me"
            ]
            if bad:
                self.spec_errors.append(f"{method} {template}: {bad[0]} is not a snowflake")
                return error_response(400, 50035, "Invalid Form Body")
            body, files = await read_body(request)
            record.body = body
            record.uploads = [(f.filename, len(f.data)) for f in files]
            if body is not None and self._spec is not None:
                violations = self._spec.validate(method, template, body)
                self.spec_errors.extend(violations)
                if violations and self.reject_invalid_bodies:
                    return error_response(400, 50035, "Invalid Form Body")
            problems = discord_rule_problems(body)
            if problems:
                self.spec_errors.extend(f"{method} {template}: {p}" for p in problems)
                return error_response(400, 50035, "Invalid Form Body")
            if auth:
                global_decision = self.ratelimiter.check("global", "")
                if global_decision is not None and not global_decision.allowed:
                    headers = {
                        "Retry-After": global_decision.headers["Retry-After"],
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Via": "1.1 google",
                    }
                    return json_response(
                        {
                            "message": "You are being rate limited.",
                            "retry_after": global_decision.retry_after,
                            "global": True,
                        },
                        429,
                        headers,
                    )
            if group is not None:
                key = request.match_info.get(major, "") if major else ""
                decision = self.ratelimiter.check(group, key)
            else:
                first = next(iter(request.match_info.values()), "")
                decision = self.ratelimiter.check("default", first, f"{method} {template}")
            if decision is not None and not decision.allowed:
                headers = dict(decision.headers)
                headers["Via"] = "1.1 google"
                return json_response(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": decision.retry_after,
                        "global": decision.is_global,
                    },
                    429,
                    headers,
                )
            if await self.request_hooks.run("before", record):
                self.changed()
                return _drop_connection(request)
            try:
                response = await handler(request, body, files)
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message)
            except Exception as exc:  # a bug in the fake, or a body it cannot digest
                self.internal_errors.append(f"{method} {request.path}: {exc!r}")
                response = error_response(500, 0, "500: Internal Server Error")
            record.status = response.status
            if 200 <= response.status < 300 and await self.request_hooks.run("after", record):
                self.changed()
            if decision is not None:
                response.headers.update(decision.headers)
            if self.validate_responses and self._spec is not None:
                raw = response.body if isinstance(response, web.Response) else None
                body_out = json.loads(raw) if isinstance(raw, bytes) and raw else None
                self.response_spec_errors.extend(
                    self._spec.validate_response(method, template, response.status, body_out)
                )
            return response

        app.router.add_route(method, API_PREFIX + template, wrapped)
        self.served_routes.append((method, template))


def _find_command(commands: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((c for c in commands if c["name"] == name and c.get("type", 1) == 1), None)


def _routing_guild(event: str, data: dict[str, Any]) -> int | None:
    """The guild whose shard receives an event (None: not a guild's event, shard 0's)."""
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return int(data["id"])
    guild_id = data.get("guild_id")
    return int(guild_id) if guild_id is not None else None


def _shard_owner(guild_id: int | None) -> str:
    return "DMs (shard 0)" if guild_id is None else f"the shard of guild {guild_id}"


def _wants(session: GatewaySession, event: str, guild_id: int | None) -> bool:
    """Whether the session's intents ask for this event."""
    if event in MESSAGE_EVENTS:
        needed = GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES
    else:
        needed = EVENT_INTENTS.get(event, 0)
    return not needed or bool(session.intents & needed)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer (aiohttp then writes none)."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


def _swallow(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


__all__ = ["ApiError", "FakeDiscord", "FakeRole", "Perm", "RecordedRequest", "json_response"]
