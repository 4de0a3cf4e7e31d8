"""A whole jam end to end, through the fake Discord and the real discord.py client: a host
role, three members, two rounds, entries with the jam's style, votes, a riff, /jam end, the
summary, the announcement, the archived thread, the mod log and the export — on each backend
(the bot's DATABASE_URL a fresh PostgreSQL schema for the second)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cogs.jam.support import (
    entry_result,
    expire,
    jam_command,
    jam_row,
    pool_used,
    posts,
    start_jam,
    vote,
    wait_post,
    wav48,
)
from tests.conftest import Harness, job_id_of, open_harness
from tests.postgres_support import fresh_schema


@pytest.fixture(params=["sqlite", "postgresql"])
async def jam_harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "sqlite":
        async with open_harness(tmp_path) as h:
            yield h
        return
    async with (
        fresh_schema("jam") as url,
        open_harness(tmp_path, {"env": {"DATABASE_URL": url.reveal()}}) as h,
    ):
        yield h


def field(message: object, name: str) -> str | None:
    for embed in getattr(message, "embeds", []):
        for item in embed.get("fields", []):
            if item["name"] == name:
                return str(item["value"])
    return None


async def test_a_whole_jam(jam_harness: Harness) -> None:
    h = jam_harness
    h.fake_api.audio = wav48(2.0)
    alice, bob, mod = h.alice, h.bob, h.moderator
    modlog = h.guild.add_text_channel("mod-log")
    await h.fake_discord.invoke("quota modlog", {"channel": modlog}, user=mod, channel=h.channel)
    await modlog.wait_for(lambda m: "mod log channel" in m.content)

    # A moderator makes DJs hosts; alice, a DJ, starts the jam.
    dj = h.guild.add_role("DJ")
    alice.set_roles([dj])
    reply = await jam_command(h, "host-role", {"role": dj}, user=mod)
    assert f"<@&{dj.id}>" in reply.content
    pool_before = await pool_used(h)
    thread, jam_id = await start_jam(
        h, user=alice, theme="Night drive @everyone", rounds=2, budget=10, style="synthwave"
    )
    assert await pool_used(h) == pool_before + 10
    card = h.channel.messages[0]
    assert card.thread_id == thread.id and "Night drive" in card.content
    assert not card.pings()
    assert thread.name == "🎶 Night drive @everyone"  # a thread name never pings

    # Round 1: three entries; the jam's style is added to each prompt.
    results = {}
    for member, prompt in ((alice, "neon rain"), (bob, "empty highway"), (mod, "city lights")):
        interaction = await h.compose(prompt, user=member, channel=thread)
        results[member.id] = await entry_result(h, interaction)
    prompts = [s["prompt"] for s in h.fake_api.submissions]
    assert prompts == ["neon rain, synthwave", "empty highway, synthwave", "city lights, synthwave"]
    first = results[alice.id]
    assert field(first, "Jam entry") == "#1 · round 1"
    assert any(c.startswith("jam:riff:") for c in first.custom_ids())
    again = await h.compose("one more", user=alice, channel=thread)
    refused = await again.wait_for_original(lambda m: m.content.startswith("🙏"), timeout=10)
    assert "used your 1 entry for round 1" in refused.content
    assert "next round opens <t:" in refused.content

    # Submissions close: the ballot, with a Vote button per entry.
    await expire(h, jam_id)
    ballot = await wait_post(thread, "round 1 ballot")
    assert sorted(ballot.custom_ids()) == [f"jam:vote:{jam_id}:{n}" for n in (1, 2, 3)]
    assert "#1" in ballot.content and "neon rain" in ballot.content
    assert "own entry" in await vote(h, ballot, 1, alice)
    assert "is in" in await vote(h, ballot, 2, alice)
    assert "is in" in await vote(h, ballot, 1, bob)
    assert "own entry" in await vote(h, ballot, 3, mod)
    assert "is in" in await vote(h, ballot, 2, mod)
    assert "moved from #2 to #1" in await vote(h, ballot, 1, mod)

    # Voting closes: round 1's results, and round 2 opens.
    await expire(h, jam_id)
    results_1 = await wait_post(thread, "round 1 results")
    assert "Winner: **#1** by <@" in results_1.content and "2 votes" in results_1.content
    await wait_post(thread, "round 2 open")

    # Round 2: bob riffs on alice's entry #1; the moderator enters too.
    riff_click = await h.fake_discord.click(first, f"jam:riff:{job_id_of(first)}", user=bob)
    await riff_click.wait_for_ack()
    assert riff_click.modal is not None
    modal_id = riff_click.modal["custom_id"]
    riff = await h.fake_discord.submit_modal(
        modal_id, {"prompt": "neon rain, slower", "seed": "42"}, user=bob, channel=thread
    )
    riff_result = await entry_result(h, riff)
    assert field(riff_result, "Jam entry") == f"#4 · round 2 · riff on #1 by <@{alice.id}>"
    assert h.fake_api.submissions[-1]["prompt"] == "neon rain, slower, synthwave"
    assert h.fake_api.submissions[-1]["seed"] == 42
    await entry_result(h, await h.compose("dawn", user=mod, channel=thread))

    await expire(h, jam_id)
    ballot_2 = await wait_post(thread, "round 2 ballot")
    assert "riff on #1" in ballot_2.content
    assert "is in" in await vote(h, ballot_2, 4, alice)

    # alice ends the jam during the vote: round 2's results, the summary, the announcement.
    ended = await jam_command(h, "end", user=alice, channel=thread)
    assert "5 unspent credits went back" in ended.content
    results_2 = await wait_post(thread, "round 2 results")
    assert "**#4** by" in results_2.content
    summary = await wait_post(thread, "final results")
    assert "Round 1: **#1**" in summary.content and "Round 2: **#4**" in summary.content
    assert "Credits used: 5 of 10 (5 back to the server pool)" in summary.content
    assert "Participants: 3" in summary.content and "**Leaderboard**" in summary.content
    announcement = await wait_post(h.channel, "over")
    assert f"<#{thread.id}>" in announcement.content
    await h.fake_discord.notifier.wait_until(lambda: thread.archived, 10)
    await card.wait_until(lambda m: "Ended" in m.content)
    assert await pool_used(h) == pool_before + 5
    row = await jam_row(h, jam_id)
    assert (row["phase"], row["returned"], row["ended_by"]) == ("ended", 5, alice.id)
    for label in ("round 1 ballot", "round 1 results", "round 2 results", "final results"):
        assert len(posts(thread, label)) == 1, label

    # bob (not the host) exports from the channel once the jam is over.
    exported = await jam_command(h, "export", user=bob)
    assert "5 pieces" in exported.content
    [archive] = exported.attachments
    assert archive.filename == f"jam-{jam_id}.zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        manifest = json.loads(zipped.read("jam.json"))
        playlist = zipped.read("playlist.m3u").decode()
        audio = [n for n in zipped.namelist() if n.startswith("audio/")]
    assert manifest["jam"]["theme"] == "Night drive @everyone"
    assert manifest["jam"]["credits_used"] == 5 and manifest["jam"]["credits_returned"] == 5
    entries = {e["number"]: e for e in manifest["entries"]}
    assert sorted(entries) == [1, 2, 3, 4, 5]
    assert (entries[1]["votes"], entries[2]["votes"], entries[3]["votes"]) == (2, 1, 0)
    assert entries[4]["votes"] == 1 and entries[4]["riff_of"]["number"] == 1
    assert entries[4]["lineage"] == [1] and entries[4]["seed"] == 42
    assert entries[4]["prompt"] == "neon rain, slower, synthwave"
    assert entries[1]["requester_id"] == str(alice.id) and entries[1]["display_name"] == "alice"
    assert entries[1]["model"] == "google/lyria2" and entries[1]["job_id"] == job_id_of(first)
    assert all(e["audio"] is not None for e in entries.values()) and len(audio) == 5
    assert [e["number"] for e in manifest["entries"]][:2] == [1, 2]  # ranked: most votes first
    assert playlist.startswith("#EXTM3U") and playlist.index("entry1") < playlist.index("entry2")
    assert manifest["leaderboard"][0]["requester_id"] == str(alice.id)

    # The mod log: start, budget taken, end, budget returned.
    await modlog.wait_for(lambda m: m.content.startswith("💰") and "went back" in m.content)
    lines = [m.content for m in modlog.messages]
    assert any(line.startswith("🎶") and f"<#{thread.id}>" in line for line in lines)
    assert any("10 credits were taken" in line for line in lines)
    assert any(line.startswith("🏁") and f"<@{alice.id}>" in line for line in lines)
    assert any("5 credits went back" in line for line in lines)
