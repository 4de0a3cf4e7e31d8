"""`python -m bot sync` and start-up errors, as real processes."""

from __future__ import annotations

import socket
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


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (the port was just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v10"


async def test_sync_without_network_says_so_in_one_line(tmp_path: Path) -> None:
    env = bot_env(tmp_path, DISCORD_TOKEN="token", DISCORD_API_BASE_URL=closed_port_url())
    code, output = await run_bot(env, "sync")
    assert code == 1
    assert output.strip().count("\n") == 0, output
    assert output.startswith("cannot reach Discord at http://127.0.0.1:")
    assert "Traceback" not in output and "token" not in output


async def test_sync_to_a_server_warns_about_global_copies_and_clear_removes_them(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake_discord:
        guild = fake_discord.add_guild("Both Ways")
        env = bot_env(
            tmp_path,
            DISCORD_TOKEN=fake_discord.bot_token,
            DISCORD_API_BASE_URL=fake_discord.api_base_url,
            DISCORD_GATEWAY_URL=fake_discord.gateway_url,
        )
        code, output = await run_bot(env, "sync")
        assert code == 0, output
        assert "--clear" in output  # how to remove a server's own copies, should there be any
        code, output = await run_bot(env, "sync", "--guild", str(guild.id))
        assert code == 0, output
        assert "twice" in output and f"sync --guild {guild.id} --clear" in output
        assert fake_discord.guild_commands[guild.id]

        code, output = await run_bot(env, "sync", "--guild", str(guild.id), "--clear")
        assert code == 0, output
        assert fake_discord.guild_commands[guild.id] == []
        assert {c["name"] for c in fake_discord.global_commands} >= {"compose", "help"}
        assert f"removed the commands of server {guild.id}" in output
        assert "twice" not in output
        assert fake_discord.spec_errors == [] and fake_discord.unknown_routes == []


async def test_clear_needs_a_server(tmp_path: Path) -> None:
    code, output = await run_bot(bot_env(tmp_path, DISCORD_TOKEN="t"), "sync", "--clear")
    assert code == 2
    assert "--clear" in output and "--guild" in output


async def test_a_server_the_bot_is_not_in_is_one_line(tmp_path: Path) -> None:
    async with FakeDiscord() as fake_discord:
        env = bot_env(
            tmp_path,
            DISCORD_TOKEN=fake_discord.bot_token,
            DISCORD_API_BASE_URL=fake_discord.api_base_url,
        )
        code, output = await run_bot(env, "sync", "--guild", "424242")
    assert code == 1
    assert output.strip().count("\n") == 0, output
    assert "424242" in output and "Traceback" not in output
