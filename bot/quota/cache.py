"""A per-key cache for values loaded from the database, safe against a load racing a change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LoadCache(Generic[K, V]):
    """`await cache.get(key)` loads once and remembers; `invalidate(key)` after every change.

    A load that was already reading when `invalidate` ran returns what it read but does not
    remember it, so the old value can never outlive the change.
    """

    def __init__(self, load: Callable[[K], Awaitable[V]]) -> None:
        self._load = load
        self._values: dict[K, V] = {}
        self._version = 0

    async def get(self, key: K) -> V:
        if key in self._values:
            return self._values[key]
        version = self._version
        value = await self._load(key)
        if version == self._version:
            self._values[key] = value
        return value

    def invalidate(self, key: K) -> None:
        self._version += 1
        self._values.pop(key, None)
