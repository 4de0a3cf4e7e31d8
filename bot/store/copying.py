"""Copy one database into another, whatever their backends: `python -m bot copy-db`.

Every table the migrations create is copied, in dependency order (what a row refers to comes
first), in batches read in primary-key order. The target must be empty (its schema is created
by opening it); counts are compared afterwards. A PostgreSQL target receives everything in one
transaction; an SQLite target commits batch by batch (a failed copy says to delete the file).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.store.base import Store
from bot.store.errors import StoreError
from bot.store.postgres import PostgresStore
from bot.store.postgres.tables import PostgresTables
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.tables import SqliteTables

BATCH_ROWS = 1000

# (table, primary key) in dependency order: settings and members, then jobs and their history,
# then the reservations that name jobs, the counters that sum them, and the audit log.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("quota_guild_settings", ("guild_id",)),
    ("quota_allowed_channels", ("guild_id", "channel_id")),
    ("quota_role_overrides", ("guild_id", "role_id")),
    ("quota_members", ("guild_id", "user_id")),
    ("quota_blocked_terms", ("guild_id", "kind", "pattern")),
    ("jobs", ("id",)),
    ("generation_times", ("id",)),
    ("quota_reservations", ("job_id",)),
    ("quota_counters", ("scope", "scope_id", "period")),
    ("quota_generation_log", ("job_id",)),
)


class Tables(Protocol):
    """A backend's tables as plain rows (`bot.store.<backend>.tables`)."""

    async def columns(self) -> dict[str, list[tuple[str, str]]]: ...

    async def count(self, table: str) -> int: ...

    def read(
        self, table: str, columns: Sequence[str], key: Sequence[str], batch: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]: ...

    async def begin(self) -> None: ...

    async def write(
        self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None: ...

    async def finish(self) -> None: ...

    async def abandon(self) -> None: ...


def tables_of(store: Store) -> Tables:
    if isinstance(store, SqliteStore):
        return SqliteTables(store.database)
    if isinstance(store, PostgresStore):
        return PostgresTables(store.database)
    raise StoreError(f"copy-db does not know this backend: {store.description}")


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]  # table -> rows copied

    @property
    def total(self) -> int:
        return sum(self.rows.values())


async def copy_database(
    source: Store,
    target: Store,
    *,
    batch: int = BATCH_ROWS,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> CopyReport:
    """Copy every row of `source` into the empty `target` (both open, same schema version)."""
    if await source.schema_version() != await target.schema_version():
        raise StoreError("the two databases are at different schema versions")
    reader, writer = tables_of(source), tables_of(target)
    source_columns, target_columns = await reader.columns(), await writer.columns()
    known = {table for table, _ in TABLES}
    for name, columns in (("source", source_columns), ("target", target_columns)):
        if set(columns) != known:
            unknown = sorted(set(columns) ^ known)
            raise StoreError(f"the {name} has tables copy-db does not know: {unknown}")
    occupied = {table: n for table, _ in TABLES if (n := await writer.count(table))}
    if occupied:
        listed = ", ".join(f"{table} ({n} rows)" for table, n in occupied.items())
        raise StoreError(f"the target is not empty: {listed}; copy-db only fills an empty one")

    copied: dict[str, int] = {}
    await writer.begin()
    try:
        for table, key in TABLES:
            names = [column for column, _ in target_columns[table]]
            missing = set(names) - {column for column, _ in source_columns[table]}
            if missing:
                raise StoreError(f"{table}: the source has no column {sorted(missing)}")
            copied[table] = 0
            async for rows in reader.read(table, names, key, batch):
                await writer.write(table, names, rows)
                copied[table] += len(rows)
            progress(table, copied[table])
        await writer.finish()
    except BaseException:
        await writer.abandon()
        raise

    for table, _ in TABLES:
        expected, found = await reader.count(table), await writer.count(table)
        if expected != found or found != copied[table]:
            raise StoreError(
                f"{table}: {expected} rows in the source, {copied[table]} copied, "
                f"{found} in the target"
            )
    return CopyReport(copied)
