"""Running `python -m bot` as a real process in tests: a clean environment and the command.

The environment keeps only what a Python process needs from the test runner's (so a developer's
AIMLAPI_*/DISCORD_* variables never leak in) and sets ENV_FILE to nothing, so a `.env` in the
checkout is never read either: each test states every setting it relies on.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[1]
# COVERAGE_: `make test` measures the processes too (coverage's patch = subprocess).
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_", "TMPDIR", "SYSTEMROOT", "COVERAGE_")


def bot_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A process environment with the database and audio in `tmp_path`, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_THROUGH)}
    env.update(
        {
            "ENV_FILE": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",  # absolute: sqlite:////...
            "AUDIO_DIR": str(tmp_path / "audio"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


async def start_bot_process(
    env: dict[str, str], *args: str, merge_stderr: bool = False
) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` from the checkout, stdout (and stderr) piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
    )


async def run_bot_command(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `python -m bot ARGS` to the end (30 s at most): (exit code, stdout, stderr)."""
    process = await start_bot_process(env, *args)
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


async def learn_generation_times(database: Path, seconds: list[float], *, now: float) -> None:
    """Seed the schedule's history, so a fresh bot polls on the fake's time scale at once
    instead of the prior's (~30 s before its first poll)."""
    store = await SqliteStore.open(database)
    for i, duration in enumerate(seconds):
        await store.jobs.record_generation_time(f"past{i}", duration, now=now)
    await store.close()
