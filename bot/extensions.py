"""The extensions the bot loads at start-up, in order. A listed module that fails to load
stops start-up with an error naming it: a bot silently missing a command is worse than none."""

from __future__ import annotations

EXTENSIONS: tuple[str, ...] = (
    "cogs.compose",
    "cogs.history",
    "cogs.meta",
    "cogs.quota",
    "cogs.modlog",
)
