"""The engine's Discord listener: status updates while a job runs, then its result or failure.

Everything needed comes from the job row's `DiscordContext`, so jobs resumed after a restart
are updated and delivered exactly like fresh ones. A result is one new message that pings the
requester, with the audio when it fits the upload limit (else the link); it goes through the
interaction token while it has `upload_margin` seconds to live, otherwise — or when the token
is refused — with the bot token in the channel, and by DM when the channel is closed to the
bot. The status message is then removed, so the channel gets one message per track.

Robust to what can go wrong after the provider has charged: Discord's 5xx and network errors
are retried with backoff for `RESULT_RETRY_SECONDS`; a job completed before this process
started is first looked for among the channel's recent messages (its Re-roll button names the
job), so a crash between posting and recording never posts a result twice; so is one taken over
from a process that died. Once the result (or the failure) is out, the job's quota reservation
is finished and the outcome noted for the mod log, in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord

from bot.audio import AudioWorker, DeliveryReason, PreparedAudio
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
from bot.text.audio import link_reason
from bot.text.failures import failure_text
from bot.text.result import result_content, result_embed
from bot.text.status import UPLOADING, status_text
from bot.tuning import DeliveryTuning
from cogs.compose.buttons import reroll_custom_id
from cogs.compose.owners import OwnerAlerts
from cogs.compose.status import StatusBoard
from cogs.compose.tracks import open_track, prepare_track

log = logging.getLogger(__name__)

ViewFactory = Callable[[Job], discord.ui.View | None]  # the buttons under a result
UPLOADING_NOTICE_BYTES = 2 * 1024 * 1024
UPLOADING_NOTICE_TIMEOUT = 2.0  # the notice is optional: it never holds the upload longer
RESULT_RETRY_SECONDS = 15 * 60.0
HISTORY_SEARCHED = 100  # recent messages looked through for a result posted before a restart
LOST_AUDIO = "❌ The finished audio was lost before it could be delivered. Sorry!"
DONE = "✅ Done: the track is posted below."
_IGNORED_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED, Phase.TIMED_OUT})
_VIA = {
    Route.INTERACTION: DeliveryVia.INTERACTION,
    Route.CHANNEL: DeliveryVia.CHANNEL,
    Route.DM: DeliveryVia.DM,
}
_TRANSIENT = (discord.DiscordServerError, aiohttp.ClientError, TimeoutError)


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
        audio: AudioWorker,
        audio_dir: Path,
    ) -> None:
        self._client = client
        self._audio = audio
        self._audio_dir = audio_dir
        self._engine = engine
        self.ledger = ledger
        self._tasks = tasks
        self.status = status
        self._owners = owners
        self._result_view = result_view
        self._tuning = tuning
        self._started_at = tuning.clock()
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
        self.status.close(job.id)  # no progress edit may land after this, nor hold it up
        task = self._tasks.spawn(self._finish(job, ctx), name=f"deliver-{job.id}")
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

    async def _finish(self, job: Job, ctx: DiscordContext) -> None:
        note: GenerationNote | None = None
        try:
            if job.state is JobState.COMPLETED:
                link = await self._deliver(job, ctx)
                if link is not None:
                    note = self._note(job, ctx, "delivered", link)
            else:
                await self._report_failure(job, ctx)
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

    async def _deliver(self, job: Job, ctx: DiscordContext) -> str | None:
        """Post the result (once); its jump link, or None when it was not posted."""
        if job.completed_at is not None and (
            job.completed_at < self._started_at or self._engine.taken_over(job.id)
        ):
            earlier = await self._find_posted(job, ctx)
            if earlier is not None:
                log.info("job %s: its result was posted before the restart", job.id)
                return await self._posted(job, ctx, earlier)
        await self._announce_upload(job, ctx)
        audio, reason = await self._prepare_audio(job, ctx)
        if (audio is None or audio.file is None) and not job.audio_url:
            # Completed without a file or a link: nothing to deliver, so say so and stop.
            if not await self.status.final_edit(ctx, LOST_AUDIO):
                await self._post_notice(ctx, LOST_AUDIO)
            await self._engine.mark_delivered(job.id, Delivery(DeliveryVia.NOTHING))
            return None
        posted = await self._post_with_retries(job, ctx, audio, reason)
        if posted is None:
            log.error("job %s: result not posted anywhere; the next start retries it", job.id)
            return None
        return await self._posted(job, ctx, posted, audio)

    async def _posted(
        self, job: Job, ctx: DiscordContext, posted: Posted, audio: PreparedAudio | None = None
    ) -> str:
        message = posted.message
        made = tuple(str(path) for path in audio.produced) if audio is not None else ()
        await self._engine.mark_delivered(
            job.id,
            Delivery(
                via=_VIA[posted.route],
                message_id=message.id,
                channel_id=message.channel.id,
                files=made,
            ),
        )
        self.deliveries += 1
        log.info("job %s delivered via %s", job.id, posted.route.value)
        if not await self.status.remove(ctx):
            await self.status.final_edit(ctx, DONE)
        return self._jump_url(ctx, posted)

    async def _announce_upload(self, job: Job, ctx: DiscordContext) -> None:
        """Say "uploading" for uploads long enough to notice (one round trip, worth it for
        megabytes, not for a small file); never for longer than a moment."""
        big = (job.audio_size_bytes or 0) >= UPLOADING_NOTICE_BYTES
        if not big or not self._token_usable(ctx):
            return
        text = status_text(prompt=job.prompt, phase=UPLOADING, seed=job.seed)
        try:
            await asyncio.wait_for(self.status.final_edit(ctx, text), UPLOADING_NOTICE_TIMEOUT)
        except Exception as error:  # the announcement is optional; the result is not
            log.info("job %s: no upload notice: %r", job.id, error)

    def _token_usable(self, ctx: DiscordContext) -> bool:
        return ctx.handle.alive(margin=self._tuning.upload_margin, now=self._tuning.clock())

    @staticmethod
    def _jump_url(ctx: DiscordContext, posted: Posted) -> str:
        """The result message's link. discord.py's `Message.jump_url` says `@me` for messages
        sent by webhook or into a partial channel (they carry no guild), so the guild comes from
        the job's context; a DM result really is under `@me`."""
        guild_id = ctx.guild_id if posted.route is not Route.DM else None
        return message_url(guild_id, posted.message.channel.id, posted.message.id)

    async def _prepare_audio(
        self, job: Job, ctx: DiscordContext
    ) -> tuple[PreparedAudio | None, str | None]:
        """The audio to attach (tagged, with its waveform, in a format that fits the upload
        limit), or why the track goes as its link."""
        if not job.audio_path or job.audio_size_bytes is None:
            return None, "the file was too large or could not be downloaded"
        if not ctx.can_attach:
            return None, "I am not allowed to attach files in this channel"
        audio = await prepare_track(self._audio, self._audio_dir, job, ctx.filesize_limit)
        if audio.reason is DeliveryReason.NO_ORIGINAL:  # e.g. AUDIO_DIR cleared
            return None, "the downloaded file is no longer on the bot's disk"
        if audio.file is None:
            return audio, link_reason(audio)
        return audio, None

    async def _post_with_retries(
        self, job: Job, ctx: DiscordContext, audio: PreparedAudio | None, reason: str | None
    ) -> Posted | None:
        """Post the result, trying again with backoff while Discord or the network fail."""
        deadline = self._tuning.clock() + RESULT_RETRY_SECONDS
        delay = 1.0
        while True:
            try:
                try:
                    return await self._post_result(job, ctx, audio, reason)
                except FileRefused:
                    reason = "it is over this server's upload limit"
                    return await self._post_result(job, ctx, None, reason)
            except _TRANSIENT as error:
                if self._tuning.clock() + delay > deadline:
                    log.error("job %s: Discord kept failing (%r); giving up for now", job.id, error)
                    return None
                log.warning("job %s: posting failed (%r); again in %.0f s", job.id, error, delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)

    async def _post_result(
        self,
        job: Job,
        ctx: DiscordContext,
        audio: PreparedAudio | None,
        reason: str | None,
    ) -> Posted | None:
        """Post the result message once, with the prepared audio and its waveform (or the
        link); `FileRefused` when Discord refused a file as too large."""
        attach = audio is not None and audio.file is not None
        message = Outgoing(
            content=result_content(
                ctx.requester_id, link=None if attach else job.audio_url, reason=reason
            ),
            embeds=[result_embed(job, audio)],
            view=self._result_view(job),
            allowed_mentions=ping_only(ctx.requester_id),
            files=functools.partial(open_track, audio) if attach and audio else None,
        )
        return await send(
            self._client,
            ctx.handle,
            message,
            dm_user_id=ctx.requester_id,
            token_margin=self._tuning.upload_margin,
        )

    async def _find_posted(self, job: Job, ctx: DiscordContext) -> Posted | None:
        """The result message of `job` if this bot already posted it (before a restart)."""
        marker = reroll_custom_id(job.id)
        places: list[tuple[Route, Any]] = []
        if ctx.channel_id is not None:
            places.append((Route.CHANNEL, self._client.get_partial_messageable(ctx.channel_id)))
        with contextlib.suppress(discord.HTTPException):
            dm = await self._client.create_dm(discord.Object(ctx.requester_id))
            places.append((Route.DM, dm))
        me = self._client.user
        for route, channel in places:
            try:
                async for message in channel.history(limit=HISTORY_SEARCHED):
                    if me is not None and message.author.id == me.id and _marks(message, marker):
                        return Posted(route, message)
            except discord.HTTPException as error:
                log.info("job %s: cannot read %s history: %s", job.id, route.value, error.status)
        return None

    async def _post_notice(self, ctx: DiscordContext, text: str) -> None:
        """A channel message naming (not pinging) the requester, when the status is gone."""
        await send(
            self._client,
            ctx.handle,
            Outgoing(f"<@{ctx.requester_id}> {text}"),
            routes=(Route.CHANNEL,),
        )

    async def _report_failure(self, job: Job, ctx: DiscordContext) -> None:
        owners_told = True
        if job.error_kind is not None and job.error_kind.account_problem:
            owners_told = await self._owners.account_problem(job)
        text = failure_text(job, owners_told=owners_told)
        if not await self.status.final_edit(ctx, text):
            await self._post_notice(ctx, text)
        await self._engine.note_failure_reported(job.id)


def _marks(message: discord.Message, custom_id: str) -> bool:
    return any(
        getattr(child, "custom_id", None) == custom_id
        for row in message.components
        for child in getattr(row, "children", ())
    )
