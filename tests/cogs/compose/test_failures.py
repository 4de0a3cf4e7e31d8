"""What members see when something goes wrong: every path ends in a polite, specific message."""

from __future__ import annotations

import pytest

from bot.quota.models import Requester
from tests.audio_support import same_audio
from tests.conftest import Harness
from tests.fakes.discord import FakeMessage


async def test_provider_failure_is_explained_with_the_providers_reason(harness: Harness) -> None:
    harness.fake_api.fail_generation(None, message="Prompt was blocked by the safety filter")
    interaction = await harness.compose("something the provider refuses")
    status = await harness.status_of(interaction, lambda m: "could not make" in m.content)
    # Said once, with the provider's words, the prompt, what it cost and what to do.
    assert status.content.count("Prompt was blocked by the safety filter") == 1
    assert "> something the provider refuses" in status.content
    assert "used one track of your allowance" in status.content
    assert "Rephrasing" in status.content
    assert status.custom_ids() == []  # no Cancel button left behind
    assert interaction.followups == []
    assert harness.bot_messages() == [status]


@pytest.mark.harness(api={"api_key": "the-right-key"})
async def test_account_problem_shows_a_generic_message_and_no_details(harness: Harness) -> None:
    owner = harness.fake_discord.owner  # the application's owner: OWNER_IDS is not set
    harness.fake_api.api_key = "a-different-key"  # the bot's key is now refused (401)
    interaction = await harness.compose("calm piano")
    status = await harness.status_of(interaction, lambda m: "API account" in m.content)
    assert "401" not in status.content and "key" not in status.content.lower()
    assert "Nothing was used from your allowance" in status.content
    assert "owner has been told" in status.content  # and so they were:
    # The owner hears about it by DM, once per hour at most.
    owner_dm = harness.fake_discord.dm_channel(owner)
    alert = await owner_dm.wait_for(lambda m: "AIMLAPI_KEY" in m.content)
    assert "Unauthorized" in alert.content
    second = await harness.compose("another piece", user=harness.bob)
    await harness.status_of(second, lambda m: "API account" in m.content)
    await harness.bot.tasks.wait_idle()
    assert len(harness.bot_messages(owner_dm)) == 1


@pytest.mark.harness(env={"MEMBER_LIMIT_PER_WINDOW": "1"})
async def test_quota_refusal_is_polite_and_changes_nothing(harness: Harness) -> None:
    first = await harness.compose("first piece")
    result = await harness.result_of(first)
    await harness.status_of(first, lambda m: m.deleted)

    second = await harness.compose("second piece")
    ack = await second.wait_for_ack()
    # Private: nobody else sees that alice reached her limit.
    assert ack["type"] == 4 and ack["data"]["flags"] & 64
    refusal = ack["data"]["content"]
    assert refusal.startswith("🙏") and "1 track per hour" in refusal and "<t:" in refusal
    assert len(harness.fake_api.submissions) == 1
    assert second.followups == []
    assert [m for m in harness.bot_messages() if not m.deleted and not m.ephemeral] == [result]
    # Someone else is not affected by alice's limit.
    third = await harness.compose("bob's piece", user=harness.bob)
    await harness.result_of(third)
    assert len(harness.fake_api.submissions) == 2


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"prompt": "   "}, "cannot be empty"),
        ({"prompt": "x", "negative_prompt": "   "}, None),
    ],
)
async def test_blank_prompt_gets_an_ephemeral_answer_and_reserves_nothing(
    harness: Harness, options: dict[str, str], expected: str | None
) -> None:
    prompt = options.pop("prompt")
    interaction = await harness.compose(prompt, **options)
    ack = await interaction.wait_for_ack()
    if expected is None:  # a blank negative prompt is simply dropped
        result = await harness.result_of(interaction)
        assert "negative_prompt" not in harness.fake_api.submissions[0]
        assert result.embeds
        return
    assert ack["type"] == 4
    assert ack["data"]["flags"] & 64  # ephemeral
    assert expected in ack["data"]["content"]
    assert harness.fake_api.submissions == []
    remaining = await harness.bot.services.quota.queries.remaining(
        Requester(
            user_id=harness.alice.id, guild_id=harness.guild.id, channel_id=harness.channel.id
        )
    )
    assert remaining.member_remaining == 20


async def test_deleted_status_message_does_not_lose_the_failure_notice(harness: Harness) -> None:
    harness.fake_api.generation_seconds = 1.0
    harness.fake_api.fail_generation(None, message="Lyria had a bad day")
    interaction = await harness.compose("a piece whose status message disappears")
    status = await harness.status_of(interaction, lambda m: m.edit_count >= 1)
    status.deleted = True  # a moderator deleted it

    def is_notice(message: FakeMessage) -> bool:
        return message.id != status.id and "Lyria had a bad day" in message.content

    notice = await harness.channel.wait_for(is_notice, timeout=10)
    assert notice.content.startswith(f"<@{harness.alice.id}>")
    assert (notice.allowed_mentions or {}).get("parse") == []


async def test_deleted_status_message_still_gets_the_result_and_no_edit_storm(
    harness: Harness,
) -> None:
    harness.fake_api.generation_seconds = 4.0
    interaction = await harness.compose("a piece whose status message is deleted")
    status = await harness.status_of(interaction, lambda m: m.edit_count >= 1)
    status.deleted = True
    result = await harness.result_of(interaction, timeout=15)
    assert result.attachments and same_audio(result.attachments[0].data, harness.fake_api.audio)
    await harness.wait_job_state(await harness.latest_job_id(), "delivered")
    misses = [r for r in harness.fake_discord.requests if r.method == "PATCH" and r.status == 404]
    assert len(misses) == 1  # found gone once, then left alone
