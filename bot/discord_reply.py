"""Expiry-aware replies: answer an interaction correctly whatever state it is in.

An interaction can be unanswered (send_message), deferred or answered (followup, or edit of
the original), or expired — its token dies 15 minutes after creation, and every webhook call
then fails with 401/50027. A reply to an expired interaction goes to the channel with the bot
token instead. `InteractionHandle` is the part of an interaction the job row remembers, so the
status message can be edited (and the result posted) after a restart, without the Interaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.presentation.text import NO_PINGS, fit_message

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 15 * 60.0
# Calls this close to the token's death go through the bot token instead.
EXPIRY_MARGIN = 10.0

UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
INVALID_WEBHOOK_TOKEN = 50027
FILE_TOO_LARGE = 40005


def token_dead(error: discord.HTTPException) -> bool:
    """The interaction token can no longer be used (expired, unknown or revoked)."""
    return error.status == 401 or error.code in (
        INVALID_WEBHOOK_TOKEN,
        UNKNOWN_WEBHOOK,
        UNKNOWN_INTERACTION,
    )


def message_gone(error: discord.HTTPException) -> bool:
    return error.code == UNKNOWN_MESSAGE


def file_too_large(error: discord.HTTPException) -> bool:
    return error.status == 413 or error.code == FILE_TOO_LARGE


@dataclass(frozen=True)
class InteractionHandle:
    """What is needed to keep talking through an interaction after it (or the bot) is gone."""

    application_id: int
    token: str
    expires_at: float  # unix seconds
    channel_id: int | None
    message_id: int | None = None  # the original response, once known

    def __repr__(self) -> str:  # the token is a credential: never shown
        return (
            f"InteractionHandle(application_id={self.application_id}, "
            f"channel_id={self.channel_id}, message_id={self.message_id})"
        )

    def alive(self, *, margin: float = EXPIRY_MARGIN, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - margin

    def webhook(self, client: discord.Client) -> discord.Webhook:
        return discord.Webhook.partial(self.application_id, self.token, client=client)


async def reply(
    interaction: discord.Interaction[Any],
    content: str,
    *,
    ephemeral: bool = True,
    embed: discord.Embed | None = None,
    allowed_mentions: discord.AllowedMentions = NO_PINGS,
) -> None:
    """Say `content` to the member, however far the interaction has got.

    Unanswered: a response. Deferred or answered: a followup (after a defer the first followup
    fills the "thinking…" message). Expired or the token refused: a channel message instead.
    """
    embeds: Sequence[discord.Embed] = [embed] if embed else []
    content = fit_message(content)
    alive = not interaction.is_expired() and (
        interaction.expires_at.timestamp() - time.time() > EXPIRY_MARGIN
    )
    if alive:
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    content, embeds=embeds, ephemeral=ephemeral, allowed_mentions=allowed_mentions
                )
            else:
                await interaction.followup.send(
                    content, embeds=embeds, ephemeral=ephemeral, allowed_mentions=allowed_mentions
                )
            return
        except discord.HTTPException as error:
            if not token_dead(error):
                raise
            log.info("interaction %s token refused; replying in the channel", interaction.id)
    await channel_fallback(
        interaction.client,
        interaction.channel_id,
        fit_message(f"{interaction.user.mention} {content}"),
        embeds=embeds,
        allowed_mentions=allowed_mentions,
    )


async def channel_fallback(
    client: discord.Client,
    channel_id: int | None,
    content: str,
    *,
    embeds: Sequence[discord.Embed] = (),
    allowed_mentions: discord.AllowedMentions = NO_PINGS,
) -> discord.Message | None:
    """Post with the bot token in the channel; None when there is no channel or no access."""
    if channel_id is None:
        return None
    channel = client.get_partial_messageable(channel_id)
    try:
        return await channel.send(
            fit_message(content), embeds=list(embeds), allowed_mentions=allowed_mentions
        )
    except discord.HTTPException as error:
        log.warning("cannot post in channel %s: %s %s", channel_id, error.status, error.code)
        return None


async def edit_original(
    interaction: discord.Interaction[Any],
    content: str,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
) -> bool:
    """Replace the original response; False when it is gone or the token is dead."""
    try:
        await interaction.edit_original_response(
            content=fit_message(content),
            embeds=[embed] if embed else [],
            view=view,
            allowed_mentions=NO_PINGS,
        )
    except discord.HTTPException as error:
        if token_dead(error) or message_gone(error):
            return False
        raise
    return True
