"""A completion pointing at an internal address fails cleanly: nothing fetched, nothing posted."""

from __future__ import annotations

import json
import socket

from bot.jobs.models import ErrorKind, JobState
from tests.conftest import Harness


async def test_an_internal_audio_url_fails_the_job_and_is_never_posted(harness: Harness) -> None:
    with socket.socket() as probe:  # another loopback port: an internal service
        probe.bind(("127.0.0.1", 0))
        internal = f"http://127.0.0.1:{probe.getsockname()[1]}/admin/secret.wav"
        harness.fake_api.audio_url_override = internal
        interaction = await harness.compose("calm piano")
        job_id = await harness.latest_job_id()
        job = await harness.wait_job_state(job_id, "failed")
    assert job.error_kind is ErrorKind.REFUSED_URL and job.error_detail == "refused_url"
    assert job.state is JobState.FAILED
    await harness.status_of(interaction, lambda m: m.content.startswith("❌"))
    await harness.bot.tasks.wait_idle()
    sent = json.dumps([r.body for r in harness.fake_discord.requests], default=str)
    assert "/admin/secret.wav" not in sent and "127.0.0.1:" not in sent
    assert interaction.followups == []
    assert harness.fake_api.cdn_downloads == 0


async def test_a_cdn_redirect_to_an_internal_address_fails_the_job_without_its_link(
    harness: Harness,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        internal = f"http://127.0.0.1:{probe.getsockname()[1]}/admin/secret.wav"
        harness.fake_api.cdn_redirect_to = internal
        interaction = await harness.compose("calm piano")
        job_id = await harness.latest_job_id()
        job = await harness.wait_job_state(job_id, "failed")
    assert job.error_kind is ErrorKind.REFUSED_URL and job.audio_url is None
    assert harness.fake_api.cdn_downloads == 1  # the provider's own link, then no further
    status = await harness.status_of(interaction, lambda m: m.content.startswith("❌"))
    assert "somewhere I do not fetch from" in status.content
    await harness.bot.tasks.wait_idle()
    sent = json.dumps([r.body for r in harness.fake_discord.requests], default=str)
    assert "/admin/secret.wav" not in sent and "/cdn/" not in sent  # nor the provider's link
    assert interaction.followups == []
