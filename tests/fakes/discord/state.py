"""The fake Discord's world: users, guilds, channels, roles, members, messages, interactions.

Objects here are plain data plus the payload builders that turn them into Discord's JSON shapes.
They do not talk to the network; `server.py` and `gateway.py` do.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.discord.snowflakes import snowflake_time

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord
    from tests.fakes.discord.threads import FakeThread

MiB = 1024 * 1024


class Perm:
    """Permission bits used by the fake (Discord's numbering)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MODERATE_MEMBERS = 1 << 40
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1


EVERYONE_DEFAULT = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
)
BOT_DEFAULT = EVERYONE_DEFAULT


def upload_limit_for_tier(premium_tier: int) -> int:
    """Per-attachment upload limit Discord computes from a guild's boost tier."""
    return {2: 50 * MiB, 3: 100 * MiB}.get(premium_tier, 10 * MiB)


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


class Notifier:
    """Wake waiters whose condition became true after changes in the fake's world.

    Conditions are re-checked once per event-loop pass after any number of changes (a burst of
    changes costs one predicate call per waiter), without waking a task per waiter. A state that
    appears and disappears within one loop pass can therefore be missed; waits here are for
    states that last (a message exists, an edit count grew, an ack arrived).
    """

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._scheduled = False

    def bump(self) -> None:
        if self._waiters and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._recheck)

    def _recheck(self) -> None:
        self._scheduled = False
        waiting = []
        for check, future in self._waiters:
            if future.done():
                continue
            try:
                result = check()
            except Exception as exc:
                future.set_exception(exc)
                continue
            if result:
                future.set_result(result)
            else:
                waiting.append((check, future))
        self._waiters = waiting

    async def wait_until(self, check: Callable[[], Any], timeout: float) -> Any:  # noqa: ASYNC109
        result = check()
        if result:
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append((check, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            future.cancel()


@dataclass(eq=False)
class FakeUser:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    accepts_dms: bool = True

    @property
    def name(self) -> str:
        return self.username

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }


@dataclass(eq=False)
class FakeRole:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 1
    managed: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass(eq=False)
class FakeAttachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None
    url: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            payload["content_type"] = self.content_type
        if self.description:
            payload["description"] = self.description
        return payload


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass(frozen=True)
class Pings:
    users: frozenset[int]
    roles: frozenset[int]
    everyone: bool

    def __bool__(self) -> bool:
        return bool(self.users or self.roles or self.everyone)


@dataclass(eq=False)
class FakeMessage:
    id: int
    channel_id: int
    author_id: int
    guild_id: int | None = None
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    edit_count: int = 0
    deleted: bool = False
    via: str = "bot"  # "interaction" | "webhook" | "bot" | "user"
    interaction_id: int | None = None
    thread_id: int | None = None  # the thread started from this message
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # every body that changed it
    # time.monotonic() of every edit as the fake applied it: spacing checks that do not depend
    # on when a test's own task happened to wake up
    edit_times: list[float] = field(default_factory=list)
    notifier: Notifier = field(default_factory=Notifier, repr=False, compare=False)
    _fake: FakeDiscord | None = field(default=None, repr=False)

    HAS_THREAD = 1 << 5
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & self.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & self.LOADING)

    def pings(self) -> Pings:
        """Who this message would notify, from its content and allowed_mentions.

        Conservative: @everyone/@here and role mentions count whenever allowed_mentions permits
        them, even if the bot lacks the permission that Discord would also require.
        """
        users = {int(m) for m in _USER_MENTION.findall(self.content)}
        roles = {int(m) for m in _ROLE_MENTION.findall(self.content)}
        everyone = "@everyone" in self.content or "@here" in self.content
        rules = self.allowed_mentions
        if rules is None:  # Discord's default: everything in the content is parsed
            return Pings(frozenset(users), frozenset(roles), everyone)
        parse = set(rules.get("parse") or [])
        allowed_users = {int(u) for u in rules.get("users") or []}
        allowed_roles = {int(r) for r in rules.get("roles") or []}
        return Pings(
            frozenset(u for u in users if "users" in parse or u in allowed_users),
            frozenset(r for r in roles if "roles" in parse or r in allowed_roles),
            everyone and "everyone" in parse,
        )

    def custom_ids(self) -> list[str]:
        """Every custom_id in the message's components (nested rows and containers too)."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(item["custom_id"])
                for key in ("components",):
                    if isinstance(item.get(key), list):
                        walk(item[key])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    async def wait_for_edit(self, timeout: float = 5.0, *, after: int | None = None) -> FakeMessage:  # noqa: ASYNC109
        """Return once edit_count exceeds `after` (default: its current value)."""
        start = self.edit_count if after is None else after
        await self.notifier.wait_until(lambda: self.edit_count > start, timeout)
        return self

    async def wait_until(
        self,
        predicate: Callable[[FakeMessage], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        await self.notifier.wait_until(lambda: predicate(self), timeout)
        return self

    def to_payload(self, author: FakeUser, application_id: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": author.to_payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": self.embeds,
            "pinned": False,
            "type": 20 if self.via == "interaction" else 0,
            "flags": self.flags,
            "components": self.components,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        if self.via in ("interaction", "webhook") and application_id is not None:
            payload["webhook_id"] = str(application_id)
            payload["application_id"] = str(application_id)
        return payload


GUILD_TEXT, DM, GUILD_FORUM, GUILD_MEDIA = 0, 1, 15, 16


@dataclass(eq=False)
class FakeChannel:
    id: int
    name: str
    type: int = GUILD_TEXT  # 1 DM, 15 forum, 16 media; threads are FakeThread
    guild: FakeGuild | None = None
    recipient: FakeUser | None = None
    bot_permissions: int | None = None  # overrides the bot's permissions in this channel
    position: int = 0
    messages: list[FakeMessage] = field(default_factory=list)
    notifier: Notifier = field(default_factory=Notifier, repr=False, compare=False)
    _fake: FakeDiscord | None = field(default=None, repr=False)

    @property
    def guild_id(self) -> int | None:
        return self.guild.id if self.guild else None

    @property
    def upload_limit(self) -> int:
        return self.guild.upload_limit if self.guild else upload_limit_for_tier(0)

    def set_bot_permissions(self, bits: int | None) -> None:
        """Change the bot's permissions here (None: back to its guild permissions); the client
        is told with CHANNEL_UPDATE."""
        self.bot_permissions = bits
        if self._fake is not None:
            self._fake.dispatch_if_live("CHANNEL_UPDATE", self.to_payload)

    def bot_permission_bits(self) -> int:
        if self.guild is None:
            return EVERYONE_DEFAULT
        base = self.guild.bot_member.guild_permissions()
        if base & Perm.ADMINISTRATOR:
            return Perm.ALL
        return base if self.bot_permissions is None else self.bot_permissions

    @property
    def send_permission(self) -> int:
        """The bit that lets one post here (threads: SEND_MESSAGES_IN_THREADS)."""
        return Perm.SEND_MESSAGES

    def before_write(self, action: str, author_id: int) -> None:
        """Rules and side effects before `author_id` posts, edits or deletes a message here
        (`action`: "post" | "edit" | "delete"); threads refuse (ApiError) or unarchive
        themselves (see threads.py)."""

    def start_thread(
        self,
        name: str,
        *,
        by: FakeMember,
        message: FakeMessage | None = None,
        private: bool = False,
        auto_archive_duration: int = 1440,
    ) -> FakeThread:
        """A member starts a thread here (from `message`, or without one), as Discord checks
        it (ApiError on a refusal); the client gets THREAD_CREATE."""
        from tests.fakes.discord.threads import PRIVATE_THREAD, PUBLIC_THREAD, create_thread

        assert self._fake is not None
        return create_thread(
            self._fake,
            self,
            name,
            actor=by,
            message=message,
            kind=PRIVATE_THREAD if private else PUBLIC_THREAD,
            auto_archive_duration=auto_archive_duration,
        )

    async def wait_for(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        """The first (oldest) live message here matching the predicate, waiting if none yet."""

        def check() -> FakeMessage | None:
            for message in self.messages:
                if not message.deleted and (predicate is None or predicate(message)):
                    return message
            return None

        result: FakeMessage = await self.notifier.wait_until(check, timeout)
        return result

    def to_payload(self) -> dict[str, Any]:
        if self.type == 1:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": 1,
                "recipients": [self.recipient.to_payload()],
                "last_message_id": None,
                "flags": 0,
            }
        assert self.guild is not None
        overwrites = []
        if self.bot_permissions is not None:
            overwrites.append(
                {
                    "id": str(self.guild.bot_member.id),
                    "type": 1,
                    "allow": str(self.bot_permissions),
                    "deny": str(Perm.ALL & ~self.bot_permissions),
                }
            )
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": overwrites,
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }
        if self.type in (GUILD_FORUM, GUILD_MEDIA):
            payload.update(
                {
                    "available_tags": [],
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
        return payload


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    guild: FakeGuild
    roles: list[FakeRole] = field(default_factory=list)
    permissions: int | None = None  # explicit guild permissions; None = computed from roles
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.username

    def set_roles(self, roles: list[FakeRole] | tuple[FakeRole, ...]) -> None:
        """Replace the member's roles; the client is told with GUILD_MEMBER_UPDATE."""
        self.roles = list(roles)
        self.guild._fake.dispatch_if_live(
            "GUILD_MEMBER_UPDATE", lambda: {**self.to_payload(), "guild_id": str(self.guild.id)}
        )

    def guild_permissions(self) -> int:
        if self.permissions is not None:
            bits = self.permissions
        else:
            bits = self.guild.everyone.permissions
            for role in self.roles:
                bits |= role.permissions
        if self.guild.owner_id == self.user.id or bits & Perm.ADMINISTRATOR:
            return Perm.ALL
        return bits

    def to_payload(self, *, with_permissions: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user": self.user.to_payload(),
            "nick": self.nick,
            "avatar": None,
            "roles": [str(r.id) for r in self.roles],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_permissions:
            payload["permissions"] = str(self.guild_permissions())
        return payload


class FakeGuild:
    def __init__(self, fake: FakeDiscord, guild_id: int, name: str, premium_tier: int) -> None:
        self._fake = fake
        self.id = guild_id
        self.name = name
        self.premium_tier = premium_tier
        # A test's small upload limit (Discord derives it from the boost tier alone).
        self.upload_limit_override: int | None = None
        self.owner_id: int = fake.owner.id
        self.joined_at = time.time()
        self.everyone = FakeRole(guild_id, guild_id, "@everyone", EVERYONE_DEFAULT, position=0)
        self.roles: list[FakeRole] = [self.everyone]
        self.channels: list[FakeChannel] = []
        self.threads: list[FakeThread] = []  # live threads, archived ones too
        self.members: dict[int, FakeMember] = {}
        bot_role = FakeRole(fake.snowflakes.next(), guild_id, fake.bot_user.username, BOT_DEFAULT)
        bot_role.managed = True
        self.roles.append(bot_role)
        self.bot_member = FakeMember(fake.bot_user, self, roles=[bot_role])
        self.members[fake.bot_user.id] = self.bot_member

    @property
    def upload_limit(self) -> int:
        if self.upload_limit_override is not None:
            return self.upload_limit_override
        return upload_limit_for_tier(self.premium_tier)

    def add_text_channel(self, name: str, *, bot_permissions: int | None = None) -> FakeChannel:
        return self._add_channel(name, GUILD_TEXT, bot_permissions)

    def add_forum_channel(
        self, name: str, *, media: bool = False, bot_permissions: int | None = None
    ) -> FakeChannel:
        """A forum (or media) channel: where threads cannot start from a message."""
        return self._add_channel(name, GUILD_MEDIA if media else GUILD_FORUM, bot_permissions)

    def _add_channel(self, name: str, kind: int, bot_permissions: int | None) -> FakeChannel:
        channel = FakeChannel(
            id=self._fake.snowflakes.next(),
            name=name,
            type=kind,
            guild=self,
            bot_permissions=bot_permissions,
            position=len(self.channels),
            _fake=self._fake,
        )
        self.channels.append(channel)
        self._fake.register_channel(channel)
        self._fake.dispatch_if_live("CHANNEL_CREATE", channel.to_payload)
        return channel

    def add_role(self, name: str, *, permissions: int = 0) -> FakeRole:
        role = FakeRole(self._fake.snowflakes.next(), self.id, name, permissions, len(self.roles))
        self.roles.append(role)
        self._fake.dispatch_if_live(
            "GUILD_ROLE_CREATE", lambda: {"guild_id": str(self.id), "role": role.to_payload()}
        )
        return role

    def add_member(
        self,
        name: str,
        *,
        roles: tuple[FakeRole, ...] | list[FakeRole] = (),
        permissions: int | None = None,
        bot: bool = False,
        owner: bool = False,
    ) -> FakeMember:
        user = self._fake.add_user(name, bot=bot)
        member = FakeMember(user, self, roles=list(roles), permissions=permissions)
        self.members[user.id] = member
        if owner:
            self.owner_id = user.id
        self._fake.dispatch_if_live(
            "GUILD_MEMBER_ADD", lambda: {**member.to_payload(), "guild_id": str(self.id)}
        )
        return member

    def get_channel(self, channel_id: int) -> FakeChannel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def get_thread(self, thread_id: int) -> FakeThread | None:
        return next((t for t in self.threads if t.id == thread_id), None)

    async def wait_for_thread(
        self,
        predicate: Callable[[FakeThread], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeThread:
        """The oldest live thread here matching the predicate, waiting if none yet."""

        def check() -> FakeThread | None:
            return next((t for t in self.threads if predicate is None or predicate(t)), None)

        result: FakeThread = await self._fake.notifier.wait_until(check, timeout)
        return result

    def role(self, role_id: int) -> FakeRole | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.to_payload() for r in self.roles],
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": False,
            "home_header": None,
            "region": "deprecated",
            "widget_enabled": False,
            "widget_channel_id": None,
            "max_presences": None,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "safety_alerts_channel_id": None,
            "nsfw": False,
            "incidents_data": None,
        }

    def gateway_payload(self, *, joined: bool = False) -> dict[str, Any]:
        """GUILD_CREATE: full guild with every member, so discord.py never needs chunking.

        `joined`: the bot was just added (no `unavailable` key, so the client sees a join).
        """
        payload = self.to_payload()
        payload.update(
            {
                "joined_at": iso(self.joined_at),
                "large": False,
                "unavailable": False,
                "member_count": len(self.members),
                "voice_states": [],
                "members": [m.to_payload() for m in self.members.values()],
                "channels": [c.to_payload() for c in self.channels],
                # Active threads the bot can see: a restarted client knows them at once.
                "threads": [t.to_payload() for t in self.threads if t.listed_on_connect()],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        if joined:
            del payload["unavailable"]
        return payload


@dataclass(eq=False)
class FakeInteraction:
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    user: FakeUser
    guild: FakeGuild | None
    channel: FakeChannel
    sent_at: float
    message: FakeMessage | None = None  # the component's message (type 3) if any
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    modal: dict[str, Any] | None = None  # data of a type-9 callback
    trigger: FakeInteraction | None = None  # for a modal submission: the one that showed it
    acked_at: float | None = None
    late: bool = False
    notifier: Notifier = field(default_factory=Notifier, repr=False, compare=False)
    _fake: FakeDiscord | None = field(default=None, repr=False)

    @property
    def created_at(self) -> float:
        return snowflake_time(self.id)

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def response_type(self) -> int | None:
        return self.callbacks[0].get("type") if self.callbacks else None

    @property
    def upload_limit(self) -> int:
        return self.channel.upload_limit

    async def wait_for_ack(self, timeout: float = 3.5) -> dict[str, Any]:  # noqa: ASYNC109
        """The first callback body, once the bot has acknowledged the interaction."""
        await self.notifier.wait_until(lambda: self.acked, timeout)
        return self.callbacks[0]

    async def wait_for_original(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:

        def check() -> FakeMessage | None:
            msg = self.original
            if msg is not None and (predicate is None or predicate(msg)):
                return msg
            return None

        result: FakeMessage = await self.notifier.wait_until(check, timeout)
        return result

    async def wait_for_followup(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:

        def check() -> FakeMessage | None:
            for msg in self.followups:
                if predicate is None or predicate(msg):
                    return msg
            return None

        result: FakeMessage = await self.notifier.wait_until(check, timeout)
        return result
