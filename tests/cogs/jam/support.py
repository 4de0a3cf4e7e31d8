"""What the jam's end-to-end tests share: running /jam commands, starting a jam, entering,
voting, and letting a deadline pass (by moving it in the database, as time would)."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import soundfile as sf

from bot.store.postgres import PostgresStore
from tests.conftest import Harness
from tests.fakes.discord import FakeChannel, FakeInteraction, FakeMember, FakeMessage, FakeThread


def wav48(seconds: float = 2.0, *, seed: int = 3) -> bytes:
    """A 48 kHz stereo 16-bit WAV like Lyria's (short): the export can re-encode it."""
    rate = 48_000
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, np.stack([tone, tone], axis=1), rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


async def jam_command(
    h: Harness,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user: FakeMember | None = None,
    channel: FakeChannel | None = None,
    ephemeral: bool = True,
) -> FakeMessage:
    """Run `/jam <command>` and return its (ephemeral) reply once it has words in it."""
    interaction = await h.fake_discord.invoke(
        f"jam {command}", options or {}, user=user or h.moderator, channel=channel or h.channel
    )
    return await reply_of(interaction, ephemeral=ephemeral)


async def reply_of(interaction: FakeInteraction, *, ephemeral: bool = True) -> FakeMessage:
    message = await interaction.wait_for_original(
        lambda m: bool(m.content) and not m.loading, timeout=10
    )
    assert message.ephemeral is ephemeral, message.content
    assert message.allowed_mentions is not None and message.allowed_mentions.get("parse") == []
    return message


async def start_jam(
    h: Harness,
    *,
    user: FakeMember | None = None,
    channel: FakeChannel | None = None,
    **options: Any,
) -> tuple[FakeThread, str]:
    """Start a jam (defaults: theme "night drive"); its thread, once its first round is open,
    and the jam's id."""
    where = channel or h.channel
    values = {"theme": "night drive", **options}
    reply = await jam_command(h, "start", values, user=user, channel=where)
    assert "The jam is on" in reply.content, reply.content
    thread = await h.guild.wait_for_thread(lambda t: t.parent is where and not t.archived)
    opened = await thread.wait_for(lambda m: "round 1 open" in m.content, timeout=10)
    assert opened.author_id == h.fake_discord.bot_user.id
    jam_id = marker_jam(opened)
    return thread, jam_id


def marker_jam(message: FakeMessage) -> str:
    """The jam id in a jam post's marker line."""
    last = message.content.rsplit("\n", 1)[-1]
    assert last.startswith("-# jam "), last
    return last.split()[2]


def posts(where: FakeChannel, label: str) -> list[FakeMessage]:
    """The bot's jam posts in `where` whose marker names `label` (e.g. "round 1 ballot")."""
    return [
        m
        for m in where.messages
        if not m.deleted and m.content and f"· {label} ·" in m.content.rsplit("\n", 1)[-1]
    ]


async def wait_post(where: FakeChannel, label: str, timeout: float = 10.0) -> FakeMessage:  # noqa: ASYNC109
    return await where.wait_for(
        lambda m: bool(m.content) and f"· {label} ·" in m.content.rsplit("\n", 1)[-1], timeout
    )


async def enter(
    h: Harness, thread: FakeThread, user: FakeMember, prompt: str, **options: Any
) -> FakeInteraction:
    return await h.compose(prompt, user=user, channel=thread, **options)


async def entry_result(h: Harness, interaction: FakeInteraction) -> FakeMessage:
    return await h.result_of(interaction, timeout=15)


async def refusal_of(h: Harness, interaction: FakeInteraction) -> str:
    """The text of a refused /compose (its status message, or the ephemeral reply)."""
    message = await interaction.wait_for_original(
        lambda m: bool(m.content) and not m.loading, timeout=10
    )
    return message.content


async def expire(h: Harness, jam_id: str) -> None:
    """The current phase's deadline passes: moved to the past in the database, as time would
    have done, and the scheduler told to look (it sleeps until the deadline it knew)."""
    await move_deadline(h, jam_id)
    h.bot.services.jam_scheduler.wake()


async def move_deadline(h: Harness, jam_id: str) -> None:
    past = time.time() - 1
    store = h.bot.services.store
    if isinstance(store, PostgresStore):
        changed = await store.database.execute(
            "UPDATE jams SET phase_ends_at = $1 WHERE id = $2 AND phase_ends_at IS NOT NULL",
            past,
            jam_id,
        )
    else:
        changed = await h.db.execute(
            "UPDATE jams SET phase_ends_at = ? WHERE id = ? AND phase_ends_at IS NOT NULL",
            (past, jam_id),
        )
    assert changed == 1


async def vote(h: Harness, ballot: FakeMessage, number: int, user: FakeMember) -> str:
    custom_id = next(c for c in ballot.custom_ids() if c.endswith(f":{number}"))
    click = await h.fake_discord.click(ballot, custom_id, user=user)
    message = await reply_of(click)
    return message.content


async def jam_row(h: Harness, jam_id: str) -> dict[str, Any]:
    store = h.bot.services.store
    if isinstance(store, PostgresStore):
        found = await store.database.fetchrow("SELECT * FROM jams WHERE id = $1", jam_id)
        assert found is not None
        return dict(found)
    row = await h.db.fetchone("SELECT * FROM jams WHERE id = ?", (jam_id,))
    assert row is not None
    return dict(row)


async def pool_used(h: Harness) -> int:
    usage = await h.bot.services.quota.queries.pool_usage(h.guild.id)
    return usage.used
