"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME, dispatch.

discord.py asks for `compress=zlib-stream`: every frame is then one message compressed with a
single per-connection zlib stream and ended by Z_SYNC_FLUSH (binary frames). Without that query
parameter (or with zstd-stream, which the fake does not implement) frames go out as text.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.fakes.discord.snowflakes import shard_of

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord

log = logging.getLogger(__name__)
# GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT: switched on per application in the portal.
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE = 3
    VOICE_STATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


@dataclass
class GatewaySession:
    """One identified session: its shard, its event sequence and what survives a dropped
    connection so the client can RESUME.

    Events are numbered and kept here whether or not a connection is attached; an attached
    connection also gets them at once, a detached one finds them on RESUME (or, while the
    connection is still identifying, right after its GUILD_CREATEs).
    """

    session_id: str
    intents: int
    shard: tuple[int, int] = (0, 1)  # (shard_id, shard_count) as sent in IDENTIFY
    seq: int = 0
    sent: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=5000)
    )
    connection: GatewayConnection | None = None  # attached and live
    dropped: bool = False  # the fake dropped its connection: it may RESUME

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session receives the events of a guild (None: DMs, shard 0's)."""
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, shard_count) == shard_id

    def record(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        payload = {"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data}
        self.sent.append(payload)
        return payload

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        payload = self.record(event, data)
        connection = self.connection
        if connection is not None:
            with contextlib.suppress(ConnectionResetError):  # kept in `sent` for a RESUME
                await connection.send(payload)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The `d` of every event sent to this session (of one name, if given)."""
        return [p["d"] for p in self.sent if name is None or p["t"] == name]


class GatewayConnection:
    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.fake = fake
        self.ws = ws
        self.zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self.session: GatewaySession | None = None
        self.identified = asyncio.Event()
        self.frames_sent = 0
        self.heartbeats = 0
        self.dropped_with: int | None = None  # close code if the fake dropped this connection
        self._lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self._lock:
            if self.ws.closed:
                raise ConnectionResetError("gateway connection is closed")
            if self.zlib is not None:
                data = self.zlib.compress(text.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)
            self.frames_sent += 1

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event on this connection, numbered in its session (also before attaching)."""
        assert self.session is not None
        await self.send(self.session.record(event, data))

    async def _catch_up_and_attach(self, after: int) -> bool:
        """Send what the session recorded after `after`, then attach; False if part of it
        fell out of the buffer (the client must identify again)."""
        session = self.session
        assert session is not None
        while True:
            missed = [p for p in session.sent if p["s"] > after]
            if not missed:
                break
            if missed[0]["s"] != after + 1:
                return False
            for payload in missed:
                await self.send(payload)
                after = payload["s"]
        # No await between the last check and attaching: nothing recorded meanwhile is lost.
        self.fake.attach_connection(self)
        self.identified.set()
        return True

    async def serve(self) -> None:
        interval_ms = int(self.fake.heartbeat_interval * 1000)
        await self.send({"op": Op.HELLO, "d": {"heartbeat_interval": interval_ms}, "s": None})
        async for message in self.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                payload = json.loads(message.data)
                await self._handle(payload)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("fake gateway: bad payload %r", exc)
                await self.ws.close(code=4002, message=b"Error while decoding payload.")
                break

    async def _handle(self, payload: dict[str, Any]) -> None:
        op = payload["op"]
        data: dict[str, Any] = payload.get("d") or {}
        if op == Op.HEARTBEAT:
            self.heartbeats += 1
            self.fake.changed()
            await self.send({"op": Op.HEARTBEAT_ACK, "d": None, "s": None})
        elif op == Op.IDENTIFY:
            await self._identify(data)
        elif op == Op.RESUME:
            await self._resume(data)
        elif op == Op.REQUEST_MEMBERS:
            await self._member_chunk(data)
        elif op in (Op.PRESENCE, Op.VOICE_STATE):
            return
        else:
            await self.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, data: dict[str, Any]) -> None:
        if self.session is not None:
            await self.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self.fake.bot_token:
            await self.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.fake.allowed_privileged_intents:
            await self.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard", [0, 1])
        if not _valid_shard(shard):
            await self.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.session = GatewaySession(secrets.token_hex(16), intents, (shard[0], shard[1]))
        self.fake.gateway_sessions[self.session.session_id] = self.session
        self.fake.identify_count += 1
        guilds = [g for g in self.fake.guilds if self.session.owns(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.fake.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": self.session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "application": {"id": str(self.fake.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["local"],
            "guild_join_requests": [],
            "user_settings": {},
            "_trace": ["fake-discord"],
        }
        if "shard" in data:
            ready["shard"] = [shard[0], shard[1]]
        await self.dispatch("READY", ready)
        for guild in guilds:
            await self.dispatch("GUILD_CREATE", guild.gateway_payload())
        await self._catch_up_and_attach(self.session.seq)

    async def _resume(self, data: dict[str, Any]) -> None:
        session = self.fake.gateway_sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.fake.bot_token:
            await self.send({"op": Op.INVALID_SESSION, "d": False, "s": None})
            return
        self.session = session
        if not await self._catch_up_and_attach(int(data.get("seq") or 0)):
            # Part of what the client missed fell out of the buffer: it must identify again.
            self.session = None
            await self.send({"op": Op.INVALID_SESSION, "d": False, "s": None})
            return
        self.fake.resume_count += 1
        await self.dispatch("RESUMED", {"_trace": ["fake-discord"]})

    async def _member_chunk(self, data: dict[str, Any]) -> None:
        guild = self.fake.get_guild(int(data["guild_id"]))
        if guild is None or self.session is None:
            return
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in guild.members.values()],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)


def _valid_shard(shard: Any) -> bool:
    """`[shard_id, shard_count]` with 0 <= shard_id < shard_count."""
    if not isinstance(shard, list) or len(shard) != 2:
        return False
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in shard):
        return False
    return 0 <= shard[0] < shard[1]


async def gateway_handler(fake: FakeDiscord, request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
    await ws.prepare(request)
    connection = GatewayConnection(fake, ws, request.query.get("compress"))
    fake.connections.append(connection)
    try:
        await connection.serve()
    finally:
        fake.detach_connection(connection)
    return ws
