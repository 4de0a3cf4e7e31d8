"""Threads in the fake Discord: thread channels, their lifecycle and the rules Discord applies.

A thread is a channel (type 11 public, 12 private) under a text channel (`parent`). It inherits
the parent's permissions; posting needs SEND_MESSAGES_IN_THREADS instead of SEND_MESSAGES.
The rules come from Discord's docs (`topics/threads.mdx`, `resources/channel.mdx`):
- start from a message: thread id == message id, one thread per message (160004), not in forum
  or media channels (50024); CREATE_PUBLIC_THREADS (private: CREATE_PRIVATE_THREADS) on the
  parent, else 50013;
- a message sent to an archived thread unarchives it, unless the thread is locked; a locked
  thread takes posts and edits only from MANAGE_THREADS (160005); an archived one refuses edits
  (50083) but still lets messages be deleted;
- editing: `locked` needs MANAGE_THREADS; `name`, `archived`, `auto_archive_duration` need
  MANAGE_THREADS or being the thread's creator, except that any member may unarchive an
  unlocked thread; an archived thread takes no other change unless the same request
  unarchives it (50083);
- deleting needs MANAGE_THREADS.
Every change reaches the client as THREAD_CREATE (`newly_created`), THREAD_UPDATE or
THREAD_DELETE, and only if the bot can see the thread (private ones: a member or a moderator).

Functions here act for an `actor` (the bot's own member for REST calls, any member for a test
helper) and raise ApiError exactly where Discord would answer an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from tests.fakes.discord.state import (
    GUILD_FORUM,
    GUILD_MEDIA,
    GUILD_TEXT,
    FakeChannel,
    FakeMember,
    FakeMessage,
    Perm,
    iso,
)
from tests.fakes.discord.wire import ApiError

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord

PUBLIC_THREAD, PRIVATE_THREAD = 11, 12
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
MEMBER_COUNT_CAP = 50  # Discord stops counting thread members at 50


@dataclass(eq=False)
class FakeThread(FakeChannel):
    """A thread channel; `messages` are the messages posted in it."""

    parent: FakeChannel | None = None
    owner_id: int = 0
    auto_archive_duration: int = 1440
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    rate_limit_per_user: int = 0
    created_at: float = field(default_factory=time.time)
    archive_timestamp: float = field(default_factory=time.time)
    member_ids: dict[int, float] = field(default_factory=dict)  # user id -> joined at
    deleted: bool = False

    @property
    def private(self) -> bool:
        return self.type == PRIVATE_THREAD

    @property
    def message_count(self) -> int:
        """Messages in the thread now (deleted ones no longer count)."""
        return sum(1 for m in self.messages if not m.deleted)

    @property
    def total_message_sent(self) -> int:
        """Messages ever sent in the thread (deleting one does not lower it)."""
        return len(self.messages)

    # ------------------------------------------------------------ permissions
    def bot_permission_bits(self) -> int:
        """The parent's permissions; a private thread is invisible to a bot that is neither a
        member nor a moderator."""
        assert self.parent is not None
        bits = self.parent.bot_permission_bits()
        if self.private and not self.bot_is_member() and not bits & Perm.MANAGE_THREADS:
            bits &= ~Perm.VIEW_CHANNEL
        return bits

    @property
    def send_permission(self) -> int:
        return Perm.SEND_MESSAGES_IN_THREADS

    def bot_is_member(self) -> bool:
        return self._world().bot_user.id in self.member_ids

    def visible_to_bot(self) -> bool:
        return bool(self.bot_permission_bits() & Perm.VIEW_CHANNEL)

    def listed_on_connect(self) -> bool:
        """In GUILD_CREATE's `threads`: active threads the bot can see."""
        return not self.archived and not self.deleted and self.visible_to_bot()

    def before_write(self, action: str, author_id: int) -> None:
        assert self.guild is not None
        author = self.guild.members.get(author_id, self.guild.bot_member)
        moderator = bool(permissions_of(author, self) & Perm.MANAGE_THREADS)
        if action == "delete":
            if self.locked and self.archived and not moderator:
                raise ApiError(400, 50083, "Thread is archived")
            return
        if self.locked and not moderator:
            raise ApiError(403, 160005, "Thread is locked")
        if action == "edit" and self.archived:
            raise ApiError(400, 50083, "Thread is archived")
        if action == "post":
            if self.archived:  # a new message brings an archived, unlocked thread back
                apply_changes(self._world(), self, {"archived": False})
            self.member_ids.setdefault(author_id, time.time())  # posting joins the thread

    # ------------------------------------------------------------ test-side actions
    def archive(self, *, by: FakeMember | None = None, lock: bool = False) -> None:
        """Archive the thread (and lock it) as `by` would (default: the guild's owner), or as
        Discord does after `auto_archive_duration`; the client gets THREAD_UPDATE."""
        changes: dict[str, Any] = {"archived": True}
        if lock:
            changes["locked"] = True
        self.edit(by=by, **changes)

    def edit(self, *, by: FakeMember | None = None, **changes: Any) -> None:
        """Change `name`, `archived`, `locked`, `auto_archive_duration` as the member `by`
        would (default: the guild's owner); ApiError where Discord would refuse."""
        modify_thread(self._world(), self, changes, actor=by or self._owner_member())

    def delete(self, *, by: FakeMember | None = None) -> None:
        """Delete the thread as `by` would (default: the guild's owner): THREAD_DELETE."""
        delete_thread(self._world(), self, actor=by or self._owner_member())

    def add_member(self, member: FakeMember) -> None:
        """Someone joins the thread (no event: the bot does not track other members)."""
        self.member_ids.setdefault(member.id, time.time())

    # ------------------------------------------------------------ payloads
    def member_payload(self, user_id: int) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": iso(self.member_ids[user_id]),
            "flags": 0,
        }

    def to_payload(self) -> dict[str, Any]:
        assert self.guild is not None and self.parent is not None
        live = [m for m in self.messages if not m.deleted]
        metadata: dict[str, Any] = {
            "archived": self.archived,
            "archive_timestamp": iso(self.archive_timestamp),
            "auto_archive_duration": self.auto_archive_duration,
            "locked": self.locked,
            "create_timestamp": iso(self.created_at),
        }
        if self.private:
            metadata["invitable"] = self.invitable
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "parent_id": str(self.parent.id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": str(live[-1].id) if live else None,
            "rate_limit_per_user": self.rate_limit_per_user,
            "flags": 0,
            "thread_metadata": metadata,
            "message_count": self.message_count,
            "member_count": min(len(self.member_ids), MEMBER_COUNT_CAP),
            "total_message_sent": self.total_message_sent,
        }
        bot_id = self._world().bot_user.id
        if bot_id in self.member_ids:
            payload["member"] = self.member_payload(bot_id)
        return payload

    def _world(self) -> FakeDiscord:
        assert self._fake is not None
        return self._fake

    def _owner_member(self) -> FakeMember:
        assert self.guild is not None
        owner = self.guild.members.get(self.guild.owner_id)
        if owner is None:  # the application's owner, who need not be a member
            owner = FakeMember(self._world().users[self.guild.owner_id], self.guild)
        return owner


# ---------------------------------------------------------------- lifecycle
def permissions_of(actor: FakeMember, channel: FakeChannel) -> int:
    """What `actor` may do in `channel`: the bot's channel permissions (overwrites included),
    a member's guild permissions (the fake keeps no per-member overwrites)."""
    assert channel.guild is not None
    if actor.user.id == channel.guild.bot_member.user.id:
        return channel.bot_permission_bits()
    return actor.guild_permissions()


def require(
    fake: FakeDiscord, actor: FakeMember, channel: FakeChannel, bits: int, what: str
) -> None:
    if permissions_of(actor, channel) & bits != bits:
        _deny(fake, actor, channel, what)


def create_thread(
    fake: FakeDiscord,
    parent: FakeChannel,
    name: str,
    *,
    actor: FakeMember,
    message: FakeMessage | None = None,
    kind: int = PUBLIC_THREAD,
    auto_archive_duration: int = 1440,
    invitable: bool = True,
    rate_limit_per_user: int = 0,
) -> FakeThread:
    """Start a thread in `parent` (from `message` if given) for `actor`, as Discord would."""
    if parent.guild is None or isinstance(parent, FakeThread):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    if parent.type in (GUILD_FORUM, GUILD_MEDIA):
        # Forum and media posts are started with a first message (not supported here).
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    if parent.type != GUILD_TEXT or kind not in (PUBLIC_THREAD, PRIVATE_THREAD):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    if message is not None and kind != PUBLIC_THREAD:
        raise ApiError(400, 50035, "Invalid Form Body: a thread from a message is public")
    if not 1 <= len(name) <= 100:
        raise ApiError(400, 50035, "Invalid Form Body: name must be 1-100 characters")
    if auto_archive_duration not in ARCHIVE_DURATIONS:
        raise ApiError(400, 50035, "Invalid Form Body: auto_archive_duration")
    needed = Perm.CREATE_PUBLIC_THREADS if kind == PUBLIC_THREAD else Perm.CREATE_PRIVATE_THREADS
    require(fake, actor, parent, Perm.VIEW_CHANNEL | needed, "start a thread")
    if message is not None:
        if message.thread_id is not None:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread_id = message.id
    else:
        thread_id = fake.snowflakes.next()
    now = time.time()
    thread = FakeThread(
        id=thread_id,
        name=name,
        type=kind,
        guild=parent.guild,
        parent=parent,
        owner_id=actor.id,
        auto_archive_duration=auto_archive_duration,
        invitable=invitable,
        rate_limit_per_user=rate_limit_per_user,
        created_at=now,
        archive_timestamp=now,
        member_ids={actor.id: now},
        _fake=fake,
    )
    parent.guild.threads.append(thread)
    fake.register_channel(thread)
    if thread.visible_to_bot():
        fake.dispatch_if_live(
            "THREAD_CREATE", lambda: {**thread.to_payload(), "newly_created": True}
        )
    if message is not None:
        message.thread_id = thread.id
        message.flags |= FakeMessage.HAS_THREAD
        fake.message_event("MESSAGE_UPDATE", message)
        fake.changed(message)
    fake.changed(parent, thread)
    return thread


def modify_thread(
    fake: FakeDiscord, thread: FakeThread, body: dict[str, Any], *, actor: FakeMember
) -> None:
    """PATCH a thread's `name`, `archived`, `locked`, `auto_archive_duration`,
    `rate_limit_per_user`, `invitable` for `actor`, with Discord's permission rules."""
    moderator = bool(permissions_of(actor, thread) & Perm.MANAGE_THREADS)
    creator = actor.id == thread.owner_id
    changes = {k: v for k, v in body.items() if v is not None}
    unarchiving = changes.get("archived") is False
    if thread.archived and not unarchiving:
        raise ApiError(400, 50083, "Thread is archived")
    if unarchiving and thread.archived:
        # Any member may unarchive; a locked thread only its creator or a moderator.
        may = creator if thread.locked else actor.id in thread.member_ids
        if not (may or moderator):
            _deny(fake, actor, thread, "unarchive a thread")
    if ("locked" in changes or "rate_limit_per_user" in changes) and not moderator:
        _deny(fake, actor, thread, "lock a thread")
    owner_fields = {"name", "auto_archive_duration"} | ({"archived"} if not unarchiving else set())
    if owner_fields & changes.keys() and not (moderator or creator):
        _deny(fake, actor, thread, "edit a thread")
    if "name" in changes and not 1 <= len(str(changes["name"])) <= 100:
        raise ApiError(400, 50035, "Invalid Form Body: name must be 1-100 characters")
    if "auto_archive_duration" in changes and changes["auto_archive_duration"] not in (
        ARCHIVE_DURATIONS
    ):
        raise ApiError(400, 50035, "Invalid Form Body: auto_archive_duration")
    apply_changes(fake, thread, changes)


def apply_changes(fake: FakeDiscord, thread: FakeThread, changes: dict[str, Any]) -> None:
    """Apply already-permitted changes and tell the client with THREAD_UPDATE."""
    for key in ("name", "locked", "invitable", "rate_limit_per_user"):
        if key in changes:
            setattr(thread, key, changes[key])
    if "archived" in changes and bool(changes["archived"]) != thread.archived:
        thread.archived = bool(changes["archived"])
        thread.archive_timestamp = time.time()
    if "auto_archive_duration" in changes:
        thread.auto_archive_duration = int(changes["auto_archive_duration"])
        thread.archive_timestamp = time.time()
    if thread.visible_to_bot():
        fake.dispatch_if_live("THREAD_UPDATE", thread.to_payload)
    fake.changed(thread)


def delete_thread(fake: FakeDiscord, thread: FakeThread, *, actor: FakeMember) -> None:
    """Delete a thread (MANAGE_THREADS): THREAD_DELETE with id, guild_id, parent_id, type."""
    if not permissions_of(actor, thread) & Perm.MANAGE_THREADS:
        _deny(fake, actor, thread, "delete a thread")
    assert thread.guild is not None and thread.parent is not None
    visible = thread.visible_to_bot()
    thread.deleted = True
    thread.guild.threads.remove(thread)
    fake.channels.pop(thread.id, None)
    starter = fake.messages.get(thread.id)
    if starter is not None and starter.thread_id == thread.id:
        starter.thread_id = None
        starter.flags &= ~FakeMessage.HAS_THREAD
    if visible:
        data: dict[str, Any] = {
            "id": str(thread.id),
            "guild_id": str(thread.guild.id),
            "parent_id": str(thread.parent.id),
            "type": thread.type,
        }
        fake.dispatch_if_live("THREAD_DELETE", lambda: data)
    fake.changed(thread, thread.parent)


def _deny(fake: FakeDiscord, actor: FakeMember, channel: FakeChannel, what: str) -> NoReturn:
    if actor.user.id == fake.bot_user.id:
        fake.permission_denials.append(f"{what} in #{channel.name}")
    raise ApiError(403, 50013, "Missing Permissions")
