"""Starting a piece from Discord: the one path behind /compose, Re-roll and Variation.

Order matters: validate (no I/O) → defer within Discord's 3 s → reserve credit → enqueue. A
refused reservation changes nothing; an enqueue failure gives the credit back. The engine's
first progress event (queued, with the position) becomes the status message.
"""

from __future__ import annotations

import logging
import random

import discord

from bot.bot import JamBot
from bot.interactions import DiscordContext, edit_original, reply, requester_of
from bot.jobs.models import Job, JobRequest, Origin, new_job_id
from bot.jobs.request import (
    SEED_MAX,
    normalize_negative_prompt,
    normalize_prompt,
    validate_request,
)
from bot.quota.models import Grant, Refusal
from bot.text.refusals import refusal_text
from bot.text.requests import invalid_request_text
from cogs.compose.jam_entry import JamEntry

log = logging.getLogger(__name__)


def random_seed() -> int:
    return random.randint(0, SEED_MAX)


async def _status_message_id(
    interaction: discord.Interaction[JamBot],
    callback: discord.InteractionCallbackResponse[JamBot] | None,
) -> int | None:
    if callback is not None and callback.message_id is not None:
        return callback.message_id
    try:
        return (await interaction.original_response()).id
    except discord.HTTPException:
        log.warning("could not find the status message of interaction %s", interaction.id)
        return None


async def start_compose(
    interaction: discord.Interaction[JamBot],
    *,
    prompt: str,
    negative_prompt: str | None = None,
    seed: int | None = None,
    riff_of: str | None = None,
) -> Job | None:
    """Validate, defer, reserve and enqueue; the status message is the deferred response.
    `riff_of`: the job id of the jam entry this one riffs on (the Riff button)."""
    services = interaction.client.services
    # Jam sessions (issue 11): in a jam's thread the jam shapes the request and pays for it.
    entry = await JamEntry.of(
        interaction, prompt=prompt, negative_prompt=negative_prompt, seed=seed, riff_of=riff_of
    )
    if isinstance(entry, str):
        await reply(interaction, entry, ephemeral=True)
        return None
    if entry is not None:
        prompt, negative_prompt = entry.prompt, entry.negative_prompt
    invalid = validate_request(prompt, negative_prompt, seed)
    if invalid is not None:
        await reply(interaction, invalid_request_text(invalid), ephemeral=True)
        return None
    # What is sent, stored and checked: the member's text without invisible noise.
    prompt = normalize_prompt(prompt)
    negative_prompt = normalize_negative_prompt(negative_prompt)

    # Acknowledge first: everything after this may take longer than Discord's 3 seconds.
    callback = await interaction.response.defer(thinking=True)
    message_id = await _status_message_id(interaction, callback)

    job_id = new_job_id()
    outcome: Grant | Refusal | str
    if entry is None:
        outcome = await services.quota.ledger.reserve(requester_of(interaction), job_id, prompt)
    else:
        outcome = await entry.reserve(job_id)  # the jam's budget pays
    if not isinstance(outcome, Grant):
        text = f"🙏 {outcome if isinstance(outcome, str) else refusal_text(outcome)}"
        if not await edit_original(interaction, text):
            await reply(interaction, text)
        return None

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
        can_attach=interaction.guild_id is None or interaction.app_permissions.attach_files,
        member_remaining=outcome.member_remaining,
        pool_remaining=outcome.pool_remaining,
    )
    request = JobRequest(
        prompt=prompt,
        requester_id=str(interaction.user.id),
        negative_prompt=negative_prompt,
        seed=seed,
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        origin=Origin.DISCORD,
        context={**context.to_context(), **(entry.context() if entry else {})},
        job_id=job_id,
    )
    try:
        job = await services.engine.enqueue(request)
    except BaseException:
        await services.quota.ledger.refund(job_id)
        raise
    log.info("job %s queued for user %s in guild %s", job.id, interaction.user.id, job.guild_id)
    return job
