"""A fake Discord (REST + gateway on 127.0.0.1) for end-to-end tests with the real discord.py.

    async with FakeDiscord() as discord:
        guild = discord.add_guild("Jam Session")              # premium_tier=2 -> 50 MiB uploads
        channel = guild.add_text_channel("music")             # bot_permissions=... to restrict
        alice = guild.add_member("alice", roles=(guild.add_role("DJ"),))
        task = await start_client(bot, discord)               # READY + GUILD_CREATE, bot ready
        interaction = await discord.invoke("compose", {"prompt": "lofi"}, user=alice)
        await interaction.wait_for_ack()                      # the first callback body
        result = await interaction.wait_for_followup(lambda m: bool(m.attachments))
        click = await discord.click(result, "jam:reroll:abc", user=alice)
        await stop_client(bot, task, discord)
        assert discord.spec_errors == [] and discord.unknown_routes == []

Recorded for assertions: `requests`, `spec_errors` (client bodies vs the official OpenAPI spec),
`unknown_routes`, `late_acks` and `overdue()` (the 3 s rule), `expired_token_calls` (401/50027),
`upload_rejections` (413/40005), `permission_denials` (403/50013), `ratelimited_count` (429s),
`commands` (synced, None = global), `messages`, `interactions`; every FakeMessage keeps
`history`, `edit_count`, `edit_times` (monotonic, as applied), `allowed_mentions` and `pings()`.
Threads: `channel.start_thread(name, by=member, message=None, private=False)` (a member starts
one; THREAD_CREATE), `thread.archive(by=None, lock=False)`, `thread.edit(by=None, **changes)`,
`thread.delete(by=None)` (THREAD_UPDATE / THREAD_DELETE; `by` defaults to the guild owner),
`guild.threads`, `guild.get_thread(id)`, `await guild.wait_for_thread(predicate)`,
`guild.add_forum_channel(name, media=False)`; `invoke(..., channel=thread)` runs a command
inside a thread; the bot's REST calls follow Discord's thread rules (see threads.py).
Shards: `add_guild(name, shard=(shard_id, shard_count))` mints an id on that shard; every
gateway session gets only its shard's guilds and events (DMs: shard 0); `recommended_shards`
(GET /gateway/bot), `live_sessions`, `session_of_shard(i)`, `session.events("READY")`,
`drop_connection(4000, shard_id=1)`; `start_client` runs `AutoShardedClient`s too.
Knobs: `ack_deadline`, `token_lifetime`, `rate_limits` ({"webhook": (5, 5.0), ...}, None turns
a group off), `script_ratelimit(group)`, `heartbeat_interval`, `drop_connection()` (RESUME),
`validate_responses` (checks the fake's own answers against the spec).
Exact moments: `on_request(predicate, action, when="after"|"before")` runs an action (e.g. SIGKILL
the bot) once a request's effect is applied but before its answer, or drops it unapplied
(tests/fakes/hooks.py).
"""

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
from tests.fakes.discord.threads import FakeThread

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
    "FakeThread",
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
