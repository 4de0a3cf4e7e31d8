"""The status message of each running track, edited as its job moves on — but never too often.

Edits are throttled per job: at most one every `edit_interval` seconds, only when the text
changed, later updates coalescing into the next allowed edit — so a busy bot never provokes
Discord 429s. Edits are best-effort: one that Discord does not answer within
`EDIT_TIMEOUT_SECONDS` (discord.py retries 5xx for half a minute) is dropped, and closing a
job's status cancels any edit still in flight, so a status never delays the result. A status
message found deleted is never edited again. When the interaction token is about to die
before the job is likely done, the message says where the result will go and stops being
edited (bot-token edits share the channel's rate limit).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.interactions import EXPIRY_MARGIN, NO_PINGS, DiscordContext, message_gone, token_dead
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, Phase, Progress
from bot.tasks import TaskTracker
from bot.text.format import fit_message
from bot.text.status import EXPIRY_NOTE, status_text
from bot.tuning import DeliveryTuning

log = logging.getLogger(__name__)

ViewFactory = Callable[[str], discord.ui.View | None]
FROZEN_MEMORY = 10_000
DOWNLOADING_NOTICE_DELAY = 1.5  # seconds in the downloading phase before it is shown
EDIT_TIMEOUT_SECONDS = 5.0


@dataclass
class StatusSlot:
    """Throttle state of one job's status message."""

    sent: tuple[str, bool] | None = None  # (text, has cancel button) last sent
    sent_at: float = -math.inf  # loop time of the last edit
    pending: tuple[str, bool] | None = None
    task: asyncio.Task[None] | None = None
    closed: bool = False
    notice_sent: bool = False  # told the member the result will come by channel message
    not_before: float = 0.0  # loop time before which the pending edit must not be sent

    def is_open(self) -> bool:
        """Read anew after every await: `close` may have run meanwhile."""
        return not self.closed


class StatusBoard:
    def __init__(
        self,
        client: discord.Client,
        engine: JobEngine,
        tasks: TaskTracker,
        *,
        queued_view: ViewFactory,
        tuning: DeliveryTuning,
    ) -> None:
        self._client = client
        self._engine = engine
        self._tasks = tasks
        self._queued_view = queued_view
        self._tuning = tuning
        self._slots: dict[str, StatusSlot] = {}
        # Jobs whose status message must not be edited by progress any more (finished, or the
        # message is gone). Bounded: only recent jobs can still produce stray progress events.
        self._frozen: dict[str, None] = {}
        self._gone: set[int] = set()  # status messages found deleted (10008)
        self.edits = 0  # for tests and the benchmark

    def show(self, job: Job, ctx: DiscordContext, progress: Progress) -> None:
        """Queue a status update; it is sent now or at the next allowed moment."""
        if job.id in self._frozen:
            return
        slot = self._slots.setdefault(job.id, StatusSlot())
        if slot.closed:
            return
        text = status_text(
            prompt=job.prompt,
            phase=progress.phase,
            progress=progress,
            seed=job.seed,
            pool_remaining=ctx.pool_remaining,
        )
        wanted = (text, progress.phase == Phase.QUEUED)
        if wanted == (slot.pending or slot.sent):
            return
        slot.pending = wanted
        # Downloading usually takes a moment and ends in the result; an edit then would hold up
        # the upload (one token's calls go one at a time), so say it only if it lasts.
        slot.not_before = (
            asyncio.get_running_loop().time() + DOWNLOADING_NOTICE_DELAY
            if progress.phase == Phase.DOWNLOADING
            else 0.0
        )
        if slot.task is None or slot.task.done():
            slot.task = self._tasks.spawn(self._flush(job.id, ctx, slot), name=f"status-{job.id}")

    def close(self, job_id: str) -> None:
        """Stop progress edits for the job, cancelling one still in flight: whatever comes
        next (the result, a failure) must not wait for a status edit."""
        self._frozen[job_id] = None
        while len(self._frozen) > FROZEN_MEMORY:
            del self._frozen[next(iter(self._frozen))]
        slot = self._slots.pop(job_id, None)
        if slot is None:
            return
        slot.closed = True
        slot.pending = None
        if slot.task is not None and not slot.task.done():
            slot.task.cancel()

    async def final_edit(self, ctx: DiscordContext, text: str) -> bool:
        """Replace the status with `text` (after `close`); False when it is gone."""
        return await self._edit(ctx, text, None)

    async def remove(self, ctx: DiscordContext) -> bool:
        """Delete the status message (the result now stands in its place); False when that
        failed and it is still there."""
        message_id = ctx.status_message_id
        if message_id is None or message_id in self._gone:
            return True
        if ctx.handle.alive(margin=EXPIRY_MARGIN, now=self._tuning.clock()):
            try:
                await ctx.handle.webhook(self._client).delete_message(message_id)
                self._gone.add(message_id)
                return True
            except discord.HTTPException as error:
                if message_gone(error):
                    return True
                if not token_dead(error):
                    log.info(
                        "could not remove status %s: %s %s", message_id, error.status, error.code
                    )
                    return False
        if ctx.channel_id is None:
            return False
        try:
            await (
                self._client.get_partial_messageable(ctx.channel_id)
                .get_partial_message(message_id)
                .delete()
            )
        except discord.HTTPException as error:
            if message_gone(error):
                return True
            log.info("could not remove status %s: %s %s", message_id, error.status, error.code)
            return False
        self._gone.add(message_id)
        return True

    async def _flush(self, job_id: str, ctx: DiscordContext, slot: StatusSlot) -> None:
        loop = asyncio.get_running_loop()
        while slot.pending is not None and slot.is_open():
            delay = max(slot.sent_at + self._tuning.edit_interval, slot.not_before) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            wanted, slot.pending = slot.pending, None
            if wanted == slot.sent:
                continue
            await self._send(job_id, ctx, slot, wanted)
            slot.sent, slot.sent_at = wanted, loop.time()

    async def _send(
        self, job_id: str, ctx: DiscordContext, slot: StatusSlot, wanted: tuple[str, bool]
    ) -> None:
        text, cancellable = wanted
        if slot.notice_sent or ctx.expiry_notice_sent:
            return
        if ctx.expires_at - self._tuning.clock() < self._tuning.notice_margin:
            slot.notice_sent = True
            await self._engine.update_context(job_id, ctx.with_notice_sent().to_context())
            text, cancellable = f"{text}\n{EXPIRY_NOTE}", False
        view = self._queued_view(job_id) if cancellable else None
        try:
            edited = await asyncio.wait_for(self._edit(ctx, text, view), EDIT_TIMEOUT_SECONDS)
        except TimeoutError:
            log.info("status edit of job %s dropped: Discord did not answer in time", job_id)
            return
        if not edited and ctx.status_message_id in self._gone:
            self.close(job_id)

    async def _edit(self, ctx: DiscordContext, text: str, view: discord.ui.View | None) -> bool:
        """Edit the status message by token while it lives, else with the bot token."""
        message_id = ctx.status_message_id
        if message_id is None or message_id in self._gone:
            return False
        text = fit_message(text)
        self.edits += 1
        if ctx.handle.alive(margin=EXPIRY_MARGIN, now=self._tuning.clock()):
            try:
                await ctx.handle.webhook(self._client).edit_message(
                    message_id, content=text, view=view, allowed_mentions=NO_PINGS
                )
                return True
            except discord.HTTPException as error:
                if message_gone(error):
                    self._gone.add(message_id)
                    return False
                if not token_dead(error):
                    log.warning("status edit failed: %s %s", error.status, error.code)
                    return False
        if ctx.channel_id is None:
            return False
        message = self._client.get_partial_messageable(ctx.channel_id).get_partial_message(
            message_id
        )
        try:
            await message.edit(content=text, view=view, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            if message_gone(error):
                self._gone.add(message_id)
            else:
                log.warning("status edit (bot token) failed: %s %s", error.status, error.code)
            return False
        return True
