"""`python -m bot` as a real process against the fakes: one /compose delivered, SIGTERM → exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.store.database import Database
from bot.store.jobs import JobStore
from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import FakeDiscord

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
async def test_python_m_bot_delivers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with FakeDiscord() as fake_discord, FakeAimlApi() as fake_api:
        guild = fake_discord.add_guild("Process Test")
        channel = guild.add_text_channel("music")
        alice = guild.add_member("alice")
        env = {
            **{k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME", "LANG"))},
            "DISCORD_TOKEN": fake_discord.bot_token,
            "AIMLAPI_KEY": fake_api.api_key,
            "AIMLAPI_BASE_URL": fake_api.base_url,
            "DISCORD_API_BASE_URL": fake_discord.api_base_url,
            "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            "AUDIO_DIR": str(tmp_path / "audio"),
            "DEV_GUILD_ID": str(guild.id),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        # A bot that has learnt from past jobs (here: 0.3-1 s each) polls early; a fresh one
        # would wait for the vendor's ~30 s typical time before its first poll.
        db = await Database.open(tmp_path / "bot.sqlite3")
        store = JobStore(db)
        for i in range(30):
            await store.record_generation_time(f"past{i}", 0.3 + i / 40, now=time.time())
        await db.close()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await fake_discord.wait_ready(timeout=20)
            await fake_discord.notifier.wait_until(
                lambda: fake_discord.guild_commands.get(guild.id), timeout=10
            )
            interaction = await fake_discord.invoke(
                "compose", {"prompt": "a process-level jam"}, user=alice, channel=channel
            )
            result = await interaction.wait_for_followup(lambda m: bool(m.embeds), timeout=30)
            assert result.attachments[0].data == fake_api.audio
            await interaction.wait_for_original(lambda m: "Done" in m.content, timeout=10)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                output, _ = await process.communicate()
        log = output.decode(errors="replace")
        assert process.returncode == 0, log
        assert "stop signal received" in log
        assert fake_discord.bot_token not in log and fake_api.api_key not in log
        assert fake_discord.spec_errors == [] and fake_discord.unknown_routes == []
        assert fake_discord.internal_errors == []
        assert fake_api.schema_errors == []
