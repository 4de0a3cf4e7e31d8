"""Results larger than the upload limit: a link on an ordinary server, a file on a boosted one."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.fakes.aimlapi import make_wav

BIG_WAV = make_wav(660.0)  # 10.6 MB: over the 10 MiB upload limit of an unboosted server


@pytest.mark.harness(api={"audio": BIG_WAV})
async def test_audio_over_the_upload_limit_is_delivered_as_a_link(harness: Harness) -> None:
    interaction = await harness.compose("an epic orchestral suite")
    result = await harness.result_of(interaction)
    assert result.attachments == []
    assert "upload limit" in result.content
    assert "<http://127.0.0.1:" in result.content  # the CDN link, without an embed preview
    assert harness.fake_discord.upload_rejections == []  # decided before uploading
    fields = {f["name"]: f["value"] for f in result.embeds[0]["fields"]}
    assert fields["Size"] == "10.1 MiB"


@pytest.mark.harness(api={"audio": BIG_WAV}, premium_tier=2, delivery={"edit_interval": 0.2})
async def test_a_boosted_server_gets_the_big_file_attached(harness: Harness) -> None:
    harness.fake_api.generation_seconds = 1.0
    interaction = await harness.compose("an epic orchestral suite")
    result = await harness.result_of(interaction)
    assert len(result.attachments) == 1
    assert result.attachments[0].data == BIG_WAV
    status = await harness.status_of(interaction, lambda m: "Done" in m.content)
    # A multi-megabyte upload is announced while it runs.
    assert any("Uploading to Discord" in (body.get("content") or "") for body in status.history)
