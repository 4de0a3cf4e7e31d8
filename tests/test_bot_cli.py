"""`python -m bot sync` and start-up errors, as real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.discord import FakeDiscord

REPO = Path(__file__).resolve().parents[1]


def bot_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME", "LANG"))}
    env.update({"DATABASE_PATH": str(tmp_path / "bot.sqlite3"), "AUDIO_DIR": str(tmp_path / "a")})
    env.update(overrides)
    return env


async def run_bot_command(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_sync_publishes_the_commands_to_one_server(tmp_path: Path) -> None:
    async with FakeDiscord() as fake_discord:
        guild = fake_discord.add_guild("Sync Test")
        env = bot_env(
            tmp_path,
            DISCORD_TOKEN=fake_discord.bot_token,
            DISCORD_API_BASE_URL=fake_discord.api_base_url,
            DISCORD_GATEWAY_URL=fake_discord.gateway_url,
        )
        code, output = await run_bot_command(env, "sync", "--guild", str(guild.id))
        assert code == 0, output
        assert f"to server {guild.id}" in output and "/compose" in output
        names = {c["name"] for c in fake_discord.guild_commands[guild.id]}
        assert {"compose", "help"} <= names
        assert fake_discord.global_commands == []
        assert fake_discord.connections == []  # HTTP only: it never opened the gateway
        assert not (tmp_path / "bot.sqlite3").exists()  # and never touched the database
        assert fake_discord.spec_errors == [] and fake_discord.unknown_routes == []


async def test_run_without_a_token_says_what_is_missing(tmp_path: Path) -> None:
    code, output = await run_bot_command(bot_env(tmp_path, AIMLAPI_KEY="k"), "run")
    assert code == 2
    assert output.strip() == (
        "configuration error: DISCORD_TOKEN: expected the bot token from the Developer Portal"
    )
