"""`python -m bot migrate`: bring the configured database to this code's schema version.

The bot also migrates when it starts; this runs the same migrations on their own (before a
deployment's processes start, say) and prints each one applied and the version reached.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.cli.startup import secrets_of
from bot.config import Settings
from bot.logs import setup_logging
from bot.store.connect import open_store
from bot.store.errors import StoreError


def run_migrate(settings: Settings) -> int:
    setup_logging("INFO", secrets_of(settings))  # "applied database migration ..." lines
    return asyncio.run(migrate(settings, sys.stdout))


async def migrate(settings: Settings, out: TextIO) -> int:
    try:
        store = await open_store(settings)  # opening applies what is missing
    except StoreError as exc:
        print(f"migrate: {exc}", file=out)
        return 1
    try:
        version = await store.schema_version()
        print(f"database: {store.description}, schema version {version} (up to date)", file=out)
    finally:
        await store.close()
    return 0
