"""`python -m bot check`: say whether the bot can run here, and what to fix if not.

Prints one line per check ("ok: ..." or "problem: ..."); exits 1 if any problem was found.
Never prints secrets, only whether they are set.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TextIO

from bot.cli.online import check_aimlapi, check_discord
from bot.config import DEPRECATED, Settings
from bot.endpoints import apply_discord_endpoints
from bot.fs import folder_error
from bot.jobs.models import UNFINISHED_STATES, JobState
from bot.jobs.retention import audio_dir_usage
from bot.shards import runs_every_shard, shard_plan
from bot.store.connect import open_store
from bot.store.errors import StoreError


def run_check(settings: Settings, *, online: bool = False) -> int:
    if online:
        apply_discord_endpoints(settings.discord_api_base_url, settings.discord_gateway_url)
    return asyncio.run(check(settings, sys.stdout, online=online))


async def check(settings: Settings, out: TextIO, *, online: bool = False) -> int:
    problems = 0

    def report(ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        print(("ok: " if ok else "problem: ") + text, file=out)

    report(
        bool(settings.discord_token),
        "DISCORD_TOKEN is set"
        if settings.discord_token
        else "DISCORD_TOKEN is not set: the bot cannot log in to Discord "
        "(get it from the Developer Portal, Bot -> Reset Token, and put it in .env)",
    )
    report(
        bool(settings.aimlapi_key),
        "AIMLAPI_KEY is set"
        if settings.aimlapi_key
        else "AIMLAPI_KEY is not set: neither the bot nor `compose` can make music "
        "(create a key at https://aimlapi.com/app/keys and put it in .env)",
    )
    report(True, f"music model {settings.aimlapi_model} at {settings.aimlapi_base_url}")
    _report_shards(settings, report)
    for old in settings.deprecated:
        print(
            f"note: {old} is deprecated; write DATABASE_URL={settings.database_url} instead"
            if DEPRECATED[old] == "DATABASE_URL"
            else f"note: {old} is deprecated; use {DEPRECATED[old]}",
            file=out,
        )
    if online:
        await check_discord(settings, report)
        await check_aimlapi(settings, report)

    try:
        store = await open_store(settings)
    except StoreError as exc:
        report(False, f"database: {exc}")
    else:
        try:
            version = await store.schema_version()
            expected = store.expected_schema_version()
            report(
                version == expected,
                f"database: {store.description}, schema version {version}"
                + ("" if version == expected else f" (expected {expected})"),
            )
            counts = await store.jobs.count_by_state()
            unfinished = {state: counts.get(state, 0) for state in UNFINISHED_STATES}
            total = sum(unfinished.values())
            detail = ", ".join(f"{n} {state.value}" for state, n in unfinished.items() if n)
            report(True, f"{total} unfinished job(s)" + (f" ({detail})" if detail else ""))
            unknown = counts.get(JobState.SUBMIT_UNKNOWN, 0)
            if unknown:
                print(
                    f"note: {unknown} job(s) ended with an unknown submission outcome; "
                    "check the AI/ML API dashboard for charges",
                    file=out,
                )
        finally:
            await store.close()

    audio_dir = settings.audio_dir
    try:
        await asyncio.to_thread(audio_dir.mkdir, parents=True, exist_ok=True)
        writable = await asyncio.to_thread(os.access, audio_dir, os.W_OK)
    except OSError as exc:
        report(False, f"AUDIO_DIR {audio_dir} cannot be created: {folder_error(audio_dir, exc)}")
    else:
        report(
            writable,
            f"AUDIO_DIR {audio_dir} is writable"
            if writable
            else f"AUDIO_DIR {audio_dir} is not writable",
        )
        files, size = await asyncio.to_thread(audio_dir_usage, audio_dir)
        print(
            f"disk: AUDIO_DIR holds {files} file(s), {_megabytes(size)}; {_kept(settings)}",
            file=out,
        )

    if problems:
        print(f"{problems} problem(s) found.", file=out)
        return 1
    print("Everything needed to run the bot is in place.", file=out)
    return 0


def _report_shards(settings: Settings, report: Callable[[bool, str], None]) -> None:
    count, ids = settings.shard_count, settings.shard_ids
    plan = "shards: " + shard_plan(count, ids)
    if settings.runs_shard_zero:
        plan += "; this process answers DMs" + (
            " and syncs DEV_GUILD_ID at start" if settings.dev_guild_id else ""
        )
    report(True, plan)
    if not runs_every_shard(count, ids) and settings.database_url.backend != "postgresql":
        report(
            False,
            "shards: the processes that run the other shards must share this database, and an "
            "SQLite file serves one process: set DATABASE_URL to PostgreSQL",
        )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _kept(settings: Settings) -> str:
    hours = settings.audio_retention_hours
    audio = f"audio kept {hours:g} h after delivery"
    days = settings.job_row_retention_days
    rows = "job rows kept" if days is None else f"job rows kept {days} day(s)"
    return f"{audio}, {rows} (AUDIO_RETENTION_HOURS, JOB_ROW_RETENTION_DAYS)"
