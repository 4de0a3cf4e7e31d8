"""The Lyria 2 HTTP client: submit a generation, poll it, download the finished audio.

Submission is the only call that costs money, so it is retried only when the provider certainly
did not take the job: 429, 503, or a connection that could not be opened. Anything that might
have reached the provider (timeouts, connections broken after sending, 500/502/504, an
unreadable 200) raises `AmbiguousSubmission` and is never retried here.

The API key is sent per request (never stored on the shared session), never to the CDN, and
never appears in reprs, exceptions or logs.

The audio URL of a completed job is vetted by `url_policy.UrlPolicy` when the poll returns it
(a URL that can never be fetched fails the job at once) and again at every hop of the download
(redirects followed one by one) and on the address each connection reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot.aimlapi.answers import (
    MAX_JSON_BYTES,
    Answer,
    definitely_refused,
    http_error,
    json_object,
    raise_generation_failed,
    usage_of,
)
from bot.aimlapi.audio import SNIFF_BYTES, sniff_audio
from bot.aimlapi.errors import (
    AimlApiError,
    AmbiguousSubmission,
    ConnectionFailed,
    DownloadError,
    MalformedResponse,
    RateLimited,
    RefusedUrl,
    ServerError,
    ServiceUnavailable,
    UpstreamTimeout,
)
from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission
from bot.aimlapi.part_files import PartFile
from bot.aimlapi.url_policy import GuardedResolver, UrlAllowance, UrlPolicy
from bot.config import Settings
from bot.redaction import redact, register

log = logging.getLogger(__name__)

ENDPOINT = "v2/generate/audio"
WRITE_BUFFER_BYTES = 1024 * 1024  # bytes gathered before each write in a worker thread
DOWNLOAD_CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5  # hops a download follows, each checked by the URL policy
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# In-progress statuses seen so far (`waiting` is undocumented); others are logged once.
KNOWN_PENDING_STATUSES = frozenset({"queued", "generating", "waiting"})
_warned_statuses: set[str] = set()


def _version() -> str:
    try:
        return metadata.version("lyria-jam-bot")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"lyria-jam-bot/{_version()}"


class LyriaClient:
    """Talks to POST/GET /v2/generate/audio and the CDN through a shared aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str,
        model: str = "google/lyria2",
        request_timeout: float = 30.0,
        submit_attempts: int = 3,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_base: float = 1.0,
        max_retry_delay: float = 30.0,
        download_timeout: float = 300.0,
        jitter: Callable[[], float] = random.random,
        audio_url_allow: Collection[str] = (),
        resolver_factory: Callable[[], AbstractResolver] = aiohttp.DefaultResolver,
    ) -> None:
        """`audio_url_allow`: AUDIO_URL_ALLOW's entries (hosts, networks) the audio may come
        from besides https and the API's own origin. `resolver_factory` makes the DNS resolver
        the audio URL is checked and fetched with (tests play a hostile DNS with it)."""
        if not api_key:
            raise ValueError("an API key is required")
        if submit_attempts < 1:
            raise ValueError("submit_attempts must be at least 1")
        if "Authorization" in session.headers:
            # The session is shared with the CDN (and maybe Discord): a default Authorization
            # header would leak. The client adds its own per request instead.
            raise ValueError("the shared session must not carry a default Authorization header")
        self._session = session
        self._api_key = api_key
        register([api_key])  # the provider may echo it: nothing stored or shown may carry it
        self._endpoint = URL(base_url.rstrip("/") + "/" + ENDPOINT)
        self.model = model
        self.request_timeout = request_timeout
        self.submit_attempts = submit_attempts
        self._sleep = sleep
        self.backoff_base = backoff_base
        self.max_retry_delay = max_retry_delay
        self.download_timeout = download_timeout
        self._jitter = jitter
        self.url_policy = UrlPolicy(base_url, UrlAllowance.parse(audio_url_allow))
        self._new_resolver = resolver_factory

    @classmethod
    def from_settings(cls, session: aiohttp.ClientSession, settings: Settings) -> LyriaClient:
        """The client a deployment's settings describe (AIMLAPI_KEY, _BASE_URL, _MODEL)."""
        settings.require("AIMLAPI_KEY")
        assert settings.aimlapi_key is not None
        return cls(
            session,
            api_key=settings.aimlapi_key.reveal(),
            base_url=settings.aimlapi_base_url,
            model=settings.aimlapi_model,
            audio_url_allow=settings.audio_url_allow,
        )

    def __repr__(self) -> str:
        return f"LyriaClient(endpoint={str(self._endpoint)!r}, model={self.model!r})"

    # -- submit ----------------------------------------------------------------------------

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The POST body exactly as the schema documents it; absent optionals are omitted."""
        body: dict[str, Any] = {"model": self.model, "prompt": request.prompt}
        if request.negative_prompt is not None:
            body["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    async def submit(self, request: GenerationRequest) -> Submission:
        body = self.build_body(request)
        last: AimlApiError | None = None
        for attempt in range(1, self.submit_attempts + 1):
            try:
                return await self._submit_once(body)
            except (RateLimited, ServiceUnavailable, ConnectionFailed) as exc:
                last = exc
                if attempt == self.submit_attempts:
                    break
                delay = self._retry_delay(attempt, exc)
                log.warning(
                    "Lyria submit refused (%s); retry %d of %d in %.1f s",
                    type(exc).__name__,
                    attempt,
                    self.submit_attempts - 1,
                    delay,
                )
                await self._sleep(delay)
        assert last is not None
        raise last

    async def _submit_once(self, body: dict[str, Any]) -> Submission:
        try:
            answer = await self._request("POST", self._endpoint, json_body=body)
        except ConnectionFailed:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise AmbiguousSubmission(
                f"submission may have reached the provider: {type(exc).__name__}"
            ) from exc
        if 200 <= answer.status < 300:
            try:
                payload = json_object(answer)
                generation_id = payload.get("id")
                if not isinstance(generation_id, str) or not generation_id:
                    raise MalformedResponse(
                        "submission answer has no generation id", status=answer.status
                    )
            except MalformedResponse as exc:
                raise AmbiguousSubmission(
                    f"submission answered {answer.status} without a readable id",
                    status=answer.status,
                ) from exc
            status = redact(str(payload.get("status") or "queued"))
            if status == "error":
                raise_generation_failed(generation_id, payload, answer.status)
            usage = usage_of(payload, answer.headers)
            log.info("Lyria job submitted: id=%s status=%s", generation_id, status)
            return Submission(generation_id=generation_id, status=status, usage=usage)
        error = http_error(answer, "submission")
        if isinstance(error, (RateLimited, ServiceUnavailable)):
            raise error
        if isinstance(error, ServerError) or not definitely_refused(answer.status):
            raise AmbiguousSubmission(
                f"submission answered HTTP {answer.status}; it may have been accepted",
                status=answer.status,
                request_id=error.request_id,
                provider_message=error.provider_message,
            ) from error
        raise error

    def _retry_delay(self, attempt: int, exc: AimlApiError) -> float:
        if exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.max_retry_delay)
        ceiling = min(self.backoff_base * 2.0 ** (attempt - 1), self.max_retry_delay)
        return ceiling * (0.5 + 0.5 * self._jitter())  # jitter keeps many bots out of step

    # -- poll ------------------------------------------------------------------------------

    async def poll(self, generation_id: str) -> PollResult:
        url = self._endpoint.with_query({"generation_id": generation_id})
        try:
            answer = await self._request("GET", url)
        except ConnectionFailed:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(f"poll of {generation_id} timed out") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamTimeout(
                f"poll of {generation_id} broke off: {type(exc).__name__}"
            ) from exc
        if not 200 <= answer.status < 300:
            raise http_error(answer, f"poll of {generation_id}")
        payload = json_object(answer)
        status = payload.get("status")
        if not isinstance(status, str) or not status:
            raise MalformedResponse(
                f"poll of {generation_id} answered without a status", status=answer.status
            )
        status = redact(status)
        usage = usage_of(payload, answer.headers)
        if status == "error":
            raise_generation_failed(generation_id, payload, answer.status)
        if status == "completed":
            audio_file = payload.get("audio_file")
            url_value = audio_file.get("url") if isinstance(audio_file, dict) else None
            if not isinstance(url_value, str) or not url_value.strip():
                raise MalformedResponse(
                    f"job {generation_id} completed without an audio URL", status=answer.status
                )
            await self._vet_audio_url(url_value)
            return PollResult(generation_id, status, "completed", url_value, usage)
        if status not in KNOWN_PENDING_STATUSES and status not in _warned_statuses:
            _warned_statuses.add(status)
            log.warning("Lyria sent an unknown status %r; treating it as in progress", status)
        return PollResult(generation_id, status, "pending", None, usage)

    async def _vet_audio_url(self, url: str) -> None:
        """Refuse (`RefusedUrl`, not transient: the job fails at once) a URL the download
        would refuse; a name that does not resolve now is left to the download's retries."""
        resolver = self._new_resolver()
        try:
            await self.url_policy.check(url, resolver)
        except RefusedUrl:
            raise
        except DownloadError as exc:
            log.info("audio URL not vetted yet: %s", exc)
        finally:
            await resolver.close()

    # -- download --------------------------------------------------------------------------

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> DownloadedAudio:
        """Stream the audio at `url` into `dest` (atomically), refusing anything not audio.

        No Authorization header goes to the CDN. A partial file never remains on failure, and
        one that an earlier download to `dest` left when its process was killed goes too.
        """
        where = _safe_url(url)
        part = PartFile(dest)
        timeout = aiohttp.ClientTimeout(
            total=self.download_timeout,
            sock_connect=self.request_timeout,
            sock_read=self.request_timeout,
        )
        done = False
        try:
            async with self._open_audio(url, timeout) as resp:
                where = _safe_url(str(resp.url))
                if resp.status in (404, 410):
                    raise DownloadError(
                        f"audio at {where} is gone (HTTP {resp.status})",
                        reason="gone",
                        status=resp.status,
                    )
                if not 200 <= resp.status < 300:
                    raise DownloadError(
                        f"CDN answered HTTP {resp.status} for {where}",
                        reason="http",
                        status=resp.status,
                    )
                declared = resp.content_length
                if declared is not None and declared > max_bytes:
                    raise DownloadError(
                        f"audio at {where} is {declared} bytes, over the {max_bytes} byte cap",
                        reason="too_large",
                    )
                size, content_type, rest = await self._stream_to(resp, part, max_bytes, where)
                if declared is not None and size < declared:
                    raise DownloadError(
                        f"audio at {where} ended after {size} of {declared} bytes",
                        reason="truncated",
                    )
            # A small file is written, closed, measured and moved in this one worker-thread hop.
            duration = await asyncio.to_thread(part.finish, rest, content_type, dest)
            done = True
        except aiohttp.ClientPayloadError as exc:
            raise DownloadError(
                f"audio download from {where} broke off", reason="truncated"
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DownloadError(
                f"audio download from {where} failed: {type(exc).__name__}", reason="network"
            ) from exc
        finally:
            if not done:
                await asyncio.shield(asyncio.to_thread(part.discard))
        log.info("Downloaded %d bytes of %s from %s", size, content_type, where)
        return DownloadedAudio(dest, size, duration, content_type, url)

    @contextlib.asynccontextmanager
    async def _open_audio(
        self, url: str, limits: aiohttp.ClientTimeout
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET `url` through a connector of its own whose DNS answers only with addresses the
        URL policy accepts, following redirects one hop at a time, each hop checked."""
        target = self.url_policy.check_form(url)
        guard = GuardedResolver(self.url_policy, self._new_resolver())
        connector = aiohttp.TCPConnector(resolver=guard, use_dns_cache=False, limit=1)
        try:
            async with aiohttp.ClientSession(connector=connector) as cdn:
                for _hop in range(MAX_REDIRECTS + 1):
                    guard.target = target
                    async with cdn.get(
                        target,
                        headers={"User-Agent": USER_AGENT},
                        timeout=limits,
                        allow_redirects=False,
                    ) as resp:
                        location = resp.headers.get("Location")
                        if resp.status not in _REDIRECTS or not location:
                            yield resp
                            return
                        try:
                            following = resp.url.join(URL(location))
                        except ValueError as exc:
                            raise RefusedUrl("an audio redirect cannot be parsed") from exc
                    target = self.url_policy.check_form(following)
        finally:
            await guard.close()
        raise DownloadError(
            f"audio at {_safe_url(url)} redirects more than {MAX_REDIRECTS} times", reason="http"
        )

    async def _stream_to(
        self, resp: aiohttp.ClientResponse, part: PartFile, max_bytes: int, where: str
    ) -> tuple[int, str, bytes]:
        """Stream the body into `part` in buffers of WRITE_BUFFER_BYTES; returns the size, the
        sniffed content type and the last bytes, not yet written (for `part.finish`)."""
        size = 0
        content_type: str | None = None
        head = b""
        pending: list[bytes] = []
        pending_bytes = 0
        async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise DownloadError(
                    f"audio at {where} exceeded the {max_bytes} byte cap", reason="too_large"
                )
            if content_type is None:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    content_type = _require_audio(head, where)
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= WRITE_BUFFER_BYTES:
                await asyncio.to_thread(part.write, b"".join(pending))
                pending, pending_bytes = [], 0
        if content_type is None:
            content_type = _require_audio(head, where)
        return size, content_type, b"".join(pending)

    # -- transport -------------------------------------------------------------------------

    async def _request(
        self, method: str, url: URL, *, json_body: dict[str, Any] | None = None
    ) -> Answer:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                json=json_body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                body = await _read_capped(resp, MAX_JSON_BYTES + 1)
                answer = Answer(resp.status, resp.headers, body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # The connection was never opened, so the request was never sent.
            raise ConnectionFailed(
                f"could not connect to {self._endpoint.host}: {type(exc).__name__}"
            ) from exc
        log.debug(
            "%s %s -> %d in %.0f ms",
            method,
            url.path,
            answer.status,
            (time.monotonic() - started) * 1000,
        )
        return answer


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, but never more than `limit` bytes (a reply that big is not the API's JSON)."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) >= limit:
            return bytes(body[:limit])
    return bytes(body)


def _require_audio(head: bytes, where: str) -> str:
    content_type = sniff_audio(head)
    if content_type is None:
        raise DownloadError(f"the file at {where} is not audio", reason="not_audio")
    return content_type


def _safe_url(url: str) -> str:
    """The URL without credentials, query or fragment (signed CDN links carry tokens there)."""
    try:
        return str(URL(url).with_user(None).with_query(None).with_fragment(None))
    except ValueError:
        return "<invalid URL>"
