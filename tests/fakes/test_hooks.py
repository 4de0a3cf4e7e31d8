"""`on_request`: the fakes act at the exact moment asked for, before the client sees an answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.aimlapi import FakeAimlApi, ManualClock
from tests.fakes.discord import FakeChannel, FakeDiscord
from tests.fakes.discord.wire import RecordedRequest as DiscordRequest
from tests.fakes.hooks import RequestHooks

ENDPOINT = "/v2/generate/audio"
BODY = {"model": "google/lyria2", "prompt": "calm lo-fi piano"}
MESSAGES = "/channels/{channel_id}/messages"


@pytest.fixture
async def api() -> AsyncIterator[FakeAimlApi]:
    async with FakeAimlApi(generation_seconds=10.0, time_source=ManualClock()) as fake:
        yield fake


@pytest.fixture
async def http(api: FakeAimlApi) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {api.api_key}"}
    async with aiohttp.ClientSession(base_url=api.base_url, headers=headers) as session:
        yield session


async def test_after_runs_once_the_job_exists_and_before_the_client_has_its_answer(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    seen: list[str] = []

    async def action(request: Any) -> None:
        seen.append(f"hook: {len(api.jobs)} job(s), {request.json['prompt']}")
        await asyncio.sleep(0)  # the answer waits for the whole action

    hook = api.on_request(lambda r: r.method == "POST", action)
    async with http.post(ENDPOINT, json=BODY) as resp:
        seen.append(f"answer: {resp.status}")
    async with http.post(ENDPOINT, json=BODY) as resp:  # times=1: fired once only
        seen.append(f"answer: {resp.status}")
    assert seen == ["hook: 1 job(s), calm lo-fi piano", "answer: 200", "answer: 200"]
    assert hook.fired == 1 and len(api.jobs) == 2


async def test_before_drops_the_request_unapplied(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    hook = api.on_request(lambda r: r.method == "POST", lambda r: None, when="before")
    with pytest.raises(aiohttp.ClientError):
        async with http.post(ENDPOINT, json=BODY) as resp:
            await resp.read()
    assert hook.fired == 1 and api.jobs == {} and api.submissions == []
    async with http.post(ENDPOINT, json=BODY) as resp:
        assert resp.status == 200
    assert len(api.jobs) == 1


async def test_a_predicate_sees_the_status_the_poll_is_about_to_answer(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    api.fail_generation(None, message="flagged")
    async with http.post(ENDPOINT, json=BODY) as resp:
        generation_id = (await resp.json())["id"]
    answered: list[str] = []

    def failed(request: Any) -> bool:
        job = api.jobs.get(request.query.get("generation_id", ""))
        return request.method == "GET" and job is not None and job.status == "error"

    hook = api.on_request(failed, lambda r: answered.append(f"hook after {len(answered)}"))
    for _ in range(2):
        async with http.get(ENDPOINT, params={"generation_id": generation_id}) as resp:
            answered.append((await resp.json())["status"])
    assert hook.fired == 0 and answered == ["queued", "generating"]
    api.finish_now(generation_id)
    async with http.get(ENDPOINT, params={"generation_id": generation_id}) as resp:
        answered.append((await resp.json())["status"])
    assert answered == ["queued", "generating", "hook after 2", "error"]


async def test_after_hooks_ignore_refused_requests(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    hook = api.on_request(lambda r: True, lambda r: None, times=None)
    async with http.post(ENDPOINT, json={"model": "google/lyria2"}) as resp:  # no prompt
        assert resp.status == 400
    assert hook.fired == 0
    api.schema_errors.clear()


async def test_cdn_requests_have_hooks_and_a_stall_can_send_a_given_amount(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    async with http.post(ENDPOINT, json=BODY) as resp:
        generation_id = (await resp.json())["id"]
    api.finish_now(generation_id)
    async with http.get(ENDPOINT, params={"generation_id": generation_id}) as resp:
        url = (await resp.json())["audio_file"]["url"]
    seen: list[str] = []
    hook = api.on_request(
        lambda r: r.path.startswith("/cdn/"),
        lambda r: seen.append(f"hook: {api.cdn_downloads} download(s)"),
    )
    async with http.get(url) as resp:
        seen.append(f"answer: {len(await resp.read())} bytes")
    assert seen == ["hook: 1 download(s)", f"answer: {len(api.audio)} bytes"]
    assert hook.fired == 1
    api.cdn_mode = "stall"
    api.cdn_stall_bytes = 5000
    async with http.get(url) as resp:
        first = await resp.content.readexactly(5000)
        assert first == api.audio[:5000]
        await api.close()  # ends the stall: the rest never comes
        with pytest.raises(aiohttp.ClientError):
            await resp.read()


async def test_every_matching_request_fires_with_times_none_and_hooks_can_be_cleared() -> None:
    hooks: RequestHooks[str] = RequestHooks()
    fired: list[str] = []
    hook = hooks.add(lambda r: r.startswith("a"), fired.append, times=None)
    for request in ("a1", "b", "a2"):
        await hooks.run("after", request)
    assert await hooks.run("before", "a3") is False  # registered for "after" only
    hooks.clear()
    assert await hooks.run("after", "a4") is False
    assert fired == ["a1", "a2"] and hook.fired == 2
    with pytest.raises(ValueError, match="when"):
        hooks.add(lambda r: True, fired.append, when="during")  # type: ignore[arg-type]


# -- the fake Discord ------------------------------------------------------------------------


async def post_message(discord: FakeDiscord, channel: FakeChannel, content: str) -> int:
    headers = {"Authorization": f"Bot {discord.bot_token}"}
    url = f"{discord.api_base_url}/channels/{channel.id}/messages"
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(url, json={"content": content}) as resp,
    ):
        await resp.read()
        return resp.status


async def test_discord_after_runs_once_the_message_is_stored_and_before_the_answer() -> None:
    async with FakeDiscord() as discord:
        channel = discord.add_guild("Hooks").add_text_channel("music")
        seen: list[str] = []

        async def action(request: DiscordRequest) -> None:
            stored = [m.content for m in channel.messages]
            seen.append(f"hook: {request.method} {request.template} {stored}")

        hook = discord.on_request(lambda r: r.template == MESSAGES, action)
        seen.append(f"answer: {await post_message(discord, channel, 'hello')}")
        assert seen == [f"hook: POST {MESSAGES} ['hello']", "answer: 200"]
        assert hook.fired == 1
        assert discord.problems() == []


async def test_discord_before_drops_the_request_unapplied() -> None:
    async with FakeDiscord() as discord:
        channel = discord.add_guild("Hooks").add_text_channel("music")
        hook = discord.on_request(
            lambda r: r.method == "POST" and r.body == {"content": "lost"},
            lambda r: None,
            when="before",
        )
        with pytest.raises(aiohttp.ClientError):
            await post_message(discord, channel, "lost")
        assert await post_message(discord, channel, "kept") == 200
        assert [m.content for m in channel.messages] == ["kept"]
        assert hook.fired == 1
        assert discord.problems() == []
