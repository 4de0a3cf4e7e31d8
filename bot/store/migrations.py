"""The numbered migration files every backend ships: `NNNN_name.sql`, applied in order.

Each backend keeps its own folder of scripts in its own SQL dialect, with the same numbers and
names, so both reach the same schema version with the same tables and columns
(tests/bot/store/test_schema_parity.py holds them to it).
"""

from __future__ import annotations

import re
from importlib import resources

from bot.store.errors import StoreError

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def load_migrations(package: str) -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration in `package`, in order, numbered 1..N."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 1..N without gaps, found {numbers}")
    return found
