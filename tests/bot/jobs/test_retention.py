"""Audio retention against a real SQLite store and a real AUDIO_DIR, with a clock in hand."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.models import Delivery, DeliveryVia, Job, JobState, Origin
from bot.jobs.retention import DAY, HOUR, AudioRetention, RetentionPolicy, audio_dir_usage
from bot.store.sqlite import SqliteStore

NOW = 10_000_000.0
WEEK = 7 * DAY


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "db.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    return folder


def job(
    job_id: str, state: JobState, *, at: float, origin: Origin = Origin.DISCORD, **extra: Any
) -> Job:
    return Job(
        id=job_id,
        state=state,
        prompt="p",
        negative_prompt=None,
        seed=None,
        model="google/lyria2",
        requester_id="42",
        guild_id="1",
        channel_id="2",
        origin=origin,
        context={},
        created_at=at - 60,
        updated_at=at,
        deadline_at=at + 600,
        delivered_at=at if state is JobState.DELIVERED else None,
        **extra,
    )


async def add(
    store: SqliteStore, audio_dir: Path, job_id: str, state: JobState, *, at: float, **extra: Any
) -> Path:
    """A job row whose audio file exists in AUDIO_DIR (1,000 bytes)."""
    path = audio_dir / f"{job_id}.wav"
    path.write_bytes(b"R" * 1000)
    await store.jobs.insert(job(job_id, state, at=at, audio_path=str(path), **extra))
    return path


def retention(store: SqliteStore, audio_dir: Path, **policy: Any) -> AudioRetention:
    options: dict[str, Any] = {"audio_seconds": WEEK, **policy}
    return AudioRetention(store.jobs, audio_dir, RetentionPolicy(**options), clock=lambda: NOW)


class Pins:
    def __init__(self, needed: set[str], *, fail: bool = False) -> None:
        self.needed = needed
        self.fail = fail
        self.asked: list[str] = []

    async def still_needed(self, job_ids: Collection[str]) -> Collection[str]:
        self.asked += job_ids
        if self.fail:
            raise RuntimeError("the jam store is down")
        return [j for j in job_ids if j in self.needed]


async def test_files_go_a_retention_period_after_delivery_unless_still_needed(
    store: SqliteStore, audio_dir: Path
) -> None:
    old = await add(store, audio_dir, "old", JobState.DELIVERED, at=NOW - WEEK - 1)
    fresh = await add(store, audio_dir, "fresh", JobState.DELIVERED, at=NOW - WEEK + 60)
    waiting = await add(store, audio_dir, "waiting", JobState.COMPLETED, at=NOW - 4 * WEEK)
    mine = await add(
        store, audio_dir, "mine", JobState.DELIVERED, at=NOW - 4 * WEEK, origin=Origin.TERMINAL
    )
    jammed = await add(store, audio_dir, "jammed", JobState.DELIVERED, at=NOW - 2 * WEEK)
    failed = await add(store, audio_dir, "failed", JobState.FAILED, at=NOW - 2 * WEEK)
    await store.jobs.insert(
        job("gone", JobState.DELIVERED, at=NOW - 2 * WEEK, audio_path=str(audio_dir / "x.wav"))
    )
    sweeper = retention(store, audio_dir)
    pins = Pins({"jammed"})
    sweeper.add_pins(pins)

    report = await sweeper.sweep()

    assert not old.exists() and not failed.exists()
    assert fresh.exists() and waiting.exists() and mine.exists() and jammed.exists()
    assert (report.files_deleted, report.bytes_freed) == (2, 2000)
    assert report.rows_marked == 3  # old, failed, and "gone" whose file was already missing
    assert report.kept_for_pins == 1 and "jammed" in pins.asked
    for job_id in ("old", "failed", "gone"):
        row = await store.jobs.get(job_id)
        assert row is not None and row.audio_pruned_at == NOW and row.audio_path  # kept: which
    kept = await store.jobs.get("fresh")
    assert kept is not None and kept.audio_pruned_at is None
    # A second sweep finds nothing new (and asks again about the pinned one).
    again = await sweeper.sweep()
    assert (again.files_deleted, again.rows_marked, again.kept_for_pins) == (0, 0, 1)


async def test_every_batch_is_swept_and_pinned_rows_do_not_stall_it(
    store: SqliteStore, audio_dir: Path
) -> None:
    paths = [
        await add(store, audio_dir, f"j{i:02}", JobState.DELIVERED, at=NOW - WEEK - 100 + i)
        for i in range(11)
    ]
    sweeper = retention(store, audio_dir, batch=3)
    sweeper.add_pins(Pins({"j00", "j01", "j02", "j05"}))
    report = await sweeper.sweep()
    assert report.files_deleted == 7 and report.kept_for_pins == 4
    assert [p.name for p in paths if p.exists()] == ["j00.wav", "j01.wav", "j02.wav", "j05.wav"]


async def test_a_failing_pin_holder_keeps_everything(store: SqliteStore, audio_dir: Path) -> None:
    path = await add(store, audio_dir, "old", JobState.DELIVERED, at=NOW - 2 * WEEK)
    sweeper = retention(store, audio_dir)
    sweeper.add_pins(Pins(set(), fail=True))
    report = await sweeper.sweep()
    assert path.exists() and report.files_deleted == 0 and report.rows_marked == 0


async def test_a_path_outside_audio_dir_is_never_deleted(
    store: SqliteStore, audio_dir: Path, tmp_path: Path
) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("not the bot's")
    escape = audio_dir / ".." / "precious.txt"
    await store.jobs.insert(
        job("odd", JobState.DELIVERED, at=NOW - 2 * WEEK, audio_path=str(escape))
    )
    report = await retention(store, audio_dir).sweep()
    assert precious.exists()
    assert report.outside_audio_dir == [str(escape)] and report.files_deleted == 0
    row = await store.jobs.get("odd")
    assert row is not None and row.audio_pruned_at == NOW  # no longer the bot's to keep


async def test_partial_downloads_left_by_a_crash_are_removed(
    store: SqliteStore, audio_dir: Path
) -> None:
    stale = audio_dir / ".abc.wav.0123.part"
    live = audio_dir / ".def.wav.4567.part"
    audio = audio_dir / "kept.wav"
    for path in (stale, live, audio):
        path.write_bytes(b"x" * 100)
    os.utime(stale, (NOW - 2 * HOUR, NOW - 2 * HOUR))
    os.utime(live, (NOW - 60, NOW - 60))
    os.utime(audio, (NOW - 30 * DAY, NOW - 30 * DAY))  # no row: not the sweep's business
    report = await retention(store, audio_dir).sweep()
    assert report.part_files_deleted == 1
    assert not stale.exists() and live.exists() and audio.exists()


async def test_old_rows_go_only_when_an_admin_asks_and_their_audio_is_gone(
    store: SqliteStore, audio_dir: Path
) -> None:
    long_ago = NOW - 100 * DAY
    await store.jobs.insert(job("done", JobState.DELIVERED, at=long_ago))
    await store.jobs.insert(job("recent", JobState.FAILED, at=NOW - DAY))
    await store.jobs.insert(job("running", JobState.SUBMITTED, at=long_ago))
    await store.jobs.insert(job("cli", JobState.DELIVERED, at=long_ago, origin=Origin.TERMINAL))
    await add(store, audio_dir, "pinned", JobState.DELIVERED, at=long_ago)
    await store.jobs.insert(job("charged?", JobState.SUBMIT_UNKNOWN, at=long_ago))
    await store.database.execute(
        "INSERT INTO quota_reservations (job_id, guild_id, user_id, state, counts_member, "
        "bot_day, created_at, updated_at) VALUES ('charged?', 1, 42, 'reserved', 1, 0, 0, 0)"
    )
    keep_rows = retention(store, audio_dir)
    keep_rows.add_pins(Pins({"pinned"}))
    assert (await keep_rows.sweep()).rows_deleted == 0

    sweeper = retention(store, audio_dir, rows_seconds=30 * DAY, batch=1)
    sweeper.add_pins(Pins({"pinned"}))
    report = await sweeper.sweep()
    assert report.rows_deleted == 2
    left = {
        j.id
        for j in [
            await store.jobs.get(i)
            for i in ("done", "recent", "running", "cli", "pinned", "charged?")
        ]
        if j is not None
    }
    assert left == {"recent", "running", "pinned", "charged?"}


async def test_audio_dir_usage_counts_every_file(audio_dir: Path) -> None:
    (audio_dir / "a.wav").write_bytes(b"a" * 1500)
    (audio_dir / "sub").mkdir()
    (audio_dir / "sub" / "b.flac").write_bytes(b"b" * 500)
    assert audio_dir_usage(audio_dir) == (2, 2000)
    assert audio_dir_usage(audio_dir / "missing") == (0, 0)


async def test_the_schema_knows_when_audio_was_pruned(store: SqliteStore) -> None:
    assert await store.schema_version() == store.expected_schema_version()
    row = job("j", JobState.DELIVERED, at=NOW)
    await store.jobs.insert(replace(row, audio_pruned_at=NOW))
    assert await store.jobs.get("j") == replace(row, audio_pruned_at=NOW)


async def test_the_files_made_for_a_delivery_go_with_the_audio(
    store: SqliteStore, audio_dir: Path
) -> None:
    downloaded = await add(store, audio_dir, "made", JobState.COMPLETED, at=NOW - 3 * WEEK)
    prepared = audio_dir / "prepared" / "made"
    prepared.mkdir(parents=True)
    made = [prepared / "made.k1.flac", prepared / "made.k1.png"]
    for path in made:
        path.write_bytes(b"m" * 10)
    delivered = await store.jobs.deliver(
        "made",
        Delivery(DeliveryVia.CHANNEL, message_id=1, channel_id=2, files=tuple(map(str, made))),
        now=NOW - 2 * WEEK,
    )
    assert delivered is not None and delivered.state is JobState.DELIVERED
    report = await retention(store, audio_dir).sweep()
    assert report.files_deleted == 3 and report.bytes_freed == 1020
    assert not downloaded.exists() and not prepared.exists()
    assert (audio_dir / "prepared").exists()  # only the job's own folder goes
