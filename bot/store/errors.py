"""The store's one error type: the database cannot be opened, migrated or used."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be opened, migrated or used; the message says why (one line)."""


class StoreBusy(StoreError):
    """The database is busy (another writer holds its lock): trying again later can work."""
