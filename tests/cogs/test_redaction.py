"""A secret the provider echoes back never reaches a member or a stored row."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Harness

KEY = "sk-live-0123456789abcdef"


def discord_bodies(harness: Harness) -> str:
    """Everything the bot sent to Discord (every message, edit and followup body)."""
    return json.dumps([r.body for r in harness.fake_discord.requests], default=str)


async def stored_rows(harness: Harness) -> str:
    rows = await harness.db.fetchall("SELECT * FROM jobs")
    return json.dumps([tuple(row) for row in rows], default=str)


@pytest.mark.harness(api={"api_key": KEY})
async def test_a_key_echoed_in_a_failure_reaches_no_member_and_no_row(harness: Harness) -> None:
    harness.fake_api.fail_generation(None, message=f"quota exceeded for key {KEY}, sorry")
    failed = await harness.compose("calm piano")
    status = await harness.status_of(failed, lambda m: "could not make" in m.content)
    assert "quota exceeded for key" in status.content and "sorry" in status.content

    harness.fake_api.script_submit(
        400, body={"message": f"bad prompt (key {KEY})", "statusCode": 400, "path": "/x"}
    )
    refused = await harness.compose("loud drums")
    await harness.status_of(refused, lambda m: "refused this prompt" in m.content)

    # A header the provider echoes it in is stored with the usage headers.
    harness.fake_api.script_submit(200, headers={"x-aimlapi-note": f"billed to {KEY}"})
    done = await harness.compose("soft strings")
    await harness.result_of(done)

    await harness.bot.tasks.wait_idle()
    assert KEY not in discord_bodies(harness)
    rows = await stored_rows(harness)
    assert "quota exceeded for key" in rows and "billed to" in rows
    assert KEY not in rows
