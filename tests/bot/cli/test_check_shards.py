"""`python -m bot check` names the shards a process runs and refuses a split over SQLite."""

from __future__ import annotations

import io
from pathlib import Path

from bot.cli.check import check
from bot.config import DatabaseUrl, load_settings


async def check_lines(tmp_path: Path, **environ: str) -> tuple[int, list[str]]:
    settings = load_settings(
        {
            "DISCORD_TOKEN": "t",
            "AIMLAPI_KEY": "k",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
            "AUDIO_DIR": str(tmp_path / "audio"),
            **environ,
        },
        dotenv_path=tmp_path / "no.env",
    )
    out = io.StringIO()
    code = await check(settings, out)
    return code, [line for line in out.getvalue().splitlines() if " shards: " in line]


async def test_without_settings_the_plan_is_discords_advice(tmp_path: Path) -> None:
    code, lines = await check_lines(tmp_path, DEV_GUILD_ID="42")
    assert code == 0
    assert lines == [
        "ok: shards: as many shards as Discord recommends, all in this process; this process "
        "answers DMs and syncs DEV_GUILD_ID at start"
    ]


async def test_every_shard_in_one_process_may_use_sqlite(tmp_path: Path) -> None:
    code, lines = await check_lines(tmp_path, SHARD_COUNT="2", SHARD_IDS="1,0")
    assert code == 0
    assert lines == ["ok: shards: all 2 shard(s) in this process; this process answers DMs"]


async def test_part_of_the_shards_needs_postgresql(tmp_path: Path) -> None:
    code, lines = await check_lines(tmp_path, SHARD_COUNT="3", SHARD_IDS="2,1", DEV_GUILD_ID="4")
    assert code == 1
    assert lines == [
        "ok: shards: shard(s) 2, 1 of 3 (other processes run the rest)",
        "problem: shards: the processes that run the other shards must share this database, "
        "and an SQLite file serves one process: set DATABASE_URL to PostgreSQL",
    ]


async def test_part_of_the_shards_on_postgresql_is_fine(
    tmp_path: Path, postgres_url: DatabaseUrl
) -> None:
    code, lines = await check_lines(
        tmp_path, SHARD_COUNT="2", SHARD_IDS="0", DATABASE_URL=postgres_url.reveal()
    )
    assert code == 0, lines
    assert lines == [
        "ok: shards: shard(s) 0 of 2 (other processes run the rest); this process answers DMs"
    ]
