"""The store tests' fixtures (`database_url`, `store`: each backend) for the jam service."""

from tests.bot.store.conftest import database_url, store

__all__ = ["database_url", "store"]
