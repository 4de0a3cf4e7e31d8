"""Every listed extension loads, and the command tree serialises as Discord will receive it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bot import ExtensionLoadError, JamBot
from bot.config import load_settings
from bot.extensions import EXTENSIONS


def make_bot(tmp_path: Path, extensions: tuple[str, ...]) -> JamBot:
    settings = load_settings(
        environ={"DISCORD_TOKEN": "x", "AIMLAPI_KEY": "y", "DATABASE_PATH": str(tmp_path / "d")},
        dotenv_path=tmp_path / "none.env",
    )
    return JamBot(settings, extensions=extensions, commands_only=True)


async def test_every_extension_loads_and_the_tree_serialises(tmp_path: Path) -> None:
    assert EXTENSIONS == ("cogs.compose", "cogs.meta", "cogs.quota", "cogs.modlog")
    bot = make_bot(tmp_path, EXTENSIONS)
    async with bot:
        await bot._load_extensions()
        commands = bot.tree.get_commands()
        payloads = [command.to_dict(bot.tree) for command in commands]
    names = {payload["name"] for payload in payloads}
    assert {"compose", "help", "quota"} <= names
    compose = next(p for p in payloads if p["name"] == "compose")
    options = {o["name"]: o for o in compose["options"]}
    assert options["prompt"]["required"] is True and options["prompt"]["max_length"] == 600
    assert options["negative_prompt"]["max_length"] == 300
    assert options["seed"]["min_value"] == 0 and options["seed"]["max_value"] == 2**32 - 1
    for payload in payloads:
        assert 1 <= len(payload["description"]) <= 100
        for option in payload.get("options", []):
            assert 1 <= len(option["description"]) <= 100


async def test_a_broken_extension_stops_start_up_with_its_name(tmp_path: Path) -> None:
    bot = make_bot(tmp_path, ("cogs.compose", "cogs.does_not_exist"))
    async with bot:
        with pytest.raises(ExtensionLoadError, match=r"cogs\.does_not_exist"):
            await bot._load_extensions()
