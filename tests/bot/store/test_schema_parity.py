"""Both backends ship the same numbered migrations and end at the same schema: the same
version, the same tables, the same columns in the same order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config import DatabaseUrl
from bot.store.connect import open_url
from bot.store.copying import TABLES, tables_of
from bot.store.postgres.database import migration_scripts as postgres_migrations
from bot.store.sqlite.database import migration_scripts as sqlite_migrations
from tests.postgres_support import fresh_schema


def test_the_migration_files_have_the_same_numbers_and_names() -> None:
    sqlite = [(number, name) for number, name, _ in sqlite_migrations()]
    postgres = [(number, name) for number, name, _ in postgres_migrations()]
    assert sqlite == postgres
    assert len(sqlite) >= 3


async def test_both_backends_end_at_the_same_version_tables_and_columns(tmp_path: Path) -> None:
    sqlite = await open_url(DatabaseUrl.sqlite(tmp_path / "parity.sqlite3"))
    try:
        async with fresh_schema("parity") as url:
            postgres = await open_url(url)
            try:
                assert await postgres.schema_version() == await sqlite.schema_version()
                assert await sqlite.schema_version() == len(sqlite_migrations())
                sqlite_tables = await tables_of(sqlite).columns()
                postgres_tables = await tables_of(postgres).columns()
            finally:
                await postgres.close()
    finally:
        await sqlite.close()
    names = {table: [column for column, _ in columns] for table, columns in sqlite_tables.items()}
    assert names == {
        table: [column for column, _ in columns] for table, columns in postgres_tables.items()
    }
    assert set(names) == {table for table, _ in TABLES}
    assert "error_detail" in names["jobs"] and "error_message" not in names["jobs"]


async def test_two_pools_migrating_at_once_apply_each_migration_once() -> None:
    async with fresh_schema("twice") as url:
        first, second = await asyncio.gather(open_url(url), open_url(url))
        try:
            assert await first.schema_version() == await second.schema_version()
            assert await first.schema_version() == len(postgres_migrations())
        finally:
            await first.close()
            await second.close()
