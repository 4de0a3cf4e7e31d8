"""What the quota tells a server's mod log: one typed event per moderator action or outcome.

Events carry ids and numbers, never sentences: `bot.text.modlog` renders them. `ModEventBus`
delivers each event to every listener in order; a failing listener is logged and skipped, so a
broken mod log never fails the action that produced the event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.quota.models import BlockedTerm, GenerationNote, RoleOverride

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolChanged:
    guild_id: int
    actor_id: int
    size: int | None  # None: unchanged
    reset_minute: int | None
    carried: int = 0  # today's usage carried over to the period of the new reset time


@dataclass(frozen=True)
class MemberLimitsChanged:
    guild_id: int
    actor_id: int
    per_window: int | None  # None: unchanged
    window_seconds: int | None
    max_in_flight: int | None


@dataclass(frozen=True)
class RoleOverrideSet:
    guild_id: int
    actor_id: int
    override: RoleOverride


@dataclass(frozen=True)
class RoleOverrideCleared:
    guild_id: int
    actor_id: int
    role_id: int


@dataclass(frozen=True)
class ExtraGranted:
    guild_id: int
    actor_id: int
    user_id: int
    amount: int
    balance: int


@dataclass(frozen=True)
class MemberWindowReset:
    guild_id: int
    actor_id: int
    user_id: int


@dataclass(frozen=True)
class PauseChanged:
    guild_id: int
    actor_id: int
    paused: bool


@dataclass(frozen=True)
class BarChanged:
    guild_id: int
    actor_id: int
    user_id: int
    barred: bool


@dataclass(frozen=True)
class ChannelsChanged:
    guild_id: int
    actor_id: int
    channel_ids: tuple[int, ...]  # empty: every channel allowed


@dataclass(frozen=True)
class ModlogChanged:
    guild_id: int
    actor_id: int
    channel_id: int | None  # None: the log is off


@dataclass(frozen=True)
class BlockListChanged:
    guild_id: int
    actor_id: int
    term: BlockedTerm
    added: bool


@dataclass(frozen=True)
class PromptBlocked:
    guild_id: int
    user_id: int
    channel_id: int | None
    term: BlockedTerm
    prompt: str


@dataclass(frozen=True)
class GenerationFinished:
    note: GenerationNote

    @property
    def guild_id(self) -> int:
        return self.note.guild_id


ModEvent = (
    PoolChanged
    | MemberLimitsChanged
    | RoleOverrideSet
    | RoleOverrideCleared
    | ExtraGranted
    | MemberWindowReset
    | PauseChanged
    | BarChanged
    | ChannelsChanged
    | ModlogChanged
    | BlockListChanged
    | PromptBlocked
    | GenerationFinished
)

EventListener = Callable[[ModEvent], Awaitable[None]]


class ModEventBus:
    def __init__(self) -> None:
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: EventListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def publish(self, *events: ModEvent) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    await listener(event)
                except Exception:
                    log.exception("mod-log listener failed for %s", type(event).__name__)
