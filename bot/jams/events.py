"""What a jam tells the server's mod log: start, end, cancel, and each move of its budget.

Published on the quota's `ModEventBus` (the mod log's one source); ids and numbers only, the
words are in `bot.text.modlog`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.jams.models import EndReason


@dataclass(frozen=True)
class JamStarted:
    guild_id: int
    jam_id: str
    channel_id: int
    thread_id: int
    host_id: int
    theme: str
    rounds: int
    budget: int


@dataclass(frozen=True)
class JamEnded:
    guild_id: int
    jam_id: str
    channel_id: int
    thread_id: int | None
    actor_id: int | None  # None: it ended by itself after the last round
    spent: int
    returned: int
    entries: int
    participants: int


@dataclass(frozen=True)
class JamCancelled:
    guild_id: int
    jam_id: str
    channel_id: int
    actor_id: int | None  # None: the bot cancelled it (thread deleted, start failed)
    reason: EndReason
    spent: int
    returned: int


@dataclass(frozen=True)
class JamBudgetMoved:
    """`amount` credits moved between the server's pool and the jam's budget."""

    guild_id: int
    jam_id: str
    amount: int
    to_pool: bool  # True: given back to the pool; False: taken from it


JamEvent = JamStarted | JamEnded | JamCancelled | JamBudgetMoved
