"""Talking back to Discord, whatever state an interaction is in, and what a job remembers of it.

An interaction can be unanswered (send_message), deferred or answered (followup, or edit of
the original), or expired — its token dies 15 minutes after creation, and every webhook call
then fails with 401/50027. `send` posts a message along an ordered list of routes: through the
interaction's token while it lives, then in the channel with the bot token, then by DM; `reply`
answers a live interaction and falls back to the channel. `DiscordContext` is what a job row
keeps of its interaction (typed; stored in the job's context), so the status message can be
edited and the result posted after a restart, without the Interaction object.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import discord
from discord.utils import MISSING

from bot.quota.models import Requester
from bot.text.format import fit_message

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 15 * 60.0
# Calls this close to the token's death go through the bot token instead.
EXPIRY_MARGIN = 10.0

UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
INVALID_WEBHOOK_TOKEN = 50027
FILE_TOO_LARGE = 40005

# No message the bot sends pings anyone, except the one result message that pings its requester.
NO_PINGS = discord.AllowedMentions.none()


def ping_only(user_id: int) -> discord.AllowedMentions:
    """Allow exactly one user mention: the requester of a finished piece."""
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(id=user_id)]
    )


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


def message_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """A message's jump link; DM channels live under `@me`."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def requester_of(interaction: discord.Interaction[discord.Client]) -> Requester:
    """Who is asking, as the quota sees them."""
    user = interaction.user
    if isinstance(user, discord.Member):
        return Requester(
            user_id=user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            role_ids=frozenset(role.id for role in user.roles),
            is_moderator=is_moderator(interaction),
        )
    return Requester(
        user_id=user.id, guild_id=interaction.guild_id, channel_id=interaction.channel_id
    )


def is_moderator(interaction: discord.Interaction[discord.Client]) -> bool:
    """Manage Server (or Administrator) in the channel the interaction came from."""
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


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


@dataclass(frozen=True)
class DiscordContext:
    """What a Discord-originated job remembers about its interaction (in `Job.context`).

    The interaction token is a credential: it is kept in the job row (the bot needs it after a
    restart) but never logged; the repr hides it."""

    application_id: int
    interaction_token: str
    interaction_id: int
    expires_at: float  # when the interaction token dies (unix seconds)
    channel_id: int | None
    guild_id: int | None
    requester_id: int
    status_message_id: int | None
    filesize_limit: int  # the interaction's per-attachment upload limit, in bytes
    can_attach: bool  # whether the bot may attach files in that channel
    member_remaining: int | None = None
    pool_remaining: int | None = None
    expiry_notice_sent: bool = False

    _KEY = "discord"

    def __repr__(self) -> str:
        return (
            f"DiscordContext(interaction_id={self.interaction_id}, channel_id={self.channel_id}, "
            f"status_message_id={self.status_message_id})"
        )

    def to_context(self) -> dict[str, Any]:
        """The job context that stores this (see `from_context`)."""
        return {self._KEY: asdict(self)}

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> DiscordContext | None:
        """The Discord part of a job's context, or None for jobs not from Discord."""
        data = context.get(cls._KEY)
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except TypeError:
            return None

    def with_notice_sent(self) -> DiscordContext:
        return replace(self, expiry_notice_sent=True)

    @property
    def handle(self) -> InteractionHandle:
        return InteractionHandle(
            application_id=self.application_id,
            token=self.interaction_token,
            expires_at=self.expires_at,
            channel_id=self.channel_id,
            message_id=self.status_message_id,
        )


# -- posting a message along routes ------------------------------------------------------------


class Route(enum.StrEnum):
    INTERACTION = "interaction"  # a followup through the interaction token
    CHANNEL = "channel"  # a channel message with the bot token
    DM = "dm"  # a direct message to the member


class FileRefused(Exception):
    """Discord refused an attachment as too large (413/40005): send without it instead."""


@dataclass(frozen=True)
class Outgoing:
    """A message to post. `files` opens fresh attachments for each attempt (a sent File is
    closed); None posts without any."""

    content: str
    embeds: Sequence[discord.Embed] = ()
    view: discord.ui.View | None = None
    allowed_mentions: discord.AllowedMentions = NO_PINGS
    files: Callable[[], Awaitable[list[discord.File]]] | None = None


@dataclass(frozen=True)
class Posted:
    route: Route
    message: discord.Message


async def send(
    client: discord.Client,
    handle: InteractionHandle,
    message: Outgoing,
    *,
    routes: Sequence[Route] = (Route.INTERACTION, Route.CHANNEL, Route.DM),
    dm_user_id: int | None = None,
    token_margin: float = EXPIRY_MARGIN,
) -> Posted | None:
    """Post `message` on the first route that works; None when none did.

    The interaction route is skipped when the token has less than `token_margin` seconds to
    live or is refused; the channel route gives way to a DM only when the channel is closed to
    the bot (403). An attachment refused as too large raises `FileRefused` at once (every route
    has the same limit). Discord's 5xx and other errors are raised."""
    content = fit_message(message.content)

    async def attachments() -> list[discord.File] | Any:
        return await message.files() if message.files is not None else MISSING

    view = message.view or MISSING
    for route in routes:
        try:
            if route is Route.INTERACTION:
                if not handle.alive(margin=token_margin):
                    continue
                followup = await handle.webhook(client).send(
                    content,
                    embeds=list(message.embeds),
                    files=await attachments(),
                    view=view,
                    allowed_mentions=message.allowed_mentions,
                    wait=True,
                )
                return Posted(route, followup)
            target: discord.abc.Messageable
            if route is Route.CHANNEL:
                if handle.channel_id is None:
                    continue
                target = client.get_partial_messageable(handle.channel_id)
            else:
                if dm_user_id is None:
                    continue
                target = await client.create_dm(discord.Object(id=dm_user_id))
            sent = await target.send(
                content,
                embeds=list(message.embeds),
                files=await attachments(),
                view=view,
                allowed_mentions=message.allowed_mentions,
            )
            return Posted(route, sent)
        except discord.HTTPException as error:
            if isinstance(error, discord.DiscordServerError):
                raise  # Discord's own trouble: the caller decides whether to try again
            if message.files is not None and file_too_large(error):
                raise FileRefused from error
            if route is Route.INTERACTION and token_dead(error):
                log.info("interaction token refused; trying the next route")
                continue
            if route is Route.CHANNEL and isinstance(error, discord.Forbidden):
                log.info(
                    "channel %s is closed to the bot; trying the next route", handle.channel_id
                )
                continue
            if route is Route.DM or route is routes[-1]:
                log.warning("cannot post by %s: %s %s", route.value, error.status, error.code)
                return None
            raise
    return None


async def reply(
    interaction: discord.Interaction[discord.Client],
    content: str,
    *,
    ephemeral: bool = True,
    embed: discord.Embed | None = None,
    allowed_mentions: discord.AllowedMentions = NO_PINGS,
) -> None:
    """Say `content` to the member, however far the interaction has got.

    Unanswered: a response. Deferred or answered: a followup (after a defer the first followup
    fills the "thinking…" message). Expired or the token refused: a channel message instead,
    naming the member (which renders as their name and, with no allowed mentions, pings no one).
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
    handle = InteractionHandle(
        application_id=interaction.application_id,
        token=interaction.token,
        expires_at=0.0,
        channel_id=interaction.channel_id,
    )
    await send(
        interaction.client,
        handle,
        Outgoing(f"{interaction.user.mention} {content}", embeds, None, allowed_mentions),
        routes=(Route.CHANNEL,),
    )


async def edit_original(
    interaction: discord.Interaction[discord.Client],
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
