"""Per-route rate limits modelled on Discord's buckets, with the headers discord.py reads."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# group -> (requests, per seconds). Discord does not publish exact numbers; these are its
# commonly observed shapes and are configurable per FakeDiscord.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "webhook": (5, 5.0),  # per interaction/webhook token: followups, @original edits/deletes
    "channel_messages": (5, 5.0),  # per channel: POST/PATCH/DELETE /channels/{id}/messages
    "commands": (10, 20.0),  # per application (and guild): command sync
    "default": (50, 1.0),  # every other route, per route and top-level id (headers everywhere)
}


@dataclass
class Bucket:
    limit: int
    per: float
    hash: str
    count: int = 0
    reset_at: float = 0.0


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    is_global: bool = False


@dataclass
class ScriptedLimit:
    group: str
    retry_after: float
    times: int
    is_global: bool


@dataclass
class RateLimiter:
    limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    clock: Callable[[], float] = time.time
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    scripted: list[ScriptedLimit] = field(default_factory=list)
    ratelimited_count: int = 0

    def check(self, group: str, major: str, shape: str = "") -> Decision | None:
        """Count one request; None if the group is not limited.

        `shape` (the route) goes into the bucket hash the way Discord's hashes name a route shape;
        `major` (a channel id, a webhook token) separates buckets with the same hash.
        """
        if group not in self.limits:
            return None
        limit, per = self.limits[group]
        now = self.clock()
        bucket = self.buckets.get((group, shape + major))
        if bucket is None:
            digest = hashlib.sha1(f"{group}:{shape}".encode(), usedforsecurity=False).hexdigest()
            bucket = self.buckets[(group, shape + major)] = Bucket(limit, per, digest[:16])
        if now >= bucket.reset_at:
            bucket.count = 0
            bucket.reset_at = now + per
        scripted = next((s for s in self.scripted if s.group == group and s.times > 0), None)
        if scripted is not None:
            scripted.times -= 1
            self.ratelimited_count += 1
            headers = self._headers(bucket, now, max(0, limit - bucket.count))
            headers["Retry-After"] = str(math.ceil(scripted.retry_after))
            if scripted.is_global:
                headers["X-RateLimit-Global"] = "true"
                headers["X-RateLimit-Scope"] = "global"
            return Decision(False, headers, scripted.retry_after, scripted.is_global)
        if bucket.count >= limit:
            self.ratelimited_count += 1
            retry_after = round(bucket.reset_at - now, 3)
            headers = self._headers(bucket, now, 0)
            headers["Retry-After"] = str(math.ceil(retry_after))
            return Decision(False, headers, retry_after)
        bucket.count += 1
        return Decision(True, self._headers(bucket, now, limit - bucket.count))

    def script(self, group: str, *, retry_after: float, times: int, is_global: bool) -> None:
        self.scripted.append(ScriptedLimit(group, retry_after, times, is_global))

    @staticmethod
    def _headers(bucket: Bucket, now: float, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{bucket.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{max(0.0, bucket.reset_at - now):.3f}",
            "X-RateLimit-Bucket": bucket.hash,
            "X-RateLimit-Scope": "user",
        }
