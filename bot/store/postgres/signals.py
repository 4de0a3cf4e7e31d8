"""LISTEN/NOTIFY between the processes sharing one PostgreSQL database's jobs.

A process tells the others when a job becomes claimable (queued and not started, or a lease
released: `work`) or leaves the pool (`taken`), so idle processes claim at once instead of
polling the table. Listening needs a connection of its own (a pooled one would go back to the
pool); notifying goes through the pool. The channel is per schema, like everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from bot.jobs.models import Signal
from bot.store.postgres.database import CONNECT_TIMEOUT, PostgresDatabase, describe

log = logging.getLogger(__name__)

_SEPARATOR = "|"
_IDS_PER_PAYLOAD = 200  # job ids are short; a payload must stay under 8000 bytes


class PostgresJobSignals:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._connection: asyncpg.Connection[Any] | None = None
        self._channel: str | None = None

    async def listen(self, on_signal: Callable[[Signal], None]) -> None:
        """Listen (once; again if the connection was lost). Errors are logged, not raised:
        the periodic check for expired leases still finds the work, only later."""
        if self._connection is not None and not self._connection.is_closed():
            return
        try:
            connection = await asyncpg.connect(self._db.url.reveal(), timeout=CONNECT_TIMEOUT)
            channel = await self._channel_name()

            def heard(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
                signal = decode(str(payload))
                if signal is not None:
                    on_signal(signal)

            await connection.add_listener(channel, heard)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("cannot listen for job signals: %s", describe(exc, self._db.url))
            return
        self._connection = connection

    async def notify(self, signal: Signal) -> None:
        """Send `signal` (in several notifications if its ids pass PostgreSQL's payload size)."""
        channel = await self._channel_name()
        ids = list(signal.job_ids)
        while True:
            chunk, ids = ids[:_IDS_PER_PAYLOAD], ids[_IDS_PER_PAYLOAD:]
            part = Signal(signal.sender, signal.kind, tuple(chunk))
            await self._db.execute("SELECT pg_notify($1, $2)", channel, encode(part))
            if not ids:
                return

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()

    async def _channel_name(self) -> str:
        if self._channel is None:
            schema = await self._db.fetchval("SELECT current_schema()")
            self._channel = f"lyria_jobs:{schema}"[:63]
        return self._channel


def encode(signal: Signal) -> str:
    return _SEPARATOR.join([signal.sender, signal.kind, ",".join(signal.job_ids)])


def decode(payload: str) -> Signal | None:
    parts = payload.split(_SEPARATOR)
    if len(parts) != 3:
        return None
    sender, kind, ids = parts
    return Signal(sender, kind, tuple(job_id for job_id in ids.split(",") if job_id))
