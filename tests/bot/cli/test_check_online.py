"""`python -m bot check --online`: the token and the key are tried, for free, and named."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.aimlapi import FakeAimlApi
from tests.fakes.discord import FakeDiscord
from tests.process_support import bot_env, run_bot_command


def online_env(
    tmp_path: Path, discord: FakeDiscord, api: FakeAimlApi, **extra: str
) -> dict[str, str]:
    settings = {
        "DISCORD_TOKEN": discord.bot_token,
        "AIMLAPI_KEY": api.api_key,
        "AIMLAPI_BASE_URL": api.base_url,
        "DISCORD_API_BASE_URL": discord.api_base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
    }
    return bot_env(tmp_path, **{**settings, **extra})


async def test_check_online_confirms_both_secrets_and_prints_the_invite(tmp_path: Path) -> None:
    async with FakeDiscord() as discord, FakeAimlApi() as api:
        code, stdout, stderr = await run_bot_command(
            online_env(tmp_path, discord, api), "check", "--online"
        )
    assert code == 0, stdout + stderr
    assert "ok: DISCORD_TOKEN works: logged in as" in stdout
    assert f"application {discord.application_id}" in stdout
    assert f"client_id={discord.application_id}" in stdout and "applications.commands" in stdout
    assert "ok: AIMLAPI_KEY works" in stdout
    assert api.submissions == []  # nothing was generated, nothing charged
    assert discord.bot_token not in stdout and api.api_key not in stdout


async def test_check_online_names_a_refused_key_and_token(tmp_path: Path) -> None:
    async with FakeDiscord() as discord, FakeAimlApi() as api:
        env = online_env(tmp_path, discord, api, DISCORD_TOKEN="fake.wrong", AIMLAPI_KEY="wrong")
        code, stdout, _ = await run_bot_command(env, "check", "--online")
    assert code == 1
    assert "problem: Discord refused DISCORD_TOKEN" in stdout
    assert "problem: the AI/ML API refused AIMLAPI_KEY (401)" in stdout
    assert "wrong" not in stdout.replace("refused", "")
