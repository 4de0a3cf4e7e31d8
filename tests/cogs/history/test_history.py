"""/history: my recent tracks, privately and a page at a time; post one again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.audio_support import same_audio
from tests.conftest import Harness, job_id_of
from tests.fakes.discord import FakeMember, FakeMessage


async def make_tracks(harness: Harness, prompts: list[str]) -> list[str]:
    """Job ids of one delivered track per prompt, oldest first."""
    ids = []
    for prompt in prompts:
        result = await harness.result_of(await harness.compose(prompt))
        ids.append(job_id_of(result))
    return ids


async def history(
    harness: Harness, user: FakeMember | None = None, **options: object
) -> FakeMessage:
    interaction = await harness.fake_discord.invoke(
        "history", options, user=user or harness.alice, channel=harness.channel
    )
    ack = await interaction.wait_for_ack()
    assert ack["type"] == 5 and ack["data"]["flags"] & 64  # private
    return await interaction.wait_for_followup(lambda m: bool(m.content))


async def test_history_pages_newest_first_and_stays_private(harness: Harness) -> None:
    ids = await make_tracks(harness, [f"track number {i}" for i in range(6)])
    page = await history(harness)
    assert page.ephemeral
    assert "track number 5" in page.content and "track number 1" in page.content
    assert "track number 0" not in page.content  # on the next page
    assert page.content.index("track number 5") < page.content.index("track number 1")
    reposts = [c for c in page.custom_ids() if c.startswith("jam:repost:")]
    assert [c.split(":")[2] for c in reposts] == list(reversed(ids[1:]))
    older = next(c for c in page.custom_ids() if c.startswith("jam:history:"))
    clicked = await harness.fake_discord.click(page, older, user=harness.alice)
    ack = await clicked.wait_for_ack()
    assert ack["type"] == 7  # the same private message, now showing page 2
    assert "track number 0" in ack["data"]["content"] and "page 2" in ack["data"]["content"]


async def test_posting_again_uses_the_file_then_the_link_then_offers_to_make_it_again(
    harness: Harness,
) -> None:
    [job_id] = await make_tracks(harness, ["warm analog synthwave"])
    page = await history(harness)
    repost = next(c for c in page.custom_ids() if c.startswith(f"jam:repost:{job_id}"))

    clicked = await harness.fake_discord.click(page, repost, user=harness.alice)
    posted = await clicked.wait_for_original(lambda m: not m.loading)  # answered at once
    assert not posted.ephemeral and posted.attachments  # public, with the stored file
    assert same_audio(posted.attachments[0].data, harness.fake_api.audio)
    assert posted.attachments[1].filename == "waveform.png"
    assert posted.pings().users == set()  # re-posting pings nobody

    job = await harness.engine.get(job_id)
    assert job is not None and job.audio_path is not None
    await asyncio.to_thread(Path(job.audio_path).unlink)  # retention pruned the file
    clicked = await harness.fake_discord.click(page, repost, user=harness.alice)
    linked = await clicked.wait_for_original()
    assert not linked.attachments and "<http://127.0.0.1:" in linked.content

    await harness.db.execute("UPDATE jobs SET audio_url = NULL WHERE id = ?", (job_id,))
    clicked = await harness.fake_discord.click(page, repost, user=harness.alice)
    offer = await clicked.wait_for_original()
    assert offer.ephemeral and f"jam:remake:{job_id}" in offer.custom_ids()
    again = await harness.fake_discord.click(offer, f"jam:remake:{job_id}", user=harness.alice)
    await harness.result_of(again)
    first, second = harness.fake_api.submissions
    assert second["seed"] == first["seed"] and second["prompt"] == first["prompt"]


async def test_members_see_only_their_own_history_and_moderators_anyones(
    harness: Harness,
) -> None:
    await make_tracks(harness, ["alice's tune"])
    refused = await harness.fake_discord.invoke(
        "history", {"member": harness.alice}, user=harness.bob, channel=harness.channel
    )
    ack = await refused.wait_for_ack()
    assert ack["data"]["flags"] & 64 and "Only the member" in ack["data"]["content"]
    page = await history(harness, member=harness.alice, user=harness.moderator)
    assert "alice's tune" in page.content and f"<@{harness.alice.id}>'s" in page.content
    bobs = await history(harness, user=harness.bob)
    assert "none yet" in bobs.content
