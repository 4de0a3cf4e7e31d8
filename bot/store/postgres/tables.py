"""PostgreSQL's tables as plain rows, for `python -m bot copy-db` and the schema-parity test.

Rows coming from another backend are converted to the column's type (SQLite keeps flags as
0/1); writes go through COPY inside one transaction, so a failed copy leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from bot.store.postgres.database import Connection, PostgresDatabase

_VERSION_TABLE = "schema_migrations"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "BOOLEAN": bool,
    "BIGINT": int,
    "INTEGER": int,
    "DOUBLE PRECISION": float,
    "TEXT": _text,
    "JSONB": _json,
}


class PostgresTables:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._writer: Connection | None = None
        self._types: dict[str, dict[str, str]] = {}

    async def columns(self) -> dict[str, list[tuple[str, str]]]:
        """Every table of the schema (the migration bookkeeping apart): (column, type)s."""
        rows = await self._db.fetch(
            "SELECT table_name, column_name, upper(data_type) FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name <> $1 "
            "ORDER BY table_name, ordinal_position",
            _VERSION_TABLE,
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in rows:
            found.setdefault(str(table), []).append((str(column), str(kind)))
        return found

    async def count(self, table: str) -> int:
        return int(await self._db.fetchval(f"SELECT COUNT(*) FROM {table}"))  # noqa: S608

    async def read(
        self, table: str, columns: Sequence[str], key: Sequence[str], batch: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Every row, `batch` at a time, in primary-key order (keyset pagination)."""
        names = ", ".join(columns)
        order = ", ".join(key)
        at = [columns.index(k) for k in key]
        after: tuple[Any, ...] | None = None
        while True:
            if after is None:
                sql = f"SELECT {names} FROM {table} ORDER BY {order} LIMIT $1"  # noqa: S608
                rows = await self._db.fetch(sql, batch)
            else:
                marks = ", ".join(f"${i}" for i in range(2, len(key) + 2))
                sql = (
                    f"SELECT {names} FROM {table} WHERE ({order}) > ({marks}) "  # noqa: S608
                    f"ORDER BY {order} LIMIT $1"
                )
                rows = await self._db.fetch(sql, batch, *after)
            if not rows:
                return
            chunk = [tuple(row) for row in rows]
            yield chunk
            after = tuple(chunk[-1][i] for i in at)

    async def begin(self) -> None:
        """Start the one transaction every `write` joins until `finish`."""
        if not self._types:
            self._types = {t: dict(cols) for t, cols in (await self.columns()).items()}
        self._writer = await self._db.acquire()
        await self._writer.execute("BEGIN")

    async def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        assert self._writer is not None, "begin() first"
        types = self._types[table]
        convert = [_CONVERT.get(types[c], lambda v: v) for c in columns]
        records = [
            tuple(None if v is None else f(v) for f, v in zip(convert, row, strict=True))
            for row in rows
        ]
        await self._writer.copy_records_to_table(table, records=records, columns=list(columns))

    async def finish(self) -> None:
        """Move identity sequences past the ids written, then commit."""
        assert self._writer is not None, "begin() first"
        await self._writer.execute(
            "SELECT setval(pg_get_serial_sequence('generation_times', 'id'), "
            "COALESCE(MAX(id), 0) + 1, false) FROM generation_times"
        )
        await self._writer.execute("COMMIT")
        await self._release()

    async def abandon(self) -> None:
        if self._writer is not None:
            await self._writer.execute("ROLLBACK")
            await self._release()

    async def _release(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await self._db.release(writer)
