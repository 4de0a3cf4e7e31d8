"""Starting a piece from Discord: the one path behind /compose, Re-roll and Variation.

Order matters: validate (no I/O) → defer within Discord's 3 s → reserve credit → enqueue. A
refused reservation changes nothing; an enqueue failure gives the credit back.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_context import DiscordContext
from bot.discord_reply import edit_original, reply
from bot.jobs.models import Job, JobRequest, JobState, Phase, Progress, new_job_id
from bot.presentation.errors import SEED_MAX, refusal_text, validate_request
from bot.quota.service import Refusal, Requester

if TYPE_CHECKING:
    from bot.bot import JamBot

log = logging.getLogger(__name__)


def random_seed() -> int:
    return random.randint(0, SEED_MAX)


def requester_of(interaction: discord.Interaction[Any]) -> Requester:
    """Who is asking, as the quota service sees them."""
    user = interaction.user
    if isinstance(user, discord.Member):
        permissions = interaction.permissions
        return Requester(
            user_id=user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            role_ids=frozenset(role.id for role in user.roles),
            is_moderator=permissions.manage_guild or permissions.administrator,
        )
    return Requester(
        user_id=user.id, guild_id=interaction.guild_id, channel_id=interaction.channel_id
    )


async def _status_message_id(
    interaction: discord.Interaction[Any],
    callback: discord.InteractionCallbackResponse[Any] | None,
) -> int | None:
    if callback is not None and callback.message_id is not None:
        return callback.message_id
    try:
        return (await interaction.original_response()).id
    except discord.HTTPException:
        log.warning("could not find the status message of interaction %s", interaction.id)
        return None


async def start_compose(
    bot: JamBot,
    interaction: discord.Interaction[Any],
    *,
    prompt: str,
    negative_prompt: str | None = None,
    seed: int | None = None,
) -> Job | None:
    """Validate, defer, reserve and enqueue; the status message is the deferred response."""
    negative_prompt = negative_prompt.strip() or None if negative_prompt else None
    problem = validate_request(prompt, negative_prompt, seed)
    if problem is not None:
        await reply(interaction, problem, ephemeral=True)
        return None

    # Acknowledge first: everything after this may take longer than Discord's 3 seconds.
    callback = await interaction.response.defer(thinking=True)
    message_id = await _status_message_id(interaction, callback)

    job_id = new_job_id()
    requester = requester_of(interaction)
    outcome = await bot.quota.reserve(requester, job_id, prompt.strip())
    if isinstance(outcome, Refusal):
        text = f"🙏 {refusal_text(outcome.message, outcome.retry_at)}"
        if not await edit_original(interaction, text):
            await reply(interaction, text)
        return None

    app_permissions = interaction.app_permissions
    context = DiscordContext(
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        interaction_id=interaction.id,
        expires_at=interaction.expires_at.timestamp(),
        channel_id=interaction.channel_id,
        guild_id=interaction.guild_id,
        requester_id=interaction.user.id,
        status_message_id=message_id,
        filesize_limit=interaction.filesize_limit,
        can_attach=interaction.guild_id is None or app_permissions.attach_files,
        member_remaining=outcome.member_remaining,
        pool_remaining=outcome.pool_remaining,
    )
    request = JobRequest(
        prompt=prompt.strip(),
        requester_id=str(interaction.user.id),
        negative_prompt=negative_prompt,
        seed=seed,
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        origin="discord",
        context=context.to_dict(),
        job_id=job_id,
    )
    try:
        job = await bot.engine.enqueue(request)
    except BaseException:
        await bot.quota.refund(job_id)
        raise
    log.info("job %s queued for user %s in guild %s", job.id, interaction.user.id, job.guild_id)
    # Show the status at once (with the Cancel button); later updates come from the engine.
    if job.state is JobState.QUEUED:
        position = bot.engine.queue_position(job.id)
        progress = Progress(job_id=job.id, phase=Phase.QUEUED, elapsed=0.0, queue_position=position)
        bot.delivery.show_initial(job, context, progress)
    return job
