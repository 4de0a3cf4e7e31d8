"""Every way a jam says no: a clear, polite reply that changes nothing. And a deleted thread
cancels its jam, returns its budget, and the mod log says so."""

from __future__ import annotations

import asyncio

import pytest

from tests.cogs.jam.support import (
    entry_result,
    expire,
    jam_command,
    jam_row,
    pool_used,
    posts,
    reply_of,
    start_jam,
    vote,
    wait_post,
)
from tests.conftest import Harness
from tests.fakes.discord import Perm
from tests.fakes.discord.state import BOT_DEFAULT


async def nothing_created(h: Harness, pool_before: int) -> None:
    assert await pool_used(h) == pool_before
    assert await h.db.fetchone("SELECT id FROM jams WHERE phase != 'cancelled'") is None
    assert [t for t in h.guild.threads if t.owner_id == h.fake_discord.bot_user.id] == []
    assert [m for m in h.channel.messages if "**Jam:" in m.content] == []  # no card


async def test_start_in_a_direct_message_is_refused(harness: Harness) -> None:
    await harness.bot.tree.sync()  # global commands, so that /jam exists in DMs
    interaction = await harness.fake_discord.invoke(
        "jam start", {"theme": "x"}, user=harness.alice.user
    )
    reply = await reply_of(interaction)
    assert "not in direct messages" in reply.content
    await nothing_created(harness, 0)


async def test_start_in_a_thread_is_refused(harness: Harness) -> None:
    thread = harness.channel.start_thread("chat", by=harness.alice)
    await harness.guild.wait_for_thread(lambda t: t is thread)
    reply = await jam_command(harness, "start", {"theme": "x"}, channel=thread)
    assert "start the jam in a text channel" in reply.content
    await nothing_created(harness, 0)


async def test_one_running_jam_per_channel(harness: Harness) -> None:
    await start_jam(harness, budget=5)
    reply = await jam_command(harness, "start", {"theme": "another", "budget": 5})
    assert "already has a jam running" in reply.content
    assert await pool_used(harness) == 5
    assert len([t for t in harness.guild.threads]) == 1


async def test_members_who_may_not_host_are_refused(harness: Harness) -> None:
    reply = await jam_command(harness, "start", {"theme": "x"}, user=harness.bob)
    assert "Manage Server" in reply.content and "jam-host role" in reply.content
    await nothing_created(harness, 0)
    reply = await jam_command(
        harness, "host-role", {"role": harness.guild.everyone}, user=harness.bob
    )
    assert "Manage Server" in reply.content


async def test_a_budget_larger_than_what_the_pool_has_left_is_refused(harness: Harness) -> None:
    pool = await harness.fake_discord.invoke("quota pool", {"size": 20}, user=harness.moderator)
    await reply_of(pool)
    await entry_result(harness, await harness.compose("a warm-up piece"))
    reply = await jam_command(harness, "start", {"theme": "x", "budget": 30})
    assert "more than today's server pool has left (19 of 20)" in reply.content
    assert "at most 19" in reply.content
    await nothing_created(harness, 1)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (Perm.CREATE_PUBLIC_THREADS, "Create Public Threads"),
        (Perm.SEND_MESSAGES_IN_THREADS, "Send Messages in Threads"),
    ],
)
async def test_missing_thread_permissions_are_named_and_nothing_is_created(
    harness: Harness, missing: int, named: str
) -> None:
    closed = harness.guild.add_text_channel("closed", bot_permissions=BOT_DEFAULT & ~missing)
    reply = await jam_command(harness, "start", {"theme": "x"}, channel=closed)
    assert f"missing the **{named}** permission" in reply.content
    assert "Nothing was created" in reply.content
    assert [m for m in closed.messages if not m.ephemeral] == []
    await nothing_created(harness, 0)


async def test_entries_and_the_status_follow_the_rules(harness: Harness) -> None:
    h = harness
    thread, jam_id = await start_jam(h, rounds=1, budget=5, entries_per_round=1)
    status = await jam_command(h, "status", user=h.alice, channel=thread)
    assert "Your entries left this round: 1 of 1" in status.content
    assert "Budget left: 5 of 5 credits" in status.content
    await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    status = await jam_command(h, "status", user=h.alice, channel=thread)
    assert "Your entries left this round: 0 of 1" in status.content
    assert "Budget left: 4 of 5" in status.content

    await expire(h, jam_id)
    await wait_post(thread, "round 1 ballot")
    voting = await h.compose("too late", user=h.bob, channel=thread)
    refused = await voting.wait_for_original(lambda m: m.content.startswith("🙏"), timeout=10)
    assert "it's time to vote" in refused.content and "last round" in refused.content
    assert len(h.fake_api.submissions) == 1

    not_host = await jam_command(h, "end", user=h.bob, channel=thread)
    assert "Only the jam's host" in not_host.content
    early = await jam_command(h, "export", user=h.bob, channel=thread)
    assert "once the jam has ended" in early.content
    assert (await jam_row(h, jam_id))["phase"] == "voting"


async def test_entries_and_votes_after_the_jam_ended_are_refused(harness: Harness) -> None:
    h = harness
    thread, jam_id = await start_jam(h, rounds=1, budget=5)
    first = await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    await expire(h, jam_id)
    ballot = await wait_post(thread, "round 1 ballot")
    await jam_command(h, "cancel", channel=thread)
    await wait_post(thread, "cancelled")
    await h.fake_discord.notifier.wait_until(lambda: thread.archived, 10)
    thread.edit(by=h.moderator, archived=False)  # a moderator reopens the thread

    late = await h.compose("encore", user=h.bob, channel=thread)
    refused = await late.wait_for_original(lambda m: m.content.startswith("🙏"), timeout=10)
    assert "This jam is over" in refused.content
    assert "is over, so it takes no more votes" in await vote(h, ballot, 1, h.bob)
    riff = await h.fake_discord.click(
        first, f"jam:riff:{first.custom_ids()[-1].split(':')[-1]}", user=h.bob
    )
    await riff.wait_for_ack()
    assert riff.modal is not None
    submitted = await h.fake_discord.submit_modal(
        riff.modal["custom_id"], {"prompt": "riffing late", "seed": ""}, user=h.bob, channel=thread
    )
    late_riff = await submitted.wait_for_original(lambda m: m.content.startswith("🙏"), timeout=10)
    assert "This jam is over" in late_riff.content
    assert len(h.fake_api.submissions) == 1
    votes = await h.db.fetchone("SELECT COUNT(*) FROM jam_votes")
    assert votes is not None and votes[0] == 0
    assert await pool_used(h) == 1  # one entry spent, the rest returned


async def test_a_deleted_thread_cancels_the_jam_and_returns_its_budget(harness: Harness) -> None:
    h = harness
    modlog = h.guild.add_text_channel("mod-log")
    await h.fake_discord.invoke("quota modlog", {"channel": modlog}, user=h.moderator)
    await modlog.wait_for(lambda m: "mod log channel" in m.content)
    thread, jam_id = await start_jam(h, budget=8)
    await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    assert await pool_used(h) == 8

    thread.delete()
    announced = await wait_post(h.channel, "over")
    assert "cancelled because its thread was deleted" in announced.content
    assert "7 unspent credits" in announced.content
    row = await jam_row(h, jam_id)
    assert (row["phase"], row["end_reason"], row["returned"]) == ("cancelled", "thread_deleted", 7)
    assert await pool_used(h) == 1
    logged = await modlog.wait_for(lambda m: "because its thread was deleted" in m.content)
    assert "7 returned" in logged.content
    await modlog.wait_for(lambda m: "7 credits went back" in m.content)


async def test_votes_from_many_members_at_once_are_each_counted_once(harness: Harness) -> None:
    h = harness
    thread, jam_id = await start_jam(h, rounds=1, budget=5)
    await entry_result(h, await h.compose("neon rain", user=h.alice, channel=thread))
    await entry_result(h, await h.compose("dawn", user=h.bob, channel=thread))
    await expire(h, jam_id)
    ballot = await wait_post(thread, "round 1 ballot")
    crowd = [h.guild.add_member(f"fan{i}") for i in range(60)]
    replies = await asyncio.gather(
        *(vote(h, ballot, 1 + i % 2, member) for i, member in enumerate(crowd)),
        vote(h, ballot, 1, h.alice),  # her own: refused
    )
    assert all("is in" in text for text in replies[:-1]) and "own entry" in replies[-1]
    await expire(h, jam_id)
    results = await wait_post(thread, "round 1 results")
    assert "60 members voted" in results.content
    assert "**#1** by" in results.content and "30 votes" in results.content
    assert len(posts(thread, "round 1 results")) == 1


async def test_a_prompt_with_no_room_left_for_the_jams_style_is_refused(harness: Harness) -> None:
    thread, _jam_id = await start_jam(harness, budget=5, style="s" * 200)
    interaction = await harness.compose("p" * 450, user=harness.alice, channel=thread)
    reply = await reply_of(interaction)
    assert "room for 398 characters of your own; your prompt has 450" in reply.content
    assert harness.fake_api.submissions == []
    assert await pool_used(harness) == 5
