"""`python -m bot copy-db --from URL --to URL`: move a deployment to another database.

Both URLs take DATABASE_URL's forms (sqlite:///file, postgresql://...). Opening them brings
both to this code's schema (the source too, as the bot's start would); every table is then
copied — jobs, generation history, quota settings, reservations, counters and the audit log —
into the target, which must be empty. Passwords are masked in everything printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from bot.cli.startup import secrets_of
from bot.config import DatabaseUrl, Settings, mask_url
from bot.logs import setup_logging
from bot.store.base import Store
from bot.store.connect import open_url
from bot.store.copying import copy_database
from bot.store.errors import StoreError

EXPECTED = "sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:5432/database"


def run_copy_db(settings: Settings, source: str, target: str) -> int:
    secrets = secrets_of(settings)
    for raw in (source, target):
        with contextlib.suppress(ValueError):  # a malformed URL is reported by copy_db
            secrets += DatabaseUrl.parse(raw).passwords()
    setup_logging(settings.log_level, secrets)
    return asyncio.run(copy_db(source, target, sys.stdout))


async def copy_db(source_url: str, target_url: str, out: TextIO) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    urls: list[DatabaseUrl] = []
    for option, raw in (("--from", source_url), ("--to", target_url)):
        try:
            urls.append(DatabaseUrl.parse(raw))
        except ValueError:
            say(f"copy-db: {option}: expected {EXPECTED} (got {mask_url(raw)!r})")
            return 2
    source_at, target_at = urls
    if source_at == target_at:
        say("copy-db: --from and --to name the same database")
        return 2

    opened: list[Store] = []
    try:
        for role, url in (("source", source_at), ("target", target_at)):
            try:
                opened.append(await open_url(url))
            except StoreError as exc:
                say(f"copy-db: cannot open the {role}: {exc}")
                return 1
        source, target = opened
        say(f"copying {source.description} -> {target.description}")
        try:
            report = await copy_database(
                source, target, progress=lambda table, rows: say(f"  {table:<24} {rows:>9} rows")
            )
        except StoreError as exc:
            say(f"copy-db: {exc}")
            if target_at.backend == "sqlite" and "not empty" not in str(exc):
                say(f"copy-db: {target_at.path} may hold a partial copy: delete it and run again")
            return 1
        say(f"copied {report.total} rows; every table's count matches the source")
        return 0
    finally:
        for store in opened:
            await store.close()
