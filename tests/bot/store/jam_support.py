"""What the jam contract tests share: the rules the store is handed, drafts, a jam taken to a
given phase, and the budget invariant recounted from the rows in SQL both dialects speak."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.jams.models import (
    Accepted,
    EntryDraft,
    EntryRefusal,
    Jam,
    JamDraft,
    JamSettings,
    Transition,
)
from bot.jams.rules import JamRules
from bot.quota.models import QuotaDefaults, Refusal, Requester
from bot.quota.rules import ReservationRules
from bot.quota.timeutil import pool_key
from bot.store.base import Store
from tests.bot.store.backends import scalar

GUILD = 1111
CHANNEL = 50
HOST = 9
BIG = 1_234_567_890_123_456_789  # Discord ids need 64 bits
NOW = datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp()
PERIOD = pool_key(NOW, 0)
DEFAULTS = QuotaDefaults(
    member_limit_per_window=1000,
    member_window_seconds=3600,
    member_max_in_flight=1000,
    guild_daily_pool=100,
    guild_reset_minute=0,
    bot_daily_cap=100_000,
)
RULES = JamRules()


def quota_rules(**defaults: object) -> ReservationRules:
    return ReservationRules(replace(DEFAULTS, **defaults))  # type: ignore[arg-type]


def draft(
    jam_id: str = "jam1", channel_id: int = CHANNEL, guild_id: int = GUILD, **settings: object
) -> JamDraft:
    options: dict[str, object] = {"theme": "night drive", "budget": 10, **settings}
    return JamDraft(jam_id, guild_id, channel_id, HOST, JamSettings(**options))  # type: ignore[arg-type]


def entry(
    jam: Jam, user_id: int, job_id: str, *, riff_of: str | None = None, prompt: str = "lofi"
) -> EntryDraft:
    who = Requester(user_id=user_id, guild_id=jam.guild_id, channel_id=jam.thread_id)
    return EntryDraft(
        jam.id, job_id, who, f"member{user_id}", prompt, f"{prompt}, jazz", None, 7, riff_of
    )


async def started(store: Store, jam_id: str = "jam1", **settings: object) -> Jam:
    """A jam created and opened: round 1 takes entries until NOW + round_seconds."""
    made = await store.jams.create(draft(jam_id, **settings), now=NOW, rules=quota_rules())
    assert isinstance(made, Jam), made
    thread = 7000 + len(jam_id) + sum(map(ord, jam_id))
    opened = await store.jams.open(
        jam_id, thread_id=thread, card_message_id=thread + 1, now=NOW, rules=RULES
    )
    assert isinstance(opened, Transition)
    return opened.jam


async def enter(
    store: Store, jam: Jam, user_id: int, job_id: str, *, now: float = NOW + 1, **extra: object
) -> Accepted | EntryRefusal | Refusal:
    return await store.jams.enter(
        entry(jam, user_id, job_id, **extra),  # type: ignore[arg-type]
        now=now,
        blocked_term=None,
        reserve_rules=quota_rules(),
        rules=RULES,
    )


async def pool_used(store: Store) -> int:
    return await store.quota.pool_used(GUILD, PERIOD)


async def assert_budget_invariant(store: Store) -> None:
    """No credit created or lost: the pool counter equals pool-paid reservations, plus each
    jam's budget while it runs or what its entries spent once it gave the rest back; no jam
    spent more than its budget."""
    spent_sql = (
        "SELECT COUNT(*) FROM quota_reservations r WHERE r.jam_id = j.id AND r.state <> 'refunded'"
    )
    over = await scalar(
        store,
        f"SELECT COUNT(*) FROM jams j WHERE ({spent_sql}) > j.budget",  # noqa: S608
    )
    assert int(over) == 0, "a jam spent more than its budget"
    held = (
        f"SELECT SUM(CASE WHEN j.settled <> 0 THEN ({spent_sql}) ELSE j.budget END) "  # noqa: S608
        "FROM jams j WHERE j.guild_id = c.scope_id AND j.pool_period = c.period"
    )
    rows = await scalar(
        store,
        "SELECT COUNT(*) FROM quota_counters c WHERE c.scope = 'guild' AND c.used <> ("  # noqa: S608
        "(SELECT COUNT(*) FROM quota_reservations q WHERE q.guild_id = c.scope_id "
        "AND q.pool_period = c.period AND q.jam_id IS NULL AND q.state <> 'refunded') + "
        f"COALESCE(({held}), 0))",
    )
    assert int(rows) == 0, "a pool counter disagrees with the rows that hold it"
