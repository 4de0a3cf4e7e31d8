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
    assert "it is 10.1 MiB, over this server's 10.0 MiB upload limit" in result.content


# edit_interval=0: the throttle never holds the "uploading" edit back, so whether it is sent
# depends only on the file's size, not on when the last progress edit happened to land.
@pytest.mark.harness(api={"audio": BIG_WAV}, premium_tier=2, delivery={"edit_interval": 0.0})
async def test_a_boosted_server_gets_the_big_file_attached(harness: Harness) -> None:
    interaction = await harness.compose("an epic orchestral suite")
    result = await harness.result_of(interaction)
    assert len(result.attachments) == 1
    assert result.attachments[0].data == BIG_WAV
    assert harness.fake_discord.upload_rejections == []
    status = await harness.status_of(interaction, lambda m: m.deleted)
    # A multi-megabyte upload is announced before it starts (the edit goes first on the token).
    contents = [body.get("content") or "" for body in status.history]
    assert any("Uploading to Discord" in text for text in contents), contents
    patches = [r for r in harness.fake_discord.requests if r.method == "PATCH"]
    posts = [r for r in harness.fake_discord.requests if r.uploads]
    announce = next(r for r in patches if "Uploading" in ((r.body or {}).get("content") or ""))
    requests = harness.fake_discord.requests
    assert requests.index(announce) < requests.index(posts[0])
