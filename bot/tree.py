"""The command tree: one error policy for every slash command and component.

Commands refuse by raising a `UserError` (or one of its kinds); the tree turns it — and every
other error a member can meet — into a polite ephemeral message, sent the right way whether the
interaction was unanswered, deferred, answered or expired (see `bot.interactions.reply`).
Unexpected exceptions are logged with a short reference id the member can quote.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.interactions import reply
from bot.quota.models import QuotaInputError
from bot.text.failures import (
    bot_missing_permissions_text,
    cooldown_text,
    missing_permissions_text,
    unexpected_error_text,
)
from bot.text.quota import input_problem_text

log = logging.getLogger(__name__)


class UserError(app_commands.AppCommandError):
    """An error whose message is meant for the member (polite, no internals)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(UserError, app_commands.CheckFailure):
    """The member may not use this here (a check failed); nothing was done."""


class NotReady(UserError):
    """The bot is starting or stopping; try again in a moment."""


def error_text(error: BaseException) -> tuple[str, bool]:
    """(what to tell the member, whether it was expected). Unexpected errors are logged."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserError):
        return error.message, True
    if isinstance(error, QuotaInputError):
        return input_problem_text(error), True
    if isinstance(error, app_commands.CommandOnCooldown):
        return cooldown_text(error.retry_after), True
    if isinstance(error, app_commands.MissingPermissions):
        return missing_permissions_text(error.missing_permissions), True
    if isinstance(error, app_commands.BotMissingPermissions):
        return bot_missing_permissions_text(error.missing_permissions), True
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server.", True
    if isinstance(error, app_commands.TransformerError):
        return "I could not understand one of the options; please check it and try again.", True
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use that command here.", True
    reference = secrets.token_hex(4)
    log.error("unexpected error (reference %s)", reference, exc_info=error)
    return unexpected_error_text(reference), False


async def report_error(
    interaction: discord.Interaction[discord.Client], error: BaseException
) -> None:
    """Tell the member about `error` without ever raising."""
    text, _expected = error_text(error)
    try:
        await reply(interaction, text, ephemeral=True)
    except Exception:
        log.exception("could not tell the member about an error in interaction %s", interaction.id)


class JamTree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)
