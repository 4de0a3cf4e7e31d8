"""LyriaClient against the fake AI/ML API over loopback: submit, poll, download, every failure."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.aimlapi import (
    USER_AGENT,
    AmbiguousSubmission,
    BadRequest,
    ConnectionFailed,
    DownloadError,
    GenerationFailed,
    GenerationRequest,
    LyriaClient,
    MalformedResponse,
    NotFound,
    OutOfCredits,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UpstreamTimeout,
)
from bot.aimlapi import client as client_module
from tests.fakes.aimlapi import FakeAimlApi, ManualClock, make_wav

KEY = "sk-secret-test-key-0123456789"
PROMPT = GenerationRequest(prompt="warm jazz trio, brushed drums")


class Sleeps:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(2_000_000.0)


@pytest.fixture
async def api(clock: ManualClock) -> AsyncIterator[FakeAimlApi]:
    async with FakeAimlApi(api_key=KEY, generation_seconds=30.0, time_source=clock) as fake:
        yield fake
        assert fake.schema_errors == []


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(
    session: aiohttp.ClientSession, base_url: str, sleeps: Sleeps, **kwargs: Any
) -> LyriaClient:
    options: dict[str, Any] = {"request_timeout": 2.0, "sleep": sleeps, "jitter": lambda: 0.0}
    options.update(kwargs)
    return LyriaClient(session, api_key=options.pop("api_key", KEY), base_url=base_url, **options)


@pytest.fixture
def client(session: aiohttp.ClientSession, api: FakeAimlApi, sleeps: Sleeps) -> LyriaClient:
    return make_client(session, api.base_url, sleeps)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- submit ---------------------------------------------------------------------------------


async def test_submit_sends_exactly_the_documented_body_with_auth_and_user_agent(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    sub = await client.submit(PROMPT)
    assert sub.generation_id in api.jobs and sub.status == "queued"
    assert sub.usage.credits_used == 120000.0
    assert sub.usage.headers["x-aimlapi-credits-used"] == "120000"
    assert api.submissions == [{"model": "google/lyria2", "prompt": PROMPT.prompt}]
    (post,) = api.posts
    assert post.headers["Authorization"] == f"Bearer {KEY}"
    assert post.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("lyria-jam-bot/")

    await client.submit(GenerationRequest(prompt="p", negative_prompt="vocals", seed=0))
    assert api.submissions[1] == {
        "model": "google/lyria2",
        "prompt": "p",
        "negative_prompt": "vocals",
        "seed": 0,
    }


async def test_base_url_may_have_a_trailing_slash_and_a_path_prefix(
    session: aiohttp.ClientSession, sleeps: Sleeps
) -> None:
    async with FakeAimlApi(api_key=KEY, path_prefix="/proxy/aiml") as api:
        client = make_client(session, api.base_url + "/", sleeps)
        sub = await client.submit(PROMPT)
        result = await client.poll(sub.generation_id)
    assert result.state == "pending"
    assert [r.path for r in api.requests] == ["/proxy/aiml/v2/generate/audio"] * 2
    assert api.schema_errors == []


async def test_the_key_never_appears_in_repr_errors_or_logs(
    api: FakeAimlApi,
    session: aiohttp.ClientSession,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(session, api.base_url, sleeps, api_key="sk-wrong-key-987")
    assert "sk-wrong" not in repr(client)
    with pytest.raises(Unauthorized) as info:
        await client.submit(PROMPT)
    assert info.value.account_problem and info.value.status == 401
    assert info.value.request_id  # the provider's requestId is kept for support tickets
    for text in (str(info.value), repr(info.value), caplog.text):
        assert "sk-wrong" not in text
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer x"}) as leaky:
        with pytest.raises(ValueError, match="Authorization"):
            LyriaClient(leaky, api_key=KEY, base_url=api.base_url)


async def test_429_is_retried_with_the_providers_retry_after(
    api: FakeAimlApi, client: LyriaClient, sleeps: Sleeps
) -> None:
    api.script_submit(429, headers={"Retry-After": "2"}, times=2)
    sub = await client.submit(PROMPT)
    assert len(api.posts) == 3 and len(api.submissions) == 1
    assert sub.generation_id in api.jobs
    assert sleeps.delays == [2.0, 2.0]


async def test_retry_after_as_an_http_date_and_capped(
    api: FakeAimlApi, session: aiohttp.ClientSession, sleeps: Sleeps
) -> None:
    client = make_client(session, api.base_url, sleeps, max_retry_delay=10.0)
    api.script_submit(429, headers={"Retry-After": formatdate(time.time() + 5, usegmt=True)})
    api.script_submit(503, headers={"Retry-After": "3600"})
    await client.submit(PROMPT)
    assert len(api.posts) == 3
    assert 3.0 <= sleeps.delays[0] <= 5.0
    assert sleeps.delays[1] == 10.0

    api.script_submit(429, headers={"Retry-After": "soon"})  # unreadable: plain backoff
    await client.submit(PROMPT)
    assert sleeps.delays[2] == 0.5


async def test_after_the_attempts_the_last_refusal_is_raised_safe_to_resubmit(
    api: FakeAimlApi, client: LyriaClient, sleeps: Sleeps
) -> None:
    api.script_submit(503, times=3)
    with pytest.raises(ServiceUnavailable) as info:
        await client.submit(PROMPT)
    assert info.value.safe_to_resubmit and info.value.transient
    assert len(api.posts) == 3 and api.jobs == {}
    assert sleeps.delays == [0.5, 1.0]  # exponential backoff; jitter injected as 0

    api.script_submit(429, times=3)
    with pytest.raises(RateLimited) as limited:
        await client.submit(PROMPT)
    assert limited.value.safe_to_resubmit and limited.value.retry_after is None
    assert len(api.posts) == 6


async def test_backoff_jitter_stays_within_half_to_full_delay(
    api: FakeAimlApi, session: aiohttp.ClientSession, sleeps: Sleeps
) -> None:
    client = make_client(session, api.base_url, sleeps, submit_attempts=4, jitter=lambda: 1.0)
    api.script_submit(503, times=3)
    await client.submit(PROMPT)
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert len(api.posts) == 4


async def test_connection_refused_is_retried_then_raised(
    session: aiohttp.ClientSession, sleeps: Sleeps, closed_port: int
) -> None:
    client = make_client(session, f"http://127.0.0.1:{closed_port}", sleeps)
    with pytest.raises(ConnectionFailed) as info:
        await client.submit(PROMPT)
    assert info.value.safe_to_resubmit
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_errors_after_sending_are_ambiguous_and_sent_once(
    api: FakeAimlApi, client: LyriaClient, sleeps: Sleeps, status: int
) -> None:
    api.script_submit(status, accept=True)
    with pytest.raises(AmbiguousSubmission) as info:
        await client.submit(PROMPT)
    assert not info.value.safe_to_resubmit and info.value.status == status
    assert isinstance(info.value.__cause__, ServerError)
    assert len(api.posts) == 1 and len(api.jobs) == 1 and sleeps.delays == []


async def test_a_dropped_connection_after_sending_is_ambiguous(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    api.script_submit(0, accept=True)
    with pytest.raises(AmbiguousSubmission) as info:
        await client.submit(PROMPT)
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    assert len(api.posts) == 1 and len(api.jobs) == 1


async def test_a_timeout_is_ambiguous(api: FakeAimlApi, session: aiohttp.ClientSession) -> None:
    client = make_client(session, api.base_url, Sleeps(), request_timeout=0.2)
    api.script_submit(200, delay=2.0)  # the normal answer, too late: the job exists
    with pytest.raises(AmbiguousSubmission) as info:
        await client.submit(PROMPT)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert len(api.posts) == 1 and len(api.jobs) == 1


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", None),
        (b'{"id": "abc", "sta', None),
        (None, {"status": "queued"}),
        (None, {"id": "", "status": "queued"}),
        (None, ["not", "an", "object"]),
    ],
)
async def test_an_unreadable_200_is_ambiguous(
    api: FakeAimlApi, client: LyriaClient, raw: bytes | None, body: Any
) -> None:
    api.script_submit(200, body, raw=raw, accept=True)
    with pytest.raises(AmbiguousSubmission) as info:
        await client.submit(PROMPT)
    assert isinstance(info.value.__cause__, MalformedResponse)
    assert len(api.posts) == 1


async def test_400_carries_the_providers_message_in_both_shapes(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    with pytest.raises(BadRequest) as too_long:
        await client.submit(GenerationRequest(prompt="x" * 601))
    assert too_long.value.provider_message and "600" in too_long.value.provider_message
    assert too_long.value.request_id

    detail = {"error": {"detail": [{"loc": ["body", "prompt"], "msg": "prompt is unsafe"}]}}
    api.script_submit(400, detail)
    with pytest.raises(BadRequest) as shaped:
        await client.submit(PROMPT)
    assert shaped.value.provider_message == "prompt: prompt is unsafe"
    assert len(api.posts) == 2 and api.jobs == {}


@pytest.mark.parametrize(
    ("status", "error_type"), [(401, Unauthorized), (403, OutOfCredits), (404, NotFound)]
)
async def test_definite_refusals_are_typed_and_not_retried(
    api: FakeAimlApi, client: LyriaClient, status: int, error_type: type[Exception]
) -> None:
    api.script_submit(status)
    with pytest.raises(error_type):
        await client.submit(PROMPT)
    assert len(api.posts) == 1


async def test_a_200_with_status_error_on_submit_is_a_failed_generation(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    api.script_submit(
        200, {"id": "x1", "status": "error", "error": {"name": "Blocked", "message": "no"}}
    )
    with pytest.raises(GenerationFailed) as info:
        await client.submit(PROMPT)
    assert info.value.name == "Blocked" and info.value.provider_message == "no"


# -- poll -----------------------------------------------------------------------------------


async def test_poll_reports_pending_statuses_then_the_completed_url(
    api: FakeAimlApi, client: LyriaClient, clock: ManualClock
) -> None:
    sub = await client.submit(PROMPT)
    statuses = []
    for _ in range(3):
        result = await client.poll(sub.generation_id)
        assert result.state == "pending" and result.audio_url is None
        statuses.append(result.status)
    assert statuses == ["queued", "generating", "waiting"]
    clock.now = api.ready_at(sub.generation_id)
    done = await client.poll(sub.generation_id)
    assert done.state == "completed" and done.status == "completed"
    assert done.audio_url is not None and done.audio_url.startswith(api.origin + "/cdn/")
    assert done.usage.credits_used == 120000.0
    assert api.jobs[sub.generation_id].polls == 4
    assert len(api.polls) == 4


async def test_opaque_ids_are_url_encoded(
    session: aiohttp.ClientSession, sleeps: Sleeps, clock: ManualClock
) -> None:
    weird = "a+b/c d&e=f:g%?#"
    async with FakeAimlApi(api_key=KEY, id_factory=lambda: weird, time_source=clock) as api:
        client = make_client(session, api.base_url, sleeps)
        sub = await client.submit(PROMPT)
        assert sub.generation_id == weird
        result = await client.poll(weird)
    assert result.generation_id == weird and result.state == "pending"
    assert api.jobs[weird].polls == 1 and api.schema_errors == []


async def test_an_unknown_non_terminal_status_is_pending_and_logged_once(
    api: FakeAimlApi, client: LyriaClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.script_poll(200, {"id": "x", "status": "mixing"}, times=2)
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        result = await client.poll("x")
        assert (result.state, result.status) == ("pending", "mixing")
    assert caplog.text.count("unknown status 'mixing'") == 1


@pytest.mark.parametrize(
    ("shape", "message", "expected"),
    [
        ("name", "Audio violates policy", "Audio violates policy"),
        ("detail", "too long", "prompt: too long"),
    ],
)
async def test_failed_generations_raise_with_the_providers_reason(
    api: FakeAimlApi,
    client: LyriaClient,
    clock: ManualClock,
    shape: str,
    message: str,
    expected: str,
) -> None:
    sub = await client.submit(PROMPT)
    api.fail_generation(sub.generation_id, shape=shape, message=message)
    clock.now = api.ready_at(sub.generation_id)
    with pytest.raises(GenerationFailed) as info:
        await client.poll(sub.generation_id)
    assert info.value.provider_message == expected
    assert info.value.name == ("GenerationError" if shape == "name" else None)
    assert not info.value.transient


async def test_completed_without_a_url_is_malformed(api: FakeAimlApi, client: LyriaClient) -> None:
    api.script_poll(200, {"id": "x", "status": "completed", "audio_file": None})
    with pytest.raises(MalformedResponse):
        await client.poll("x")


async def test_poll_http_errors_are_typed_and_never_retried(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    with pytest.raises(NotFound):
        await client.poll("no-such-job")
    api.script_poll(500)
    with pytest.raises(ServerError) as server:
        await client.poll("x")
    assert server.value.transient
    api.script_poll(429, headers={"Retry-After": "4"})
    with pytest.raises(RateLimited) as limited:
        await client.poll("x")
    assert limited.value.retry_after == 4.0
    api.script_poll(200, raw=b"<html>oops</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(MalformedResponse):
        await client.poll("x")
    api.script_poll(401)
    with pytest.raises(Unauthorized):
        await client.poll("x")
    api.script_poll(408)
    with pytest.raises(UpstreamTimeout):
        await client.poll("x")
    assert len(api.polls) == 6


async def test_large_answers_are_read_whole_up_to_the_cap(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    padding = "x" * 600_000  # arrives in many TCP segments
    body = {"id": "x", "status": "generating", "note": padding}
    api.script_poll(200, raw=json.dumps(body).encode())
    assert (await client.poll("x")).status == "generating"
    api.script_poll(200, raw=json.dumps({**body, "note": padding * 2}).encode())
    with pytest.raises(MalformedResponse, match="too large"):
        await client.poll("x")


async def test_poll_timeout_is_an_upstream_timeout(
    api: FakeAimlApi, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, api.base_url, Sleeps(), request_timeout=0.2)
    api.script_poll(200, {"id": "x", "status": "queued"}, delay=2.0)
    with pytest.raises(UpstreamTimeout) as info:
        await client.poll("x")
    assert info.value.transient


async def test_a_dropped_poll_is_an_upstream_timeout(api: FakeAimlApi, client: LyriaClient) -> None:
    api.script_poll(0, times=2)  # aiohttp itself resends a GET once on a reused connection
    with pytest.raises(UpstreamTimeout) as info:
        await client.poll("x")
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    assert 1 <= len(api.polls) <= 2


async def test_a_slow_poll_with_extra_headers_keeps_usage_headers(
    api: FakeAimlApi, client: LyriaClient
) -> None:
    sub = await client.submit(PROMPT)
    api.script_poll(200, headers={"x-aimlapi-queue-position": "3"}, delay=0.05)
    result = await client.poll(sub.generation_id)
    assert result.state == "pending"
    assert result.usage.headers["x-aimlapi-queue-position"] == "3"
    # a pending poll has no meta.usage; the credits then come from the usage header
    assert result.usage.credits_used == 120000.0


async def test_poll_of_an_unreachable_api_is_a_connection_failure(
    session: aiohttp.ClientSession, sleeps: Sleeps, closed_port: int
) -> None:
    client = make_client(session, f"http://127.0.0.1:{closed_port}", sleeps)
    with pytest.raises(ConnectionFailed):
        await client.poll("x")
    assert sleeps.delays == []


# -- download -------------------------------------------------------------------------------


def files_in(folder: Path) -> list[str]:
    """Names in `folder`, sorted (a plain function: tiny blocking reads are fine in tests)."""
    return sorted(p.name for p in folder.iterdir())


async def finished_url(api: FakeAimlApi, client: LyriaClient) -> str:
    sub = await client.submit(PROMPT)
    api.finish_now(sub.generation_id)
    result = await client.poll(sub.generation_id)
    assert result.audio_url is not None
    return result.audio_url


async def test_download_streams_verifies_and_reads_the_duration(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path
) -> None:
    api.audio = make_wav(2.0, rate=16000)
    url = await finished_url(api, client)
    dest = tmp_path / "out" / "job.wav"
    audio = await client.download(url, dest, max_bytes=10 * 1024 * 1024)
    assert dest.read_bytes() == api.audio
    assert audio.path == dest and audio.size_bytes == len(api.audio)
    assert audio.content_type == "audio/wav" and audio.source_url == url
    assert audio.duration_seconds == pytest.approx(2.0)
    assert files_in(dest.parent) == ["job.wav"]
    assert api.cdn_downloads == 1 and not api.cdn_saw_authorization
    assert api.cdn_requests[0].headers["User-Agent"] == USER_AGENT


async def test_download_costs_few_worker_thread_hops(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each hop is a wake-up of the event loop; a file within one write buffer needs exactly one
    # (mkdir, open, write, close, duration, move), a bigger one one more per buffer.
    hops: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counting(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real_to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    api.audio = make_wav(2.0, rate=16000)  # 64 KB
    url = await finished_url(api, client)
    audio = await client.download(url, tmp_path / "new" / "one.wav", max_bytes=1024 * 1024)
    assert hops == ["finish"] and audio.duration_seconds == pytest.approx(2.0)

    hops.clear()
    monkeypatch.setattr(client_module, "WRITE_BUFFER_BYTES", 16 * 1024)
    audio = await client.download(url, tmp_path / "two.wav", max_bytes=1024 * 1024)
    assert hops[-1] == "finish" and 2 <= len(hops) <= 1 + len(api.audio) // (16 * 1024)
    assert (tmp_path / "two.wav").read_bytes() == api.audio


async def test_download_follows_a_cdn_redirect_without_the_key(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path
) -> None:
    url = await finished_url(api, client)
    api.cdn_mode = "redirect"
    audio = await client.download(url, tmp_path / "r.wav", max_bytes=1024 * 1024)
    assert audio.size_bytes == len(api.audio)
    assert [r.query for r in api.cdn_requests] == [{}, {"hop": "1"}]
    assert not api.cdn_saw_authorization


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("404", "gone"),
        ("410", "gone"),
        ("500", "http"),
        ("truncated", "truncated"),
        ("oversized", "too_large"),
        ("oversized_chunked", "too_large"),
        ("not_audio", "not_audio"),
    ],
)
async def test_download_failures_leave_no_file(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path, mode: str, reason: str
) -> None:
    url = await finished_url(api, client)
    api.cdn_mode = mode
    dest = tmp_path / "job.wav"
    with pytest.raises(DownloadError) as info:
        await client.download(url, dest, max_bytes=8 * 1024 * 1024)
    assert info.value.reason == reason
    assert files_in(tmp_path) == []
    assert not api.cdn_saw_authorization


async def test_download_stops_exactly_past_the_cap(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path
) -> None:
    url = await finished_url(api, client)
    size = len(api.audio)
    ok = await client.download(url, tmp_path / "exact.wav", max_bytes=size)
    assert ok.size_bytes == size
    with pytest.raises(DownloadError) as info:
        await client.download(url, tmp_path / "over.wav", max_bytes=size - 1)
    assert info.value.reason == "too_large"
    assert files_in(tmp_path) == ["exact.wav"]


async def test_download_network_failures(
    api: FakeAimlApi,
    client: LyriaClient,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    closed_port: int,
) -> None:
    # Another loopback port is refused outright unless AUDIO_URL_ALLOW lets it in.
    local = make_client(session, api.base_url, Sleeps(), audio_url_allow=("127.0.0.1",))
    with pytest.raises(DownloadError) as refused:
        await local.download(
            f"http://127.0.0.1:{closed_port}/x.wav", tmp_path / "a.wav", max_bytes=1
        )
    assert refused.value.reason == "network" and refused.value.transient

    url = await finished_url(api, client)
    api.cdn_mode = "stall"
    slow = make_client(session, api.base_url, Sleeps(), request_timeout=0.3)
    with pytest.raises(DownloadError) as stalled:
        await slow.download(url, tmp_path / "b.wav", max_bytes=1024 * 1024)
    assert stalled.value.reason == "network"
    assert files_in(tmp_path) == []


async def test_a_cancelled_download_leaves_no_partial_file(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bytes go to disk in buffers (a small file only at the end); write every chunk at once so
    # that the stalled download has a part file on disk when it is cancelled.
    monkeypatch.setattr(client_module, "WRITE_BUFFER_BYTES", 1)
    url = await finished_url(api, client)
    api.cdn_mode = "stall"
    task = asyncio.create_task(client.download(url, tmp_path / "c.wav", max_bytes=1024 * 1024))
    await api.wait_for(lambda: api.cdn_downloads == 1)
    for _ in range(200):  # let the first bytes arrive and the part file appear
        if files_in(tmp_path):
            break
        await asyncio.sleep(0.01)
    (part,) = files_in(tmp_path)
    assert part.startswith(".c.wav.") and part.endswith(".part")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("mode", ["ok", "404"])
async def test_a_download_removes_what_a_killed_download_of_the_same_file_left(
    api: FakeAimlApi, client: LyriaClient, tmp_path: Path, mode: str
) -> None:
    # A SIGKILL leaves a part file no `finally` removed (issue 8, item 9); the next download
    # to the same file (the job resumed) removes it, whether it succeeds or not.
    url = await finished_url(api, client)
    (tmp_path / ".job.wav.0123abcd.part").write_bytes(b"RIFF" + bytes(4096))
    (tmp_path / ".other.wav.0123abcd.part").write_bytes(b"another job's, still running")
    api.cdn_mode = mode
    with contextlib.suppress(DownloadError):
        await client.download(url, tmp_path / "job.wav", max_bytes=1024 * 1024)
    expected = ["job.wav"] if mode == "ok" else []
    assert files_in(tmp_path) == sorted([".other.wav.0123abcd.part", *expected])
