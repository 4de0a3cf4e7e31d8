"""A fake Discord (REST + gateway on 127.0.0.1) for end-to-end tests with the real discord.py."""

from tests.fakes.discord.client import start_client, stop_client
from tests.fakes.discord.server import ApiError, FakeDiscord, RecordedRequest
from tests.fakes.discord.snowflakes import SnowflakeGenerator, snowflake_time
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
    Perm,
    Pings,
    upload_limit_for_tier,
)

__all__ = [
    "ApiError",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "MiB",
    "Perm",
    "Pings",
    "RecordedRequest",
    "SnowflakeGenerator",
    "snowflake_time",
    "start_client",
    "stop_client",
    "upload_limit_for_tier",
]
