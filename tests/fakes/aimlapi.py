"""A fake AI/ML API (Lyria 2) and its CDN on 127.0.0.1, speaking the real HTTP protocol.

    async with FakeAimlApi(generation_seconds=0.2) as api:
        settings = load_settings({"AIMLAPI_BASE_URL": api.base_url, "AIMLAPI_KEY": api.api_key})

It follows ../shared/api/Lyria-2.json (POST) and universal-audio-fetch.json (GET), including the
provider's quirks: the undocumented in-progress status `waiting`, failures reported as HTTP 200
with `status: "error"` in two shapes, and HTTP errors shaped
`{message, path, requestId, statusCode, timestamp}`. Requests that break the official schema are
recorded in `schema_errors` (tests assert it stays empty) and answered 400.

Scripted answers (`script_submit`, `script_poll`) replace the next answers to simulate outages,
rate limits, malformed bodies and dropped connections; `accept=True` still creates the job, which
is the ambiguous case a client must never resubmit. The CDN serves the audio under /cdn/ and
records whether an Authorization header ever reached it (`cdn_stall_bytes`: how much a "stall"
sends first). `on_request` acts at an exact moment of a request (tests/fakes/hooks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import struct
import time
import uuid
import wave
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.api_schema import ENDPOINT, ApiSchema
from tests.fakes.hooks import Action, Moment, RequestHook, RequestHooks

CDN_PREFIX = "/cdn/files"
DEFAULT_CREDITS = 120000.0
OVERSIZED_BYTES = 64 * 1024 * 1024
CDN_MODES = frozenset(
    {
        "ok",
        "404",
        "410",
        "500",
        "truncated",
        "oversized",
        "oversized_chunked",
        "not_audio",
        "stall",
        "redirect",
    }
)


class ManualClock:
    """A time source a test moves by hand (`clock.now += 30`): pass it as `time_source`."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_wav(seconds: float = 1.0, rate: int = 8000, channels: int = 1) -> bytes:
    """A valid 16-bit PCM WAV of `seconds` of a quiet square-ish tone."""
    frames = max(0, round(seconds * rate))
    pattern = struct.pack("<hh", 1000, -1000)
    samples = frames * channels
    data = (pattern * (samples // 2 + 1))[: samples * 2]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data)
    return buf.getvalue()


def wav_header(data_bytes: int, *, rate: int = 8000, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header announcing `data_bytes` of samples."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # case-insensitive (a CIMultiDict)
    json: Any
    raw: bytes = b""
    at: float = 0.0


@dataclass
class FakeJob:
    id: str
    body: dict[str, Any]
    created_at: float
    ready_at: float
    cdn_token: str
    polls: int = 0  # every GET for this id, scripted or not
    status_answers: int = 0  # GETs answered with the job's own status
    status: str = "queued"
    failure: dict[str, Any] | None = None


@dataclass
class _Scripted:
    status: int
    body: Any
    raw: bytes | None
    headers: dict[str, str]
    accept: bool = False
    delay: float = 0.0

    @property
    def passes_through(self) -> bool:
        """A 2xx without a body: answer normally, only later (`delay`) or with extra headers."""
        return 200 <= self.status < 300 and self.body is None and self.raw is None


@dataclass
class _PendingFailure:
    shape: str
    message: str


@dataclass
class _Waiter:
    predicate: Callable[[], bool]
    future: asyncio.Future[None] = field(repr=False)


class FakeAimlApi:
    """An aiohttp server on 127.0.0.1:0 serving /v2/generate/audio and a CDN."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        generation_seconds: float | Callable[[dict[str, Any]], float] = 0.3,
        audio: bytes | None = None,
        progress_statuses: Sequence[str] = ("queued", "generating", "waiting"),
        time_source: Callable[[], float] = time.time,
        credits_used: float | None = DEFAULT_CREDITS,
        max_prompt_chars: int | None = 600,
        id_factory: Callable[[], str] | None = None,
        path_prefix: str = "",
    ) -> None:
        if not progress_statuses:
            raise ValueError("progress_statuses must not be empty")
        self.api_key = api_key
        self.generation_seconds = generation_seconds
        # What Lyria 2 delivers: 48 kHz stereo WAV (a short one).
        self.audio = audio if audio is not None else make_wav(1.0, rate=48000, channels=2)
        self.progress_statuses = tuple(progress_statuses)
        self.time_source = time_source
        self.credits_used = credits_used
        self.max_prompt_chars = max_prompt_chars
        self.id_factory = id_factory or (lambda: f"{uuid.uuid4()}:lyria2")
        # Serve the API under a prefix, as a proxy would (base_url then includes it).
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self._stall = asyncio.Event()
        self.schema = ApiSchema.load()

        self.origin = ""
        self.base_url = ""
        self.submissions: list[dict[str, Any]] = []
        self.requests: list[RecordedRequest] = []
        self.schema_errors: list[str] = []
        self.jobs: dict[str, FakeJob] = {}
        self._cdn_mode = "ok"
        self.cdn_redirect_to: str | None = None  # the CDN answers 302 to this URL
        # A completed job's audio_file.url, instead of the fake's own CDN (a hostile provider).
        self.audio_url_override: str | None = None
        self.cdn_downloads = 0
        self.cdn_stall_bytes = 1024  # what cdn_mode "stall" sends before it stops sending
        self.request_hooks: RequestHooks[RecordedRequest] = RequestHooks()
        self.cdn_requests: list[RecordedRequest] = []

        self._submit_script: deque[_Scripted] = deque()
        self._poll_script: deque[_Scripted] = deque()
        self._fail_next: deque[_PendingFailure] = deque()
        self._by_token: dict[str, FakeJob] = {}
        self._waiters: list[_Waiter] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(self.path_prefix + ENDPOINT, self._handle_submit)
        app.router.add_get(self.path_prefix + ENDPOINT, self._handle_poll)
        app.router.add_get(CDN_PREFIX + "/{token}/{name}", self._handle_cdn)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.origin = f"http://{host}:{port}"
        self.base_url = self.origin + self.path_prefix

    async def close(self) -> None:
        self._stall.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> FakeAimlApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- test controls ---------------------------------------------------------------------

    @property
    def cdn_mode(self) -> str:
        """How the CDN answers: one of CDN_MODES ("redirect" goes through a 302 first)."""
        return self._cdn_mode

    @cdn_mode.setter
    def cdn_mode(self, mode: str) -> None:
        if mode not in CDN_MODES:
            raise ValueError(f"unknown cdn_mode {mode!r}; choose from {sorted(CDN_MODES)}")
        self._cdn_mode = mode

    @property
    def posts(self) -> list[RecordedRequest]:
        """Every POST that reached the API (accepted or not)."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(ENDPOINT)]

    @property
    def polls(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith(ENDPOINT)]

    @property
    def cdn_saw_authorization(self) -> bool:
        """True when any CDN request carried an Authorization header (it never should)."""
        return any("Authorization" in r.headers for r in self.cdn_requests)

    def ready_at(self, generation_id: str) -> float:
        return self.jobs[generation_id].ready_at

    def script_submit(
        self,
        status: int,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        accept: bool = False,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """The next `times` POSTs answer `status` (0 drops the connection).

        `accept=True` creates the job anyway (the provider took it but the answer was lost).
        `delay` holds the answer back that many seconds (for client timeouts). A 2xx without
        `body`/`raw` is the normal answer (the job is created), just delayed or with `headers`.
        """
        for _ in range(times):
            self._submit_script.append(
                _Scripted(status, body, raw, dict(headers or {}), accept, delay)
            )

    def script_poll(
        self,
        status: int,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """The next `times` GETs answer `status` (0 drops the connection).

        A 2xx without `body`/`raw` is the normal answer, just delayed or with `headers`. Note
        that aiohttp resends a GET once when a reused keep-alive connection drops.
        """
        for _ in range(times):
            self._poll_script.append(
                _Scripted(status, body, raw, dict(headers or {}), False, delay)
            )

    def fail_generation(
        self,
        generation_id: str | None = None,
        *,
        shape: str = "name",
        message: str = "The generation failed.",
    ) -> None:
        """That job (None: the next job created) ends with status "error" at its ready time.

        shape "name" gives `error: {name, message}`; shape "detail" gives
        `error: {detail: [{loc, msg, type}]}` as the provider sends for validation failures.
        """
        if shape not in {"name", "detail"}:
            raise ValueError(f"unknown failure shape {shape!r}")
        if generation_id is None:
            self._fail_next.append(_PendingFailure(shape, message))
        else:
            self.jobs[generation_id].failure = _failure_body(shape, message)

    def finish_now(self, generation_id: str) -> None:
        """Make that job ready at once (its next poll completes or fails)."""
        self.jobs[generation_id].ready_at = self.time_source()

    def on_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        action: Action[RecordedRequest],
        *,
        when: Moment = "after",
        times: int | None = 1,
    ) -> RequestHook[RecordedRequest]:
        """Run `action` at an exact moment of the first `times` requests (API or CDN) matching
        `predicate`: "after" their effect (the job created, the poll's status decided) but
        before the answer, or "before" (the request is then dropped unapplied). See
        tests/fakes/hooks.py."""
        return self.request_hooks.add(predicate, action, when=when, times=times)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate()` holds; it is re-checked after every request the fake sees."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, within)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    # -- internals -------------------------------------------------------------------------

    def _notify(self) -> None:
        for waiter in list(self._waiters):
            if not waiter.future.done() and waiter.predicate():
                waiter.future.set_result(None)

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read() if request.can_read_body else b""
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            json=parsed,
            raw=raw,
            at=self.time_source(),
        )
        self.requests.append(rec)
        return rec

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _http_error(self, status: int, message: str, path: str = ENDPOINT) -> web.Response:
        return web.json_response(_http_error_body(status, message, path), status=status)

    def _create_job(self, body: dict[str, Any]) -> FakeJob:
        now = self.time_source()
        gen = self.generation_seconds
        seconds = gen(body) if callable(gen) else gen
        job = FakeJob(
            id=self.id_factory(),
            body=body,
            created_at=now,
            ready_at=now + float(seconds),
            cdn_token=uuid.uuid4().hex,
        )
        if self._fail_next:
            pending = self._fail_next.popleft()
            job.failure = _failure_body(pending.shape, pending.message)
        self.jobs[job.id] = job
        self._by_token[job.cdn_token] = job
        self.submissions.append(body)
        return job

    def _usage_headers(self) -> dict[str, str]:
        if self.credits_used is None:
            return {}
        return {"x-aimlapi-credits-used": _num(self.credits_used), "x-aimlapi-model": "lyria2"}

    def _meta(self) -> dict[str, Any]:
        if self.credits_used is None:
            return {}
        return {"meta": {"usage": {"credits_used": self.credits_used}}}

    async def _scripted_answer(self, request: web.Request, script: _Scripted) -> web.StreamResponse:
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.status == 0:
            return await _drop_connection(request)
        if script.raw is not None:
            headers = {"Content-Type": "application/json", **script.headers}
            return web.Response(status=script.status, body=script.raw, headers=headers)
        body = script.body
        if body is None:
            body = _http_error_body(script.status, _reason(script.status), request.path)
        return web.json_response(body, status=script.status, headers=script.headers)

    async def _handle_submit(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._answer_submit)

    async def _handle(
        self,
        request: web.Request,
        answer: Callable[[web.Request, RecordedRequest], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Record the request, answer it, and run the hooks at their moments."""
        rec = await self._record(request)
        try:
            if await self.request_hooks.run("before", rec):
                return await _drop_connection(request)
            response = await answer(request, rec)
            if 200 <= response.status < 300:
                await self.request_hooks.run("after", rec)
            return response
        finally:
            self._notify()

    async def _answer_submit(
        self, request: web.Request, rec: RecordedRequest
    ) -> web.StreamResponse:
        if not self._authorized(request):
            return self._http_error(401, "Invalid or missing API key")
        problems: list[str] = []
        if request.content_type != "application/json":
            problems.append(f"POST: Content-Type {request.content_type!r}, not application/json")
        if rec.json is None:
            problems.append("POST body: not a JSON document")
        else:
            problems += self.schema.check_submit_body(rec.json)
        if problems:
            self.schema_errors.extend(problems)
            return self._http_error(400, "; ".join(problems))
        body: dict[str, Any] = rec.json
        passing: _Scripted | None = None
        if self._submit_script:
            script = self._submit_script.popleft()
            if not script.passes_through:
                if script.accept:
                    self._create_job(body)
                return await self._scripted_answer(request, script)
            passing = script
        prompt = body["prompt"]
        if self.max_prompt_chars is not None and len(prompt) > self.max_prompt_chars:
            return self._http_error(
                400, f"prompt must be at most {self.max_prompt_chars} characters"
            )
        if not prompt.strip():
            return self._http_error(400, "prompt must not be empty")
        job = self._create_job(body)
        answer = {"id": job.id, "status": "queued", **self._meta()}
        headers = self._usage_headers()
        if passing is not None:
            headers.update(passing.headers)
            if passing.delay:  # the job exists already: a late answer is the ambiguous case
                await asyncio.sleep(passing.delay)
        return web.json_response(answer, headers=headers)

    async def _handle_poll(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._answer_poll)

    async def _answer_poll(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if not self._authorized(request):
            return self._http_error(401, "Invalid or missing API key")
        problems = self.schema.check_poll_query(list(request.query.items()))
        if problems:
            self.schema_errors.extend(problems)
            return self._http_error(400, "; ".join(problems))
        generation_id = request.query["generation_id"]
        job = self.jobs.get(generation_id)
        if job is not None:
            job.polls += 1
        extra_headers: dict[str, str] = {}
        if self._poll_script:
            script = self._poll_script.popleft()
            if not script.passes_through:
                return await self._scripted_answer(request, script)
            extra_headers = script.headers
            if script.delay:
                await asyncio.sleep(script.delay)
        if job is None:
            return self._http_error(404, f"Generation {generation_id} not found")
        job.status_answers += 1
        headers = {**self._usage_headers(), **extra_headers}
        return web.json_response(self._job_view(job), headers=headers)

    def _job_view(self, job: FakeJob) -> dict[str, Any]:
        if self.time_source() < job.ready_at:
            index = (job.status_answers - 1) % len(self.progress_statuses)
            job.status = self.progress_statuses[index]
            return {"id": job.id, "status": job.status}
        if job.failure is not None:
            job.status = "error"
            return {"id": job.id, "status": "error", "error": job.failure}
        job.status = "completed"
        return {
            "id": job.id,
            "status": "completed",
            "audio_file": {
                "url": self.audio_url_override
                or f"{self.origin}{CDN_PREFIX}/{job.cdn_token}/output.wav",
                "content_type": "audio/wav",
                "file_name": "output.wav",
                "file_size": len(self.audio),
            },
            **self._meta(),
        }

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._answer_cdn)

    async def _answer_cdn(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        self.cdn_requests.append(rec)
        self.cdn_downloads += 1
        self._notify()
        job = self._by_token.get(request.match_info["token"])
        mode = self.cdn_mode
        if job is None or mode == "404":
            return web.Response(status=404, text="Not Found")
        if mode == "410":
            return web.Response(status=410, text="Gone")
        if mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if mode == "not_audio":
            html = b"<!DOCTYPE html><html><body>Access denied</body></html>"
            return web.Response(body=html, content_type="audio/wav")
        if self.cdn_redirect_to is not None:
            raise web.HTTPFound(self.cdn_redirect_to)
        if mode == "redirect" and "hop" not in request.query:
            raise web.HTTPFound(request.path + "?hop=1")
        if mode == "stall":
            return await self._cdn_stall(request)
        if mode == "truncated":
            return await self._cdn_truncated(request)
        if mode in {"oversized", "oversized_chunked"}:
            return await self._cdn_oversized(request, chunked=mode == "oversized_chunked")
        return web.Response(body=self.audio, content_type="audio/wav")

    async def _cdn_truncated(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        resp.content_length = len(self.audio) + 4096
        await resp.prepare(request)
        await resp.write(self.audio[: max(64, len(self.audio) // 2)])
        return await _drop_connection(request)

    async def _cdn_stall(self, request: web.Request) -> web.StreamResponse:
        """Send the headers and the first `cdn_stall_bytes`, then nothing until the fake
        closes."""
        resp = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        resp.content_length = len(self.audio)
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            await resp.write(self.audio[: self.cdn_stall_bytes])
            self._notify()  # the bytes are on their way: a waiter may act now
            await self._stall.wait()
        return await _drop_connection(request)

    async def _cdn_oversized(self, request: web.Request, *, chunked: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        if chunked:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = 44 + OVERSIZED_BYTES
        await resp.prepare(request)
        chunk = bytes(64 * 1024)
        try:
            await resp.write(wav_header(OVERSIZED_BYTES))
            for _ in range(OVERSIZED_BYTES // len(chunk)):
                await resp.write(chunk)
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client stopped reading: that is the point
        return resp


async def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without (finishing) an answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp ignores the response of a closed connection; this one is never written.
    raise asyncio.CancelledError


def _failure_body(shape: str, message: str) -> dict[str, Any]:
    if shape == "detail":
        return {"detail": [{"loc": ["body", "prompt"], "msg": message, "type": "value_error"}]}
    return {"name": "GenerationError", "message": message}


def _http_error_body(status: int, message: str, path: str) -> dict[str, Any]:
    return {
        "message": message,
        "path": path,
        "requestId": str(uuid.uuid4()),
        "statusCode": status,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def _reason(status: int) -> str:
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Insufficient credits",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
