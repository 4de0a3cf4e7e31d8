"""Starting a track from Discord: the one path behind /compose, Re-roll and Variation.

Order matters: validate (no I/O) → reserve the credit (milliseconds) → answer → enqueue. A
refusal is answered privately (ephemeral) and changes nothing; only an accepted request gets
the public status message, which the engine's progress then keeps current. Discord wants an
answer within 3 s: a reservation slower than `REPLY_BUDGET_SECONDS` (a locked database) is
answered with a private "thinking…" first, and an accepted one then gets its public status
message as a followup. The seed is always chosen here, so every track can be reproduced.
"""

from __future__ import annotations

import asyncio
import logging
import random

import discord

from bot.bot import JamBot
from bot.interactions import NO_PINGS, DiscordContext, edit_original, reply, requester_of
from bot.jobs.models import Job, JobRequest, Origin, new_job_id
from bot.jobs.request import (
    SEED_MAX,
    normalize_negative_prompt,
    normalize_prompt,
    validate_request,
)
from bot.quota.models import Grant, Limit, Refusal
from bot.text.refusals import low_allowance_note, refusal_text
from bot.text.requests import invalid_request_text
from bot.text.status import status_text

log = logging.getLogger(__name__)

REPLY_BUDGET_SECONDS = 2.0  # of Discord's 3 s, what the reservation may take before we defer
ON_ITS_WAY = "✅ Your track is on its way; its status is posted below."


def random_seed() -> int:
    return random.randint(0, SEED_MAX)


async def start_compose(
    interaction: discord.Interaction[JamBot],
    *,
    prompt: str,
    negative_prompt: str | None = None,
    seed: int | None = None,
) -> Job | None:
    """Validate, reserve, answer and enqueue; None when the request was refused."""
    services = interaction.client.services
    invalid = validate_request(prompt, negative_prompt, seed)
    if invalid is not None:
        await reply(interaction, invalid_request_text(invalid), ephemeral=True)
        return None
    # What is sent, stored and checked: the member's text without invisible noise.
    prompt = normalize_prompt(prompt)
    negative_prompt = normalize_negative_prompt(negative_prompt)
    seed = random_seed() if seed is None else seed

    job_id = new_job_id()
    reserving = asyncio.ensure_future(
        services.quota.ledger.reserve(requester_of(interaction), job_id, prompt)
    )
    deferred_privately = False
    try:
        outcome = await asyncio.wait_for(asyncio.shield(reserving), REPLY_BUDGET_SECONDS)
    except TimeoutError:
        await interaction.response.defer(ephemeral=True, thinking=True)
        deferred_privately = True
        outcome = await reserving

    if isinstance(outcome, Refusal):
        await _refuse(interaction, outcome, deferred_privately)
        return None
    try:
        message_id = await _open_status(interaction, outcome, prompt, seed, deferred_privately)
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
        job = await services.engine.enqueue(
            JobRequest(
                prompt=prompt,
                requester_id=str(interaction.user.id),
                negative_prompt=negative_prompt,
                seed=seed,
                guild_id=str(interaction.guild_id) if interaction.guild_id else None,
                channel_id=str(interaction.channel_id) if interaction.channel_id else None,
                origin=Origin.DISCORD,
                context=context.to_context(),
                job_id=job_id,
            )
        )
    except BaseException:
        await services.quota.ledger.refund(job_id)
        raise
    log.info("job %s queued for user %s in guild %s", job.id, interaction.user.id, job.guild_id)
    note = low_allowance_note(outcome.member_remaining)
    if note is not None:
        # The member's own numbers: private. A followup would fill a still-loading public
        # status message, so the status is filled in first.
        if not deferred_privately:
            text = status_text(
                prompt=prompt, phase="queued", seed=seed, pool_remaining=outcome.pool_remaining
            )
            await edit_original(interaction, text)
        await interaction.followup.send(note, ephemeral=True, allowed_mentions=NO_PINGS)
    return job


async def _refuse(
    interaction: discord.Interaction[JamBot], refusal: Refusal, deferred_privately: bool
) -> None:
    if refusal.limit is Limit.MEMBER_IN_FLIGHT and refusal.retry_at is None:
        ready = interaction.client.services.engine.expected_finish(str(interaction.user.id))
        if ready is not None:
            refusal = Refusal(refusal.limit, retry_at=ready, allowance=refusal.allowance)
    text = f"🙏 {refusal_text(refusal)}"
    if deferred_privately:
        if not await edit_original(interaction, text):
            await reply(interaction, text)
    else:
        await reply(interaction, text, ephemeral=True)


async def _open_status(
    interaction: discord.Interaction[JamBot],
    grant: Grant,
    prompt: str,
    seed: int,
    deferred_privately: bool,
) -> int | None:
    """The public status message's id: the deferred response, or (after a private defer) a
    public followup; the engine's first progress event fills it in at once."""
    if not deferred_privately:
        callback = await interaction.response.defer(thinking=True)
        if callback is not None and callback.message_id is not None:
            return callback.message_id
        try:
            return (await interaction.original_response()).id
        except discord.HTTPException:
            log.warning("could not find the status message of interaction %s", interaction.id)
            return None
    # The first followup after a defer fills the deferred (private) message: fill it first, so
    # that the status is a message of its own, public.
    await edit_original(interaction, ON_ITS_WAY)
    text = status_text(
        prompt=prompt, phase="queued", seed=seed, pool_remaining=grant.pool_remaining
    )
    message = await interaction.followup.send(text, wait=True, allowed_mentions=NO_PINGS)
    try:
        await interaction.delete_original_response()  # the private placeholder
    except discord.HTTPException:
        log.info("could not remove the private placeholder of interaction %s", interaction.id)
    return message.id
