"""The fake AI/ML API itself: schema checks, status progression, scripted answers, CDN modes."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.aimlapi import FakeAimlApi, ManualClock, make_wav
from tests.fakes.api_schema import ApiSchema

ENDPOINT = "/v2/generate/audio"
GOOD_BODY = {"model": "google/lyria2", "prompt": "calm lo-fi piano"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def api(clock: ManualClock) -> AsyncIterator[FakeAimlApi]:
    async with FakeAimlApi(generation_seconds=10.0, time_source=clock) as fake:
        yield fake


@pytest.fixture
async def http(api: FakeAimlApi) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {api.api_key}"}
    async with aiohttp.ClientSession(base_url=api.base_url, headers=headers) as session:
        yield session


async def submit(http: aiohttp.ClientSession, body: Any = GOOD_BODY) -> tuple[int, Any]:
    async with http.post(ENDPOINT, json=body) as resp:
        return resp.status, await resp.json()


async def poll(http: aiohttp.ClientSession, generation_id: str) -> tuple[int, Any]:
    async with http.get(ENDPOINT, params={"generation_id": generation_id}) as resp:
        return resp.status, await resp.json()


def assert_http_error_shape(body: dict[str, Any], status: int) -> None:
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["statusCode"] == status and body["path"] == ENDPOINT


async def test_a_job_progresses_through_every_status_then_completes_with_a_cdn_link(
    api: FakeAimlApi, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    schema = ApiSchema.load()
    async with http.post(ENDPOINT, json=GOOD_BODY) as resp:
        assert resp.status == 200
        assert resp.headers["x-aimlapi-credits-used"] == "120000"
        created = await resp.json()
    assert schema.check_submit_response(created) == []
    assert created["status"] == "queued" and created["meta"]["usage"]["credits_used"] == 120000
    gid = created["id"]
    assert api.submissions == [GOOD_BODY]
    assert api.ready_at(gid) == clock.now + 10.0

    seen = [(await poll(http, gid))[1]["status"] for _ in range(4)]
    assert seen == ["queued", "generating", "waiting", "queued"]

    clock.now += 10.0
    status, done = await poll(http, gid)
    assert status == 200 and done["status"] == "completed"
    assert schema.check_poll_response(done) == []
    assert api.jobs[gid].polls == 5
    url = done["audio_file"]["url"]
    assert url.startswith(api.base_url + "/cdn/")

    async with aiohttp.ClientSession() as cdn, cdn.get(url) as resp:
        audio = await resp.read()
    assert audio == api.audio
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 48000)
        assert wav.getnframes() == 48000  # one second
    assert api.cdn_downloads == 1 and not api.cdn_saw_authorization
    assert api.schema_errors == []


async def test_wrong_or_missing_key_gets_401_in_the_http_error_shape(api: FakeAimlApi) -> None:
    async with aiohttp.ClientSession(base_url=api.base_url) as anon:
        async with anon.post(ENDPOINT, json=GOOD_BODY) as resp:
            assert resp.status == 401
            assert_http_error_shape(await resp.json(), 401)
        headers = {"Authorization": "Bearer wrong"}
        async with anon.get(ENDPOINT, params={"generation_id": "x"}, headers=headers) as resp:
            assert resp.status == 401
    assert api.submissions == [] and api.jobs == {}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "google/lyria2"}, "'prompt' is a required property"),
        ({"model": "other", "prompt": "x"}, "is not one of"),
        ({**GOOD_BODY, "seed": -1}, "minimum"),
        ({**GOOD_BODY, "negative_prompt": None}, "negative_prompt"),
        ({**GOOD_BODY, "duration": 30}, "unknown property 'duration'"),
    ],
)
async def test_schema_violations_are_recorded_and_answered_400(
    api: FakeAimlApi, http: aiohttp.ClientSession, body: dict[str, Any], fragment: str
) -> None:
    status, answer = await submit(http, body)
    assert status == 400
    assert_http_error_shape(answer, 400)
    assert api.schema_errors and any(fragment in e for e in api.schema_errors)
    assert api.submissions == []


async def test_poll_query_is_validated_and_unknown_ids_are_404(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    async with http.get(ENDPOINT) as resp:
        assert resp.status == 400
    assert api.schema_errors == ["GET query: missing required parameter 'generation_id'"]
    api.schema_errors.clear()
    status, answer = await poll(http, "no-such-id")
    assert status == 404
    assert_http_error_shape(answer, 404)
    assert api.schema_errors == []


async def test_prompt_over_600_characters_is_refused_like_the_provider(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    status, answer = await submit(http, {**GOOD_BODY, "prompt": "a" * 601})
    assert status == 400 and "600" in answer["message"]
    assert api.submissions == [] and api.schema_errors == []


async def test_scripted_submit_answers_are_used_in_order_then_normal_service_resumes(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    api.script_submit(429, headers={"Retry-After": "7"}, times=2)
    api.script_submit(503)
    for expected in (429, 429, 503):
        async with http.post(ENDPOINT, json=GOOD_BODY) as resp:
            assert resp.status == expected
            if expected == 429:
                assert resp.headers["Retry-After"] == "7"
            assert_http_error_shape(await resp.json(), expected)
    assert api.submissions == []
    status, _ = await submit(http)
    assert status == 200
    assert len(api.submissions) == 1 and len(api.posts) == 4


async def test_dropped_connection_with_accept_still_creates_the_job(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    api.script_submit(0, accept=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await submit(http)
    assert len(api.submissions) == 1 and len(api.jobs) == 1
    api.script_submit(502, accept=True)
    status, _ = await submit(http)
    assert status == 502 and len(api.jobs) == 2


async def test_scripted_poll_can_send_malformed_bodies(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    _, created = await submit(http)
    api.script_poll(200, raw=b'{"id": "abc", "stat')
    api.script_poll(502, raw=b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"})
    async with http.get(ENDPOINT, params={"generation_id": created["id"]}) as resp:
        assert resp.status == 200 and await resp.read() == b'{"id": "abc", "stat'
    async with http.get(ENDPOINT, params={"generation_id": created["id"]}) as resp:
        assert resp.status == 502 and resp.content_type == "text/html"
    status, answer = await poll(http, created["id"])
    assert status == 200 and answer["status"] == "queued"
    assert api.jobs[created["id"]].polls == 3


@pytest.mark.parametrize("shape", ["name", "detail"])
async def test_failed_generation_reports_status_error_in_both_shapes(
    api: FakeAimlApi, http: aiohttp.ClientSession, clock: ManualClock, shape: str
) -> None:
    api.fail_generation(shape=shape, message="prompt flagged")
    _, created = await submit(http)
    _, other = await submit(http)
    clock.now += 11
    status, failed = await poll(http, created["id"])
    assert status == 200 and failed["status"] == "error"
    if shape == "name":
        assert failed["error"] == {"name": "GenerationError", "message": "prompt flagged"}
    else:
        assert failed["error"]["detail"][0]["msg"] == "prompt flagged"
    _, ok = await poll(http, other["id"])
    assert ok["status"] == "completed"


async def test_generation_seconds_may_depend_on_the_body(clock: ManualClock) -> None:
    def seconds(body: dict[str, Any]) -> float:
        return 1.0 if body.get("seed") == 1 else 5.0

    async with FakeAimlApi(generation_seconds=seconds, time_source=clock) as api:
        headers = {"Authorization": "Bearer test-key"}
        async with aiohttp.ClientSession(base_url=api.base_url, headers=headers) as http:
            _, a = await submit(http, {**GOOD_BODY, "seed": 1})
            _, b = await submit(http, GOOD_BODY)
    assert api.ready_at(a["id"]) - api.jobs[a["id"]].created_at == 1.0
    assert api.ready_at(b["id"]) - api.jobs[b["id"]].created_at == 5.0


async def completed_url(api: FakeAimlApi, http: aiohttp.ClientSession) -> str:
    _, created = await submit(http)
    api.finish_now(created["id"])
    _, done = await poll(http, created["id"])
    url: str = done["audio_file"]["url"]
    return url


async def test_cdn_modes(api: FakeAimlApi, http: aiohttp.ClientSession) -> None:
    url = await completed_url(api, http)
    async with aiohttp.ClientSession() as cdn:
        api.cdn_mode = "404"
        async with cdn.get(url) as resp:
            assert resp.status == 404
        api.cdn_mode = "not_audio"
        async with cdn.get(url) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"<!DOCTYPE html>")
        api.cdn_mode = "truncated"
        with pytest.raises(aiohttp.ClientPayloadError):
            async with cdn.get(url) as resp:
                await resp.read()
        api.cdn_mode = "oversized"
        async with cdn.get(url) as resp:
            assert resp.content_length is not None and resp.content_length > 64 * 1024 * 1024
            head = await resp.content.readexactly(12)
            assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"
        async with cdn.get(url, headers={"Authorization": "Bearer leaked"}) as resp:
            pass
    assert api.cdn_downloads == 5
    assert api.cdn_saw_authorization
    with pytest.raises(ValueError, match="unknown cdn_mode"):
        api.cdn_mode = "flaky"


async def test_wait_for_wakes_on_requests_and_many_jobs_run_at_once(
    api: FakeAimlApi, http: aiohttp.ClientSession
) -> None:
    waiter = asyncio.create_task(api.wait_for(lambda: len(api.submissions) >= 200))
    results = await asyncio.gather(*(submit(http) for _ in range(200)))
    await asyncio.wait_for(waiter, 2)
    assert {status for status, _ in results} == {200}
    assert len({body["id"] for _, body in results}) == 200
    assert api.schema_errors == []


def test_make_wav_has_the_requested_length() -> None:
    with wave.open(io.BytesIO(make_wav(2.5, rate=16000))) as wav:
        assert wav.getnframes() == 40000 and wav.getframerate() == 16000
