"""SQLite's tables as plain rows, for `python -m bot copy-db` and the schema-parity test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from bot.store.sqlite.database import SqliteDatabase


class SqliteTables:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def columns(self) -> dict[str, list[tuple[str, str]]]:
        """Every table of the schema (SQLite's own apart): its (column, declared type)s."""
        rows = await self._db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for (table,) in rows:
            info = await self._db.fetchall("SELECT name, type FROM pragma_table_info(?)", (table,))
            found[str(table)] = [(str(r[0]), str(r[1]).upper()) for r in info]
        return found

    async def count(self, table: str) -> int:
        row = await self._db.fetchone(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        return 0 if row is None else int(row[0])

    async def read(
        self, table: str, columns: Sequence[str], key: Sequence[str], batch: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Every row, `batch` at a time, in primary-key order (keyset pagination)."""
        names = ", ".join(columns)
        order = ", ".join(key)
        after: tuple[Any, ...] | None = None
        at = [columns.index(k) for k in key]
        while True:
            where = "" if after is None else f"WHERE ({order}) > ({', '.join('?' for _ in key)})"
            rows = await self._db.fetchall(
                f"SELECT {names} FROM {table} {where} ORDER BY {order} LIMIT ?",  # noqa: S608
                (*(after or ()), batch),
            )
            if not rows:
                return
            chunk = [tuple(row) for row in rows]
            yield chunk
            after = tuple(chunk[-1][i] for i in at)

    async def begin(self) -> None:
        """Writes commit batch by batch (one transaction each)."""

    async def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" for _ in columns)
        await self._db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )

    async def finish(self) -> None:
        """Nothing to do: AUTOINCREMENT follows the ids written."""

    async def abandon(self) -> None:
        """The batches written stay: the caller says so."""
