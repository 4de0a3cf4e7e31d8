"""`python -m bot sync` and start-up errors, as real processes."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.discord import FakeDiscord
from tests.process_support import bot_env, run_bot_command


async def run_bot(env: dict[str, str], *args: str) -> tuple[int, str]:
    code, stdout, stderr = await run_bot_command(env, *args)
    return code, stdout + stderr


async def test_sync_publishes_the_commands_to_one_server(tmp_path: Path) -> None:
    async with FakeDiscord() as fake_discord:
        guild = fake_discord.add_guild("Sync Test")
        env = bot_env(
            tmp_path,
            DISCORD_TOKEN=fake_discord.bot_token,
            DISCORD_API_BASE_URL=fake_discord.api_base_url,
            DISCORD_GATEWAY_URL=fake_discord.gateway_url,
        )
        code, output = await run_bot(env, "sync", "--guild", str(guild.id))
        assert code == 0, output
        assert f"to server {guild.id}" in output and "/compose" in output
        names = {c["name"] for c in fake_discord.guild_commands[guild.id]}
        assert {"compose", "help"} <= names
        assert fake_discord.global_commands == []
        assert fake_discord.connections == []  # HTTP only: it never opened the gateway
        assert not (tmp_path / "bot.sqlite3").exists()  # and never touched the database
        assert fake_discord.spec_errors == [] and fake_discord.unknown_routes == []


async def test_run_without_a_token_says_what_is_missing(tmp_path: Path) -> None:
    code, output = await run_bot(bot_env(tmp_path, AIMLAPI_KEY="k"), "run")
    assert code == 2
    assert output.strip() == (
        "configuration error: DISCORD_TOKEN: expected the bot token from the Developer Portal"
    )
