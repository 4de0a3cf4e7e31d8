"""The store's one error type: the database cannot be opened, migrated or used."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be opened, migrated or used; the message says why (one line)."""
