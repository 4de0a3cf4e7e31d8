"""Cancel: only while queued, only by the requester or a member with Manage Server."""

from __future__ import annotations

import pytest

from tests.conftest import Harness


@pytest.mark.harness(env={"MAX_CONCURRENT_GENERATIONS": "1"})
async def test_queued_job_can_be_cancelled_by_its_requester_only(harness: Harness) -> None:
    harness.fake_api.generation_seconds = 3.0
    first = await harness.compose("the piece that is running", user=harness.bob)
    # Running (not merely acknowledged) before the second arrives, so the second is next in line.
    running = await harness.latest_job_id()
    await harness.wait_job_state(running, "submitting", "submitted", "completed")
    second = await harness.compose("the piece that waits")
    status = await harness.status_of(
        second, lambda m: any(c.startswith("jam:cancel:") for c in m.custom_ids())
    )
    assert "position 1" in status.content
    cancel_id = next(c for c in status.custom_ids() if c.startswith("jam:cancel:"))
    job_id = cancel_id.rsplit(":", 1)[1]

    # Bob neither asked for it nor moderates: refused, nothing changes.
    refused = await harness.fake_discord.click(status, cancel_id, user=harness.bob)
    ack = await refused.wait_for_ack()
    assert ack["data"]["flags"] & 64 and "Only the member" in ack["data"]["content"]
    assert (await harness.engine.get(job_id)).state.value == "queued"  # type: ignore[union-attr]

    done = await harness.fake_discord.click(status, cancel_id, user=harness.alice)
    ack = await done.wait_for_ack()
    assert "Cancelled" in ack["data"]["content"]
    await harness.wait_job_state(job_id, "cancelled")
    cancelled = await harness.status_of(second, lambda m: "Cancelled** by" in m.content)
    assert f"<@{harness.alice.id}>" in cancelled.content
    assert cancelled.custom_ids() == []

    await harness.result_of(first, timeout=15)
    assert len(harness.fake_api.submissions) == 1  # the cancelled piece was never sent


@pytest.mark.harness(env={"MAX_CONCURRENT_GENERATIONS": "1"})
async def test_moderator_can_cancel_and_late_cancel_is_explained(harness: Harness) -> None:
    harness.fake_api.generation_seconds = 2.0
    first = await harness.compose("running piece", user=harness.bob)
    first_status = await harness.status_of(
        first, lambda m: any(c.startswith("jam:cancel:") for c in m.custom_ids())
    )
    first_cancel = next(c for c in first_status.custom_ids() if c.startswith("jam:cancel:"))
    second = await harness.compose("waiting piece")
    status = await harness.status_of(
        second, lambda m: any(c.startswith("jam:cancel:") for c in m.custom_ids())
    )
    cancel_id = next(c for c in status.custom_ids() if c.startswith("jam:cancel:"))
    by_mod = await harness.fake_discord.click(status, cancel_id, user=harness.moderator)
    assert "Cancelled" in (await by_mod.wait_for_ack())["data"]["content"]

    # The first piece is already with the provider: too late to cancel.
    await harness.wait_job_state(first_cancel.rsplit(":", 1)[1], "submitted", "completed")
    late = await harness.fake_discord.click(first_status, first_cancel, user=harness.bob)
    assert "Too late" in (await late.wait_for_ack())["data"]["content"]
    await harness.result_of(first, timeout=15)
