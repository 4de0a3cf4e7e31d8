"""Running `python -m bot compose` as a real subprocess against the fake AI/ML API."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.fakes.aimlapi import FakeAimlApi
from tests.process_support import (
    bot_env,
    learn_generation_times,
    run_bot_command,
    start_bot_process,
)


def environment(tmp_path: Path, api: FakeAimlApi | None, **extra: str) -> dict[str, str]:
    env = bot_env(tmp_path, LOG_LEVEL="WARNING", DISCORD_TOKEN="", AIMLAPI_KEY="test-key")
    if api is not None:
        env["AIMLAPI_BASE_URL"] = api.base_url
    env.update(extra)
    return env


async def run_bot(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await run_bot_command(env, *args)


async def learn_fast_generations(tmp_path: Path, seconds: float = 0.3) -> None:
    """Past jobs took `seconds`, so the schedule polls on that scale instead of the prior's."""
    durations = [seconds + (i % 5) / 50 for i in range(25)]
    await learn_generation_times(tmp_path / "bot.sqlite3", durations, now=0.0)


async def interrupt_while_generating(tmp_path: Path, api: FakeAimlApi, *args: str) -> str:
    """Start `compose`, press Ctrl-C once the provider has the job (exit 130, nothing on
    stdout); the stderr it printed."""
    process = await start_bot_process(environment(tmp_path, api), "compose", "a long drone", *args)
    assert process.stderr is not None
    line = b""
    async with asyncio.timeout(15):
        # Lyria 2's own queue is shown once the generation id is stored.
        while b"Lyria 2" not in line or b"Sending" in line:
            line = await process.stderr.readline()
    process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 130
    assert stdout == b""  # nothing was saved
    return stderr.decode()


def resume_command(stderr: str) -> str:
    """The job id from the 'python -m bot compose --resume JOB' an interrupted run printed."""
    return stderr.split("--resume ", 1)[1].split()[0].strip("`.")
