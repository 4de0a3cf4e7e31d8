"""What a member's client knows around a message: names behind ids, who reads it, the command
that asked for it, and the time (for "Today at …" and <t:…:R>).

`scene_of` takes it all from the fake Discord; a test may build a Scene by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.discord import FakeDiscord, FakeMember, FakeMessage, FakeUser

# Relative times as Discord words them (its thresholds, in seconds).
_RELATIVE = (
    (45, None, "a few seconds"),
    (90, None, "a minute"),
    (45 * 60, 60, "{} minutes"),
    (90 * 60, None, "an hour"),
    (22 * 3600, 3600, "{} hours"),
    (36 * 3600, None, "a day"),
    (26 * 86400, 86400, "{} days"),
    (45 * 86400, None, "a month"),
    (320 * 86400, 30 * 86400, "{} months"),
    (548 * 86400, None, "a year"),
)


@dataclass(frozen=True)
class Command:
    """ "alice used /quota me" above a reply to a slash command."""

    user_id: int
    user_name: str
    name: str  # "quota me"


@dataclass(frozen=True)
class Scene:
    author: str  # the name shown above the message
    author_id: int
    posted: datetime
    now: datetime | None = None  # default: when it was posted
    app: bool = True  # the APP tag after a bot's name
    viewer_id: int | None = None  # the member looking: a message that pings them is highlighted
    command: Command | None = None
    users: Mapping[int, str] = field(default_factory=dict)
    roles: Mapping[int, str] = field(default_factory=dict)
    channels: Mapping[int, str] = field(default_factory=dict)

    @property
    def clock(self) -> datetime:
        return self.now or self.posted

    def user(self, user_id: int) -> str:
        return self.users.get(user_id, "unknown-user")

    def role(self, role_id: int) -> str:
        return self.roles.get(role_id, "deleted-role")

    def channel(self, channel_id: int) -> str:
        return self.channels.get(channel_id, "unknown")

    def timestamp(self, unix: int, style: str) -> str:
        """A <t:unix:style> as Discord shows it to a reader in UTC (24-hour clock)."""
        when = datetime.fromtimestamp(unix, UTC)
        if style == "R":
            return relative(when, self.clock)
        formats = {
            "t": "%H:%M",
            "T": "%H:%M:%S",
            "d": "%d/%m/%Y",
            "D": "%-d %B %Y",
            "f": "%-d %B %Y %H:%M",
            "F": "%A, %-d %B %Y %H:%M",
        }
        return when.strftime(formats.get(style, formats["f"]))

    def posted_label(self) -> str:
        """'Today at 14:30', 'Yesterday at 09:05' or '25/11/2026 14:30'."""
        days = (self.clock.date() - self.posted.date()).days
        clock = self.posted.strftime("%H:%M")
        if days == 0:
            return f"Today at {clock}"
        if days == 1:
            return f"Yesterday at {clock}"
        return self.posted.strftime("%d/%m/%Y ") + clock


def relative(when: datetime, now: datetime) -> str:
    seconds = (when - now).total_seconds()
    distance = abs(seconds)
    words = ""
    for limit, unit, text in _RELATIVE:
        if distance < limit:
            words = text.format(max(2, round(distance / unit))) if unit else text
            break
    else:
        words = f"{max(2, round(distance / (365 * 86400)))} years"
    return f"in {words}" if seconds >= 0 else f"{words} ago"


def display_name(user: FakeUser, member: FakeMember | None) -> str:
    if member is not None and member.nick:
        return member.nick
    return user.global_name or user.username


def scene_of(
    fake: FakeDiscord,
    message: FakeMessage,
    *,
    viewer: FakeUser | FakeMember | None = None,
    now: datetime | None = None,
) -> Scene:
    """The scene of a recorded message as `viewer` would see it."""
    guild = next((g for g in fake.guilds if g.id == message.guild_id), None)
    members = guild.members if guild is not None else {}
    users = {uid: display_name(user, members.get(uid)) for uid, user in fake.users.items()}
    author = fake.users.get(message.author_id, fake.bot_user)
    interaction = fake.interactions.get(message.interaction_id or 0)
    command = None
    if interaction is not None and interaction.type == 2:
        command = Command(
            interaction.user.id,
            users.get(interaction.user.id, interaction.user.username),
            command_line(interaction.payload.get("data") or {}),
        )
    return Scene(
        author=users.get(author.id, author.username),
        author_id=author.id,
        posted=datetime.fromtimestamp(message.created_at, UTC),
        now=now,
        app=author.bot,
        viewer_id=viewer.id if viewer is not None else None,
        command=command,
        users=users,
        roles={r.id: r.name for r in guild.roles} if guild is not None else {},
        channels={cid: channel.name for cid, channel in fake.channels.items()},
    )


def command_line(data: Mapping[str, Any]) -> str:
    """'quota me' from a command's data (its name and the subcommands chosen)."""
    parts = [str(data.get("name", ""))]
    options = list(data.get("options") or [])
    while options and options[0].get("type") in (1, 2):
        parts.append(str(options[0]["name"]))
        options = list(options[0].get("options") or [])
    return " ".join(parts)
