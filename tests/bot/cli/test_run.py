"""`python -m bot` as a real process against the fakes: one /compose delivered, SIGTERM → exit 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.audio_support import same_audio
from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import FakeDiscord
from tests.process_support import (
    bot_env,
    learn_generation_times,
    run_bot_command,
    start_bot_process,
)


@pytest.mark.slow
async def test_python_m_bot_delivers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with FakeDiscord() as fake_discord, FakeAimlApi() as fake_api:
        guild = fake_discord.add_guild("Process Test")
        channel = guild.add_text_channel("music")
        alice = guild.add_member("alice")
        env = bot_env(
            tmp_path,
            DISCORD_TOKEN=fake_discord.bot_token,
            AIMLAPI_KEY=fake_api.api_key,
            AIMLAPI_BASE_URL=fake_api.base_url,
            DISCORD_API_BASE_URL=fake_discord.api_base_url,
            DISCORD_GATEWAY_URL=fake_discord.gateway_url,
            DEV_GUILD_ID=str(guild.id),
            LOG_LEVEL="INFO",
            CANCEL_WINDOW_SECONDS="0",
        )
        # A bot that has learnt from past jobs (here: 0.3-1 s each) polls early; a fresh one
        # would wait for the vendor's ~30 s typical time before its first poll.
        await learn_generation_times(
            tmp_path / "bot.sqlite3", [0.3 + i / 40 for i in range(30)], now=time.time()
        )
        process = await start_bot_process(env, merge_stderr=True)
        try:
            await fake_discord.wait_ready(timeout=20)
            await fake_discord.notifier.wait_until(
                lambda: fake_discord.guild_commands.get(guild.id), timeout=10
            )
            interaction = await fake_discord.invoke(
                "compose", {"prompt": "a process-level jam"}, user=alice, channel=channel
            )
            result = await interaction.wait_for_followup(lambda m: bool(m.embeds), timeout=30)
            assert same_audio(result.attachments[0].data, fake_api.audio)
            await interaction.wait_for_original(lambda m: m.deleted, timeout=10)  # replaced
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                output, _ = await process.communicate()
        log = output.decode(errors="replace")
        assert process.returncode == 0, log
        assert "stop signal received" in log
        assert "PyNaCl" not in log and "voice will NOT be supported" not in log  # no voice used
        assert fake_discord.bot_token not in log and fake_api.api_key not in log
        assert fake_discord.spec_errors == [] and fake_discord.unknown_routes == []
        assert fake_discord.internal_errors == []
        assert fake_api.schema_errors == []


async def run_against(fake_discord: FakeDiscord, tmp_path: Path, **settings: str) -> list[str]:
    """`python -m bot` against the fake Discord until it exits; its output lines."""
    env = bot_env(
        tmp_path,
        DISCORD_TOKEN=fake_discord.bot_token,
        AIMLAPI_KEY="k",
        DISCORD_API_BASE_URL=fake_discord.api_base_url,
        DISCORD_GATEWAY_URL=fake_discord.gateway_url,
        LOG_LEVEL="WARNING",
    )
    env.update(settings)
    code, stdout, stderr = await run_bot_command(env)
    assert code == 1, stdout + stderr
    return (stdout + stderr).strip().splitlines()


async def test_a_broken_database_stops_the_start_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database, it only has its name" * 100)
    async with FakeDiscord() as fake_discord:
        lines = await run_against(fake_discord, tmp_path, DATABASE_URL=f"sqlite:///{broken}")
    assert len(lines) == 1, lines
    assert "cannot start" in lines[0] and str(broken) in lines[0]
    assert "not a database" in lines[0]


async def test_an_audio_dir_that_is_a_file_stops_the_start_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    async with FakeDiscord() as fake_discord:
        lines = await run_against(fake_discord, tmp_path, AUDIO_DIR=str(tmp_path / "a-file"))
    assert len(lines) == 1, lines
    assert "cannot start" in lines[0] and "AUDIO_DIR" in lines[0]


async def test_no_network_at_start_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = bot_env(
        tmp_path,
        DISCORD_TOKEN="token",
        AIMLAPI_KEY="k",
        DISCORD_API_BASE_URL=f"http://127.0.0.1:{port}/api/v10",
        LOG_LEVEL="WARNING",
    )
    code, stdout, stderr = await run_bot_command(env)
    lines = (stdout + stderr).strip().splitlines()
    assert code == 1 and len(lines) == 1, lines
    assert f"cannot reach Discord at http://127.0.0.1:{port}/api/v10" in lines[0]
