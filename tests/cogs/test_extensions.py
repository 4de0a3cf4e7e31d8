"""Every listed extension loads, and the command tree serialises as Discord will receive it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import cogs
from bot.bot import ExtensionLoadError, JamBot
from bot.config import load_settings
from bot.extensions import EXTENSIONS
from bot.jobs.request import NEGATIVE_PROMPT_MAX_CHARS, PROMPT_MAX_CHARS


def make_bot(tmp_path: Path, extensions: tuple[str, ...]) -> JamBot:
    settings = load_settings(
        environ={"DISCORD_TOKEN": "x", "AIMLAPI_KEY": "y", "DATABASE_PATH": str(tmp_path / "d")},
        dotenv_path=tmp_path / "none.env",
    )
    return JamBot(settings, extensions=extensions, commands_only=True)


async def test_every_extension_loads_and_the_tree_serialises(tmp_path: Path) -> None:
    assert EXTENSIONS == ("cogs.compose", "cogs.history", "cogs.meta", "cogs.quota", "cogs.modlog")
    bot = make_bot(tmp_path, EXTENSIONS)
    async with bot:
        await bot._load_extensions()
        commands = bot.tree.get_commands()
        payloads = [command.to_dict(bot.tree) for command in commands]
    names = {payload["name"] for payload in payloads}
    assert {"compose", "help", "history", "quota"} <= names
    compose = next(p for p in payloads if p["name"] == "compose")
    options = {o["name"]: o for o in compose["options"]}
    # Discord enforces the request's one definition of its limits.
    assert options["prompt"]["required"] is True
    assert options["prompt"]["max_length"] == PROMPT_MAX_CHARS == 600
    assert options["negative_prompt"]["max_length"] == NEGATIVE_PROMPT_MAX_CHARS
    assert options["seed"]["min_value"] == 0 and options["seed"]["max_value"] == 2**32 - 1
    quota = next(p for p in payloads if p["name"] == "quota")
    assert {o["type"] for o in quota["options"]} == {SUB_COMMAND, SUB_COMMAND_GROUP}
    # Checked all the way down: groups, subcommands and their options.
    problems = [p for payload in payloads for p in command_problems(payload)]
    assert problems == []


def test_every_cog_module_is_a_listed_extension() -> None:
    """A cog module or package that is not in EXTENSIONS would silently never load."""
    cogs_dir = Path(cogs.__file__).resolve().parent
    modules = {f"cogs.{path.stem}" for path in cogs_dir.glob("*.py") if path.stem != "__init__"}
    modules |= {f"cogs.{path.parent.name}" for path in cogs_dir.glob("*/__init__.py")}
    assert modules, "no cog modules found"
    assert sorted(modules - set(EXTENSIONS)) == []
    assert sorted(set(EXTENSIONS) - modules) == []  # and nothing listed is missing
    assert len(set(EXTENSIONS)) == len(EXTENSIONS)


# Discord's limits for application commands (developer docs, "Application Commands").
NAME = re.compile(r"^[-_\w]{1,32}$")
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMAND_CHARS = 4000  # name, description, and every option's and choice's name and value
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


def command_problems(payload: dict[str, Any]) -> list[str]:
    """Every way a serialised slash command breaks Discord's limits, as readable lines."""
    name = payload["name"]
    found = _entry_problems(name, payload)
    total = _chars(payload)
    if total > MAX_COMMAND_CHARS:
        found.append(f"/{name}: {total} characters in all, over {MAX_COMMAND_CHARS}")
    return found


def _entry_problems(path: str, entry: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if not NAME.match(entry["name"]) or entry["name"] != entry["name"].lower():
        found.append(f"/{path}: name {entry['name']!r} is not 1-32 lowercase characters")
    if not 1 <= len(entry.get("description") or "") <= 100:
        found.append(f"/{path}: description must be 1-100 characters")
    options = entry.get("options") or []
    if len(options) > MAX_OPTIONS:
        found.append(f"/{path}: {len(options)} options, over {MAX_OPTIONS}")
    seen_optional = False
    for option in options:
        where = f"{path} {option['name']}"
        found += _entry_problems(where, option)
        if option["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
            continue
        if option.get("required"):
            if seen_optional:
                found.append(f"/{where}: a required option after an optional one")
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            found.append(f"/{where}: {len(choices)} choices, over {MAX_CHOICES}")
        for choice in choices:
            if not 1 <= len(choice["name"]) <= 100:
                found.append(f"/{where}: choice name {choice['name']!r} not 1-100 characters")
    return found


def _chars(entry: dict[str, Any]) -> int:
    total = len(entry["name"]) + len(entry.get("description") or "")
    for choice in entry.get("choices") or []:
        total += len(choice["name"]) + len(str(choice["value"]))
    return total + sum(_chars(option) for option in entry.get("options") or [])


def test_the_limit_check_catches_what_discord_refuses() -> None:
    good = {"name": "ok", "description": "fine", "options": []}
    assert command_problems(good) == []
    long_description = {**good, "description": "d" * 101}
    nested_blank = {
        **good,
        "options": [
            {
                "type": SUB_COMMAND,
                "name": "sub",
                "description": "s",
                "options": [{"type": 3, "name": "x", "description": "", "required": True}],
            }
        ],
    }
    order = {
        **good,
        "options": [
            {"type": 3, "name": "a", "description": "a"},
            {"type": 3, "name": "b", "description": "b", "required": True},
        ],
    }
    assert command_problems(long_description)
    assert command_problems({**good, "name": "Compose"})
    assert command_problems(nested_blank) == ["/ok sub x: description must be 1-100 characters"]
    assert command_problems(order) == ["/ok b: a required option after an optional one"]


async def test_a_broken_extension_stops_start_up_with_its_name(tmp_path: Path) -> None:
    bot = make_bot(tmp_path, ("cogs.compose", "cogs.does_not_exist"))
    async with bot:
        with pytest.raises(ExtensionLoadError, match=r"cogs\.does_not_exist"):
            await bot._load_extensions()
