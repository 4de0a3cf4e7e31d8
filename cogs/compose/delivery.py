"""The engine's Discord listener: status updates while a job runs, then its result or failure.

Everything needed comes from the job row's `DiscordContext`, so jobs resumed after a restart
are updated and delivered exactly like fresh ones. A result goes through the interaction token
while it has `upload_margin` seconds to live (a new message that pings the requester, with the
audio when it fits the upload limit, else the link), otherwise — or when the token is refused —
with the bot token in the channel, and by DM when the channel is closed to the bot. A deleted
status message never loses the result. Once the result (or the failure) is out, the job's
quota reservation is finished and the outcome noted for the mod log, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import discord

from bot.interactions import (
    DiscordContext,
    FileRefused,
    Outgoing,
    Posted,
    Route,
    message_url,
    ping_only,
    send,
)
from bot.jobs.engine import JobEngine
from bot.jobs.models import Delivery, DeliveryVia, Job, JobState, Origin, Phase, Progress
from bot.quota.ledger import QuotaLedger
from bot.quota.models import DM_GUILD_ID, GenerationNote
from bot.tasks import TaskTracker
from bot.text.failures import failure_text
from bot.text.format import format_bytes
from bot.text.result import audio_filename, result_content, result_embed
from bot.text.status import UPLOADING, finished_status_text, status_text
from bot.tuning import DeliveryTuning
from cogs.compose.owners import OwnerAlerts
from cogs.compose.status import StatusBoard, StatusSlot

log = logging.getLogger(__name__)

ViewFactory = Callable[[Job], discord.ui.View | None]  # the buttons under a result
UPLOADING_NOTICE_BYTES = 2 * 1024 * 1024
LOST_AUDIO = "❌ The finished audio was lost before it could be delivered. Sorry!"
_IGNORED_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED, Phase.TIMED_OUT})
_VIA = {Route.INTERACTION: DeliveryVia.INTERACTION, Route.CHANNEL: DeliveryVia.CHANNEL}


def discord_context(job: Job) -> DiscordContext | None:
    return DiscordContext.from_context(job.context) if job.origin is Origin.DISCORD else None


class ResultDelivery:
    def __init__(
        self,
        client: discord.Client,
        engine: JobEngine,
        ledger: QuotaLedger,
        tasks: TaskTracker,
        status: StatusBoard,
        owners: OwnerAlerts,
        *,
        result_view: ViewFactory,
        tuning: DeliveryTuning,
    ) -> None:
        self._client = client
        self._engine = engine
        self.ledger = ledger
        self._tasks = tasks
        self.status = status
        self._owners = owners
        self._result_view = result_view
        self._tuning = tuning
        self._delivering: dict[str, asyncio.Task[None]] = {}
        self.deliveries = 0  # for tests and the benchmark

    # -- JobListener ---------------------------------------------------------------------------

    async def on_progress(self, job: Job, progress: Progress) -> None:
        ctx = discord_context(job)
        if ctx is None or progress.phase in _IGNORED_PHASES or job.state.is_final:
            return
        if job.id not in self._delivering:
            self.status.show(job, ctx, progress)

    async def on_finished(self, job: Job) -> None:
        ctx = discord_context(job)
        if ctx is None or job.id in self._delivering or job.state is JobState.DELIVERED:
            return
        slot = self.status.close(job.id)  # no progress edit may land after this
        task = self._tasks.spawn(self._finish(job, ctx, slot), name=f"deliver-{job.id}")
        self._delivering[job.id] = task
        task.add_done_callback(lambda _task: self._delivering.pop(job.id, None))

    async def drain(self, grace: float) -> int:
        """Let deliveries in flight finish (up to `grace` seconds) so that a result posted just
        before shutdown is also marked delivered; returns how many were still running after."""
        pending = set(self._delivering.values())
        if pending:
            _done, pending = await asyncio.wait(pending, timeout=grace)
        return len(pending)

    # -- the end of a job ----------------------------------------------------------------------

    async def _finish(self, job: Job, ctx: DiscordContext, slot: StatusSlot) -> None:
        note: GenerationNote | None = None
        try:
            if job.state is JobState.COMPLETED:
                link = await self._deliver(job, ctx, slot)
                if link is not None:
                    note = self._note(job, ctx, "delivered", link)
            else:
                await self._report_failure(job, ctx, slot)
                note = self._note(job, ctx, job.state.value, None)
        finally:
            # The generation has ended either way; after the result, so it does not delay it.
            await self._finish_reservation(job, note)

    @staticmethod
    def _note(job: Job, ctx: DiscordContext, outcome: str, link: str | None) -> GenerationNote:
        return GenerationNote(
            job_id=job.id,
            guild_id=ctx.guild_id or DM_GUILD_ID,
            user_id=ctx.requester_id,
            prompt=job.prompt,
            outcome=outcome,
            link=link,
        )

    async def _finish_reservation(self, job: Job, note: GenerationNote | None) -> None:
        """End the reservation's in-flight status (and note the outcome) in one transaction;
        if noting fails, at least end the in-flight status."""
        try:
            await self.ledger.finish(job.id, note)
            return
        except Exception:
            log.exception("job %s: could not note the outcome for the mod log", job.id)
        if note is not None:
            try:
                await self.ledger.finish(job.id)
            except Exception:
                log.exception("job %s: could not end the reservation's in-flight status", job.id)

    async def _deliver(self, job: Job, ctx: DiscordContext, slot: StatusSlot) -> str | None:
        """Post the result; its jump link, or None when it was not posted."""
        big = (job.audio_size_bytes or 0) >= UPLOADING_NOTICE_BYTES
        if self._token_usable(ctx) and self.status.may_edit_now(slot) and big:
            # Say "uploading" for uploads long enough to notice, before the upload starts: it
            # costs one round trip, worth it for megabytes, not for a small file. (Started in
            # the background, the edit would queue behind the upload on the token's lock and
            # land only once the upload was over.)
            text = status_text(prompt=job.prompt, phase=UPLOADING, started_at=job.created_at)
            try:
                await self.status.final_edit(slot, ctx, text)
            except Exception as error:  # the announcement is optional; the result is not
                log.warning("job %s: could not announce the upload: %r", job.id, error)

        prepared, reason = await self._attachment_decision(job, ctx)
        if prepared is None and not job.audio_url:
            # Completed without a file or a link: nothing to deliver, so say so and stop.
            if not await self.status.final_edit(slot, ctx, LOST_AUDIO):
                await self._post_notice(ctx, LOST_AUDIO)
            await self._engine.mark_delivered(job.id, Delivery(DeliveryVia.NOTHING))
            return None
        try:
            posted = await self._post_result(job, ctx, prepared=prepared, reason=reason)
        except FileRefused:
            posted = await self._post_result(
                job, ctx, prepared=None, reason="it is over this server's upload limit"
            )
        finally:
            if prepared is not None:
                prepared.close()  # when no attempt used it (a sent File is closed already)
        if posted is None:
            log.error("job %s: result not posted anywhere; the next start retries it", job.id)
            return None

        message = posted.message
        await self._engine.mark_delivered(
            job.id,
            Delivery(
                via=_VIA.get(posted.route, DeliveryVia.DM),
                message_id=message.id,
                channel_id=message.channel.id,
            ),
        )
        self.deliveries += 1
        log.info("job %s delivered via %s", job.id, posted.route.value)
        where = "below" if posted.route is not Route.DM else "in your direct messages"
        elapsed = (job.completed_at or self._tuning.clock()) - job.created_at
        finished = finished_status_text(prompt=job.prompt, elapsed=elapsed, where=where)
        await self.status.final_edit(slot, ctx, finished)
        if job.audio_path:
            await asyncio.to_thread(Path(job.audio_path).unlink, missing_ok=True)
        return self._jump_url(ctx, posted)

    def _token_usable(self, ctx: DiscordContext) -> bool:
        return ctx.handle.alive(margin=self._tuning.upload_margin, now=self._tuning.clock())

    @staticmethod
    def _jump_url(ctx: DiscordContext, posted: Posted) -> str:
        """The result message's link. discord.py's `Message.jump_url` says `@me` for messages
        sent by webhook or into a partial channel (they carry no guild), so the guild comes from
        the job's context; a DM result really is under `@me`."""
        guild_id = ctx.guild_id if posted.route is not Route.DM else None
        return message_url(guild_id, posted.message.channel.id, posted.message.id)

    async def _attachment_decision(
        self, job: Job, ctx: DiscordContext
    ) -> tuple[discord.File | None, str | None]:
        """The file to attach, opened (one thread hop: it also proves the file is still on
        disk), or None and why it goes as a link."""
        size = job.audio_size_bytes
        if not job.audio_path or size is None:
            return None, "the file was too large or could not be downloaded"
        if not ctx.can_attach:
            return None, "I am not allowed to attach files in this channel"
        if size > ctx.filesize_limit:
            return None, (
                f"it is {format_bytes(size)}, over this server's "
                f"{format_bytes(ctx.filesize_limit)} upload limit"
            )
        try:
            return await _open_audio(job), None
        except OSError:  # e.g. AUDIO_DIR cleared
            return None, "the downloaded file is no longer on the bot's disk"

    async def _post_result(
        self, job: Job, ctx: DiscordContext, *, prepared: discord.File | None, reason: str | None
    ) -> Posted | None:
        """Post the result message, attaching `prepared` (the link without it); `FileRefused`
        when Discord refused the file as too large."""
        unused = [prepared] if prepared is not None else []

        async def attachment() -> discord.File:
            """The prepared file for the first attempt, a fresh handle for any later one."""
            return unused.pop() if unused else await _open_audio(job)

        attach = prepared is not None
        message = Outgoing(
            content=result_content(
                ctx.requester_id, link=None if attach else job.audio_url, reason=reason
            ),
            embeds=[result_embed(job)],
            view=self._result_view(job),
            allowed_mentions=ping_only(ctx.requester_id),
            file=attachment if attach else None,
        )
        return await send(
            self._client,
            ctx.handle,
            message,
            dm_user_id=ctx.requester_id,
            token_margin=self._tuning.upload_margin,
        )

    async def _post_notice(self, ctx: DiscordContext, text: str) -> None:
        """A channel message naming (not pinging) the requester, when the status is gone."""
        await send(
            self._client,
            ctx.handle,
            Outgoing(f"<@{ctx.requester_id}> {text}"),
            routes=(Route.CHANNEL,),
        )

    async def _report_failure(self, job: Job, ctx: DiscordContext, slot: StatusSlot) -> None:
        if job.error_kind is not None and job.error_kind.account_problem:
            await self._owners.account_problem(job)
        text = failure_text(job)
        if not await self.status.final_edit(slot, ctx, text):
            await self._post_notice(ctx, text)
        await self._engine.note_failure_reported(job.id)


async def _open_audio(job: Job) -> discord.File:
    """A fresh handle on the job's audio (a sent File is closed), opened off the loop."""
    assert job.audio_path is not None
    return await asyncio.to_thread(discord.File, job.audio_path, filename=audio_filename(job))
