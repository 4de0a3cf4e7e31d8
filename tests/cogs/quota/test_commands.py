"""/quota end to end: the real JamBot, its cogs and the quota service against a fake Discord."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.conftest import Harness
from tests.fakes.discord import FakeChannel, FakeMember, FakeMessage

REFUSED = "Manage Server"


async def run(
    h: Harness,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user: FakeMember | None = None,
    channel: FakeChannel | None = None,
) -> FakeMessage:
    """Invoke `/quota ...` and return its reply, checking it is ephemeral and pings nobody."""
    interaction = await h.fake_discord.invoke(
        f"quota {command}",
        options or {},
        user=user or h.moderator,
        channel=channel or h.channel,
    )
    reply = await interaction.wait_for_original(lambda m: bool(m.content))
    assert reply.ephemeral, reply.content
    assert reply.allowed_mentions is not None and reply.allowed_mentions.get("parse") == []
    return reply


async def compose_outcome(h: Harness, prompt: str, **kwargs: Any) -> str:
    """'refused: <text>' or 'queued' for a /compose."""
    interaction = await h.compose(prompt, **kwargs)
    message = await h.status_of(interaction, lambda m: bool(m.content) and not m.loading)
    if message.content.startswith("🙏"):
        assert message.ephemeral  # refusals are private
        return "refused: " + message.content
    return "queued"


async def finish_all(h: Harness) -> None:
    """Wait until every job the bot knows has finished and been delivered."""
    rows = await h.db.fetchall("SELECT id FROM jobs")
    for row in rows:
        await h.engine.wait_finished(str(row[0]))
    await h.bot.tasks.wait_idle()


MODERATOR_COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("show", {}),
    ("leaderboard", {}),
    ("pool", {"size": 1}),
    ("member-limits", {"per_window": 1}),
    ("grant", {"extra": 3}),
    ("reset", {}),
    ("pause", {}),
    ("resume", {}),
    ("bar", {}),
    ("unbar", {}),
    ("channels", {"mode": "all"}),
    ("modlog", {}),
    ("block add", {"text": "nope"}),
    ("block remove", {"text": "nope"}),
    ("block list", {}),
    ("role", {"action": "exempt"}),
]


@pytest.mark.parametrize(("command", "options"), MODERATOR_COMMANDS)
async def test_members_without_manage_server_are_refused_politely(
    harness: Harness, command: str, options: dict[str, Any]
) -> None:
    options = dict(options)
    if command in ("grant", "reset", "bar", "unbar"):
        options["member"] = harness.bob
    if command == "role":
        options["role"] = harness.guild.add_role("dj")
    before = await harness.bot.services.quota.queries.settings(harness.guild.id)
    reply = await run(harness, command, options, user=harness.alice)
    assert REFUSED in reply.content and "/quota me" in reply.content
    assert await harness.bot.services.quota.queries.settings(harness.guild.id) == before
    assert await harness.bot.services.quota.queries.barred_members(harness.guild.id) == []
    assert await harness.bot.services.quota.queries.blocked_terms(harness.guild.id) == []
    bob = await harness.bot.services.store.quota.member(harness.guild.id, harness.bob.id)
    assert bob.extra_credit == 0


async def test_quota_me_for_everyone(harness: Harness) -> None:
    reply = await run(harness, "me", user=harness.alice)
    assert "You can compose 20 more tracks right now." in reply.content
    assert "50 tracks left today" in reply.content
    assert "<t:" in reply.content


@pytest.mark.harness(env={"GUILD_DAILY_POOL": "2"})
async def test_pool_size_and_reset_time_are_set_shown_and_enforced(harness: Harness) -> None:
    reply = await run(harness, "pool", {"size": 1, "reset_time": "06:30"})
    assert "1 track a day, refilling at 06:30 UTC" in reply.content
    show = await run(harness, "show")
    assert "Pool: 0 of 1 used today; resets at 06:30 UTC" in show.content
    assert "(default)" in show.content  # the member limits were not touched

    assert await compose_outcome(harness, "calm piano") == "queued"
    refused = await compose_outcome(harness, "calm piano", user=harness.bob)
    assert "shared pool of 1 track" in refused and "06:30 UTC" in refused
    bad = await run(harness, "pool", {"reset_time": "25:00"})
    assert "HH:MM" in bad.content
    await finish_all(harness)


async def test_member_limits_are_set_and_enforced(harness: Harness) -> None:
    reply = await run(
        harness, "member-limits", {"per_window": 1, "window_minutes": 30, "in_flight": 2}
    )
    assert "1 track per 30 minutes, 2 at once" in reply.content
    assert await compose_outcome(harness, "piano one") == "queued"
    refused = await compose_outcome(harness, "piano two")
    assert "used your 1 track per 30 minutes" in refused
    assert "<t:" in refused  # when the member can compose again
    await finish_all(harness)


async def test_role_overrides_exempt_and_clear(harness: Harness) -> None:
    dj = harness.guild.add_role("dj")
    vip = harness.guild.add_role("vip")
    harness.alice.roles.append(dj)
    await run(harness, "member-limits", {"per_window": 0})
    assert (await compose_outcome(harness, "piano")).startswith("refused")

    reply = await run(harness, "role", {"role": dj, "action": "limit", "per_window": 3})
    assert f"<@&{dj.id}>" in reply.content and "3 tracks per window" in reply.content
    assert await compose_outcome(harness, "piano") == "queued"

    reply = await run(harness, "role", {"role": vip, "action": "exempt"})
    assert "exempt" in reply.content
    show = await run(harness, "show")
    assert f"Role <@&{vip.id}>: exempt from member limits" in show.content
    assert f"Role <@&{dj.id}>: 3 per window" in show.content

    missing = await run(harness, "role", {"role": vip, "action": "limit"})
    assert "Please give a limit per window" in missing.content
    await run(harness, "role", {"role": dj, "action": "clear"})
    overrides = await harness.bot.services.quota.queries.role_overrides(harness.guild.id)
    assert [(o.role_id, o.exempt) for o in overrides] == [(vip.id, True)]
    assert (await compose_outcome(harness, "piano again")).startswith("refused")
    await finish_all(harness)


async def test_grant_and_reset_a_member(harness: Harness) -> None:
    await run(harness, "member-limits", {"per_window": 1})
    assert await compose_outcome(harness, "one") == "queued"
    await finish_all(harness)
    assert (await compose_outcome(harness, "two")).startswith("refused")
    me = await run(harness, "me", user=harness.alice)
    assert "You can compose 0 more tracks" in me.content and "frees up <t:" in me.content

    reply = await run(harness, "grant", {"member": harness.alice, "extra": 2})
    assert f"<@{harness.alice.id}> got 2 extra tracks" in reply.content
    me = await run(harness, "me", user=harness.alice)
    assert "You can compose 2 more tracks" in me.content

    reply = await run(harness, "reset", {"member": harness.alice})
    assert "usage window is cleared" in reply.content
    me = await run(harness, "me", user=harness.alice)
    assert "You can compose 3 more tracks" in me.content
    await finish_all(harness)


async def test_pause_and_resume(harness: Harness) -> None:
    assert "paused" in (await run(harness, "pause")).content
    refused = await compose_outcome(harness, "piano")
    assert "paused in this server" in refused
    me = await run(harness, "me", user=harness.alice)
    assert "paused" in me.content
    assert "back on" in (await run(harness, "resume")).content
    assert await compose_outcome(harness, "piano") == "queued"
    await finish_all(harness)


async def test_bar_and_unbar(harness: Harness) -> None:
    reply = await run(harness, "bar", {"member": harness.alice})
    assert f"<@{harness.alice.id}> can no longer compose" in reply.content
    assert "already barred" in (await run(harness, "bar", {"member": harness.alice})).content
    refused = await compose_outcome(harness, "piano")
    assert "paused your access" in refused
    assert "paused your access" in (await run(harness, "me", user=harness.alice)).content
    assert "paused your access" not in (await run(harness, "me", user=harness.bob)).content
    assert await compose_outcome(harness, "piano", user=harness.bob) == "queued"
    assert "can compose again" in (await run(harness, "unbar", {"member": harness.alice})).content
    assert "paused your access" not in (await run(harness, "me", user=harness.alice)).content
    assert await compose_outcome(harness, "piano") == "queued"
    await finish_all(harness)


async def test_channel_restriction(harness: Harness) -> None:
    jams = harness.guild.add_text_channel("jams")
    missing = await run(harness, "channels", {"mode": "restrict"})
    assert "at least one channel" in missing.content
    reply = await run(harness, "channels", {"mode": "restrict", "channel": jams})
    assert f"only in <#{jams.id}>" in reply.content
    refused = await compose_outcome(harness, "piano")
    assert "isn't enabled in this channel" in refused
    assert await compose_outcome(harness, "piano", channel=jams) == "queued"
    await run(harness, "channels", {"mode": "all"})
    assert await compose_outcome(harness, "piano", user=harness.bob) == "queued"
    await finish_all(harness)


# A Discord id outside a mention or a link: what the mod log must never show.
RAW_ID = re.compile(r"(?<![<@#&!/\d])\d{15,}(?![\d>])")


async def test_block_list_and_the_mod_log(harness: Harness) -> None:
    reply = await run(harness, "block add", {"text": "Crème Brûlée"})
    assert "now refused" in reply.content
    bad = await run(harness, "block add", {"text": "(?<!x)spam", "regex": True})
    assert "look-ahead or look-behind" in bad.content
    reply = await run(harness, "block add", {"text": "@everyone *boom*", "regex": False})
    assert "@everyone" not in reply.content.replace("@\u200beveryone", "")
    listing = await run(harness, "block list")
    assert "Creme" not in listing.content and "Crème Brûlée" in listing.content
    assert "\\*boom\\*" in listing.content  # markdown escaped

    # The mod log: set after the list edits, so this test stays under Discord's 5 messages
    # per 5 s per channel (the fake enforces it; discord.py would wait).
    modlog = harness.guild.add_text_channel("mod-log")
    reply = await run(harness, "modlog", {"channel": modlog})
    assert f"<#{modlog.id}>" in reply.content
    first = await modlog.wait_for(lambda m: "mod log channel" in m.content)
    assert first.allowed_mentions is not None and first.allowed_mentions.get("parse") == []

    refused = await compose_outcome(harness, "c r e m e  b-r-u-l-e-e lofi")
    assert "moderators have blocked" in refused and "rème" not in refused
    logged = await modlog.wait_for(lambda m: m.content.startswith("🛑"))
    assert f"<@{harness.alice.id}>" in logged.content
    assert "c r e m e" in logged.content
    assert logged.allowed_mentions is not None and logged.allowed_mentions.get("parse") == []
    assert not logged.allowed_mentions.get("users")

    removed = await run(harness, "block remove", {"text": "Crème Brûlée"})
    assert "Removed" in removed.content
    assert await compose_outcome(harness, "crème brûlée lofi") == "queued"
    await finish_all(harness)
    generation = await modlog.wait_for(lambda m: m.content.startswith("🎵"))
    assert "crème brûlée lofi" in generation.content
    assert "delivered" in generation.content
    assert "\n<https://discord.com/channels/" in generation.content  # the result's link

    # People, roles and channels are mentions (they show names, ping nobody), never raw ids.
    for line in modlog.messages:
        assert RAW_ID.search(line.content) is None, line.content
    assert f"<@{harness.moderator.id}> set the mod log channel to <#{modlog.id}>" in first.content

    await run(harness, "modlog")
    cog = harness.bot.get_cog("ModLog")
    count = len(modlog.messages)
    await run(harness, "pause")
    await cog.wait_idle()  # type: ignore[union-attr]
    assert len(modlog.messages) == count  # the log is off: nothing more is posted


async def test_leaderboard(harness: Harness) -> None:
    empty = await run(harness, "leaderboard")
    assert "Nobody" in empty.content
    for user in (harness.alice, harness.bob, harness.alice):
        assert await compose_outcome(harness, "piano", user=user) == "queued"
        await finish_all(harness)
    board = await run(harness, "leaderboard")
    lines = board.content.splitlines()
    assert lines[1] == f"1. <@{harness.alice.id}> — 2 tracks"
    assert lines[2] == f"2. <@{harness.bob.id}> — 1 track"


async def test_long_lists_are_cut_to_fit_one_message(harness: Harness) -> None:
    for i in range(80):
        await harness.bot.services.quota.moderation.add_blocked_term(
            harness.guild.id, f"{i:02d}-" + "x" * 60, by=harness.moderator.id
        )
    listing = await run(harness, "block list")
    assert len(listing.content) <= 2000
    assert listing.content.endswith("…and more.")
    assert "(80 entries)" in listing.content


async def test_the_mod_log_never_pings_whatever_the_prompt_says(harness: Harness) -> None:
    modlog = harness.guild.add_text_channel("mod-log")
    await run(harness, "modlog", {"channel": modlog})
    await run(harness, "block add", {"text": "forbidden"})
    prompt = f"forbidden @everyone <@{harness.bob.id}> **loud**\n# heading"
    assert (await compose_outcome(harness, prompt)).startswith("refused")
    logged = await modlog.wait_for(lambda m: m.content.startswith("🛑"))
    assert "@everyone" not in logged.content.replace("@\u200beveryone", "")
    assert f"<@{harness.bob.id}>" not in logged.content  # defused, not a mention
    assert "\\*\\*loud\\*\\*" in logged.content and "\n#" not in logged.content
    assert logged.allowed_mentions == {"parse": []} or (
        logged.allowed_mentions is not None
        and logged.allowed_mentions.get("parse") == []
        and not logged.allowed_mentions.get("users")
        and not logged.allowed_mentions.get("roles")
    )


async def test_a_mod_log_channel_the_bot_lost_is_turned_off_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    modlog = harness.guild.add_text_channel("mod-log")
    await run(harness, "modlog", {"channel": modlog})
    await modlog.wait_for(lambda m: "mod log channel" in m.content)
    cog = harness.bot.get_cog("ModLog")
    assert cog is not None
    await cog.wait_idle()  # type: ignore[attr-defined]
    modlog.set_bot_permissions(0)  # the bot can no longer see it: 403/50001

    def attempts() -> int:
        path = f"/channels/{modlog.id}/messages"
        return sum(
            r.method == "POST" and r.path.endswith(path) for r in harness.fake_discord.requests
        )

    caplog.set_level(logging.DEBUG, logger="cogs.modlog")
    before = attempts()
    await run(harness, "pause")
    await run(harness, "resume")
    await cog.wait_idle()  # type: ignore[attr-defined]
    assert attempts() > before  # it did try
    gone = [r for r in caplog.records if "gone or out of reach" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if "cannot post" in r.getMessage()]
    assert await harness.bot.services.quota.queries.modlog_channel(harness.guild.id) is None

    tried = attempts()
    await run(harness, "pause")
    await cog.wait_idle()  # type: ignore[attr-defined]
    assert attempts() == tried  # the log is off now: no more failing calls
    assert "Mod log: off" in (await run(harness, "show")).content
