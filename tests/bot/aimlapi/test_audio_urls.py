"""Where the provider's audio URL may point: https (or the API's own origin), never a private,
loopback or link-local address, checked after DNS, at every redirect and on the connected peer.

Everything runs on loopback, where the fake API and its CDN share one origin (trusted: it is the
API's own). Other loopback servers here play the internal services a hostile answer points at.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.aimlapi import DownloadError, GenerationRequest, LyriaClient
from tests.fakes.aimlapi import FakeAimlApi, make_wav

PROMPT = GenerationRequest(prompt="warm jazz trio")


class Internal:
    """A loopback HTTP server standing for an internal service; counts what reached it."""

    def __init__(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.hits: list[str] = []
        self._handler = handler
        self._runner: web.AppRunner | None = None
        self.origin = ""
        self.port = 0

    async def __aenter__(self) -> Internal:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.hits.append(request.path_qs)
            return await self._handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def secret_audio(request: web.Request) -> web.StreamResponse:
    return web.Response(body=make_wav(0.5), content_type="audio/wav")


@pytest.fixture
async def api() -> AsyncIterator[FakeAimlApi]:
    async with FakeAimlApi(api_key="test-key", generation_seconds=0.0) as fake:
        yield fake


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    async with Internal(secret_audio) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(session: aiohttp.ClientSession, base_url: str, **options: Any) -> LyriaClient:
    return LyriaClient(session, api_key="test-key", base_url=base_url, **options)


async def completed_with(api: FakeAimlApi, client: LyriaClient, url: str) -> Any:
    """Submit, and poll the job the fake completes with `url` as its audio."""
    api.audio_url_override = url
    submission = await client.submit(PROMPT)
    return await client.poll(submission.generation_id)


def files_in(folder: Path) -> list[str]:
    """Names in `folder` (a plain function: tiny blocking reads are fine in tests)."""
    return sorted(p.name for p in folder.iterdir())


def refused(error: DownloadError) -> bool:
    return error.reason == "refused_url" and not error.transient


@pytest.mark.parametrize(
    "where",
    [
        "{internal}/secret.wav",  # another loopback port
        "http://localhost:{api_port}/cdn/files/x/output.wav",  # the API's port, another name
        "http://user:pass@{api_host}:{api_port}/cdn/files/x/output.wav",  # credentials
        "file:///etc/passwd",
        "ftp://example.com/a.wav",
        "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
        "http://[::1]:{internal_port}/secret.wav",
        "http://example.com/a.wav",  # plain http to anyone but the API
    ],
)
async def test_a_completion_pointing_anywhere_unsafe_fails_at_once(
    api: FakeAimlApi, internal: Internal, session: aiohttp.ClientSession, where: str
) -> None:
    client = make_client(session, api.base_url)
    url = where.format(
        internal=internal.origin,
        internal_port=internal.port,
        api_port=api.origin.rsplit(":", 1)[1],
        api_host="127.0.0.1",
    )
    with pytest.raises(DownloadError) as caught:
        await completed_with(api, client, url)
    assert refused(caught.value), caught.value
    assert "pass@" not in str(caught.value)
    with pytest.raises(DownloadError) as caught:  # and download() refuses it by itself too
        await client.download(url, Path("/nonexistent/never.wav"), max_bytes=1 << 20)
    assert refused(caught.value)
    assert internal.hits == []


async def test_a_redirect_from_the_api_host_to_loopback_is_refused(
    internal: Internal, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async def to_internal(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{internal.origin}/secret.wav")

    async with Internal(to_internal) as api_host:
        client = make_client(session, api_host.origin)
        with pytest.raises(DownloadError) as caught:
            await client.download(
                f"{api_host.origin}/cdn/a.wav", tmp_path / "a.wav", max_bytes=1 << 20
            )
    assert refused(caught.value)
    assert api_host.hits == ["/cdn/a.wav"] and internal.hits == []
    assert files_in(tmp_path) == []


async def test_the_apis_own_cdn_and_its_redirects_still_work(
    api: FakeAimlApi, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = make_client(session, api.base_url)
    submission = await client.submit(PROMPT)
    result = await client.poll(submission.generation_id)
    api.cdn_mode = "redirect"
    audio = await client.download(result.audio_url, tmp_path / "ok.wav", max_bytes=1 << 20)
    assert audio.size_bytes == len(api.audio)


async def test_an_allowed_network_is_fetched_over_http(
    api: FakeAimlApi, internal: Internal, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """AUDIO_URL_ALLOW: a proxy deployment's CDN on a private address."""
    client = make_client(session, api.base_url, audio_url_allow=("127.0.0.0/8",))
    result = await completed_with(api, client, f"{internal.origin}/allowed.wav")
    audio = await client.download(result.audio_url, tmp_path / "a.wav", max_bytes=1 << 20)
    assert audio.size_bytes > 0 and internal.hits == ["/allowed.wav"]


class RebindingResolver(AbstractResolver):
    """A hostile DNS: the first answer for a name is public, every later one loopback."""

    answers: ClassVar[list[str]] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = "93.184.216.34" if not RebindingResolver.answers else "127.0.0.1"
        RebindingResolver.answers.append(address)
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


async def test_a_second_dns_answer_cannot_lead_the_download_elsewhere(
    api: FakeAimlApi, internal: Internal, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The poll's check saw a public address; the download's own lookup says loopback: the
    connection is refused before anything is sent."""
    RebindingResolver.answers = []
    client = make_client(
        session,
        api.base_url,
        audio_url_allow=("93.184.216.34/32",),  # so that plain http may reach it
        resolver_factory=RebindingResolver,
    )
    result = await completed_with(api, client, f"http://cdn.example:{internal.port}/x.wav")
    with pytest.raises(DownloadError) as caught:
        await client.download(result.audio_url, tmp_path / "r.wav", max_bytes=1 << 20)
    assert refused(caught.value)
    assert RebindingResolver.answers == ["93.184.216.34", "127.0.0.1"]
    assert internal.hits == [] and files_in(tmp_path) == []
