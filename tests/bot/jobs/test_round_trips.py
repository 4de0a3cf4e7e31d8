"""Database work per job: the shared connection is the engine's bottleneck under load."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.aimlapi.errors import GenerationFailed
from bot.jobs.models import Delivery, DeliveryVia, JobState
from tests.bot.jobs.support import Harness, finished, open_harness, request


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as h:
        yield h


async def test_a_job_with_several_polls_costs_six_database_operations(harness: Harness) -> None:
    harness.client.polls_until_done = 5
    engine = await harness.started()
    before = harness.db.batched_operations

    job = await engine.enqueue(request(context={"token": "t"}))
    await harness.wait_until(lambda: [j.id for j in harness.recorder.finished] == [job.id])
    delivered = await engine.mark_delivered(job.id, Delivery(DeliveryVia.CHANNEL, message_id=77))

    # insert, queued→submitting, submitting→submitted, completion noticed (+ learnt time),
    # audio stored (completed), delivered (+ its record): polls are not written one by one.
    assert harness.db.batched_operations - before == 6
    assert delivered.state is JobState.DELIVERED
    assert delivered.context == {"token": "t"}
    assert delivered.delivery == Delivery(DeliveryVia.CHANNEL, message_id=77)
    assert delivered.poll_count == 5 and delivered.provider_status == "completed"
    assert len(await harness.store.generation_times()) == 1


async def test_a_failed_generation_keeps_its_poll_count(harness: Harness) -> None:
    harness.client.poll_script.extend(["queued", "generating"])
    engine = await harness.started()
    harness.client.poll_script.append(GenerationFailed("bad prompt", provider_message="nope"))
    done = await finished(engine, await engine.enqueue(request()))
    assert done.state is JobState.FAILED
    assert done.poll_count == 3 and done.provider_status == "error"
    row = await harness.store.get(done.id)
    assert row == done


async def test_delivering_twice_keeps_the_first_delivery(harness: Harness) -> None:
    engine = await harness.started()
    job = await finished(engine, await engine.enqueue(request()))
    first = Delivery(DeliveryVia.INTERACTION, message_id=1, channel_id=2)
    await engine.mark_delivered(job.id, first)
    again = await engine.mark_delivered(job.id, Delivery(DeliveryVia.DM, message_id=3))
    assert again.state is JobState.DELIVERED and again.delivery == first
    assert again.delivered_at == (await harness.store.get(job.id)).delivered_at  # type: ignore[union-attr]
