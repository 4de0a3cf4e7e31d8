"""The engine's Discord listener: keeps each job's status message current and delivers results.

Status edits are throttled per job: at most one edit every `edit_interval` seconds, only when
the text changed, later updates coalescing into the next allowed edit — so a busy bot never
provokes Discord 429s. Everything needed comes from the job row's context (`DiscordContext`),
so jobs resumed after a restart are updated and delivered exactly like fresh ones.

Delivery: through the interaction token while it has `upload_margin` seconds to live (a new
message that pings the requester, with the WAV when it fits the upload limit, else the link);
otherwise, or when the token is refused, with the bot token in the channel; when the channel
is closed to the bot, by DM. A deleted status message never loses the result.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import discord
from discord.utils import MISSING

from bot.discord_context import DiscordContext
from bot.discord_reply import EXPIRY_MARGIN, file_too_large, message_gone, token_dead
from bot.jobs.models import Job, JobState, Phase, Progress
from bot.presentation.errors import failure_text, is_account_problem, owner_alert_text
from bot.presentation.result import audio_filename, result_content, result_embed
from bot.presentation.status import (
    EXPIRY_NOTE,
    UPLOADING,
    Credit,
    finished_status_text,
    status_text,
)
from bot.presentation.text import NO_PINGS, fit_message, format_bytes, ping_only
from bot.quota.models import DM_GUILD_ID
from bot.tasks import TaskTracker

log = logging.getLogger(__name__)

ViewFactory = Callable[[str], discord.ui.View | None]
FROZEN_MEMORY = 10_000
UPLOADING_NOTICE_BYTES = 2 * 1024 * 1024
DOWNLOADING_NOTICE_DELAY = 1.5  # seconds in the downloading phase before it is shown
_IGNORED_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED, Phase.TIMED_OUT})


class DeliveryEngine(Protocol):
    async def mark_delivered(self, job_id: str, **context_updates: Any) -> Job: ...

    async def update_context(self, job_id: str, **updates: Any) -> Job: ...


class QuotaHooks(Protocol):
    """The quota calls delivery makes (QuotaService satisfies it)."""

    async def finish(self, job_id: str) -> None: ...

    async def finish_and_note(
        self,
        *,
        guild_id: int,
        user_id: int,
        prompt: str,
        job_id: str,
        outcome: str,
        link: str | None,
    ) -> None: ...


@dataclass
class _StatusSlot:
    """Throttle state of one job's status message."""

    sent: tuple[str, bool] | None = None  # (text, has cancel button) last sent
    sent_at: float = -math.inf  # loop time of the last edit
    pending: tuple[str, bool] | None = None
    task: asyncio.Task[None] | None = None
    closed: bool = False
    notice_sent: bool = False  # told the member the result will come by channel message
    not_before: float = 0.0  # loop time before which the pending edit must not be sent
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def is_open(self) -> bool:
        return not self.closed


@dataclass(frozen=True)
class Delivered:
    via: str  # "interaction", "channel" or "dm"
    message: discord.Message


def message_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """A message's jump link; DM channels live under `@me`."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


class DiscordDelivery:
    def __init__(
        self,
        client: discord.Client,
        engine: DeliveryEngine,
        quota: QuotaHooks | None,
        tasks: TaskTracker,
        *,
        queued_view: ViewFactory = lambda _job_id: None,
        result_view: ViewFactory = lambda _job_id: None,
        edit_interval: float = 3.0,
        upload_margin: float = 60.0,
        notice_margin: float = 120.0,
        clock: Callable[[], float] = time.time,
        owner_ids: frozenset[int] = frozenset(),
        owner_alert_interval: float = 3600.0,
    ) -> None:
        self.client = client
        self.engine = engine
        self.quota = quota
        self.tasks = tasks
        self.queued_view = queued_view
        self.result_view = result_view
        self.edit_interval = edit_interval
        self.upload_margin = upload_margin
        self.notice_margin = notice_margin
        self.clock = clock
        self.owner_ids = owner_ids
        self.owner_alert_interval = owner_alert_interval
        self._last_owner_alert = -math.inf
        self._slots: dict[str, _StatusSlot] = {}
        self._delivering: set[str] = set()
        self._delivery_tasks: set[asyncio.Task[None]] = set()
        # Jobs whose status message must not be edited by progress any more (finished, or the
        # message is gone). Bounded: only recent jobs can still produce stray progress events.
        self._frozen: dict[str, None] = {}
        self._gone: set[int] = set()  # status messages found deleted (10008)
        self.status_edits = 0  # counters for tests and the benchmark
        self.deliveries = 0

    # -- JobListener ---------------------------------------------------------------------------

    async def on_progress(self, job: Job, progress: Progress) -> None:
        ctx = DiscordContext.from_job_context(job.context) if job.origin == "discord" else None
        if ctx is None or progress.phase in _IGNORED_PHASES or job.state.is_final:
            return
        self.show_status(job, ctx, progress)

    async def on_finished(self, job: Job) -> None:
        ctx = DiscordContext.from_job_context(job.context) if job.origin == "discord" else None
        if ctx is None or job.id in self._delivering or job.state is JobState.DELIVERED:
            return
        self._delivering.add(job.id)
        task = self.tasks.spawn(self._finish(job, ctx), name=f"deliver-{job.id}")
        self._delivery_tasks.add(task)
        task.add_done_callback(self._delivery_tasks.discard)

    async def drain(self, grace: float) -> int:
        """Let deliveries in flight finish (up to `grace` seconds) so that a result posted just
        before shutdown is also marked delivered; returns how many were still running after."""
        pending = set(self._delivery_tasks)
        if pending:
            _done, pending = await asyncio.wait(pending, timeout=grace)
        return len(pending)

    # -- status message ------------------------------------------------------------------------

    def show_initial(self, job: Job, ctx: DiscordContext, progress: Progress) -> None:
        """The first status, unless the engine already reported progress for the job."""
        if job.id not in self._slots:
            self.show_status(job, ctx, progress)

    def _freeze(self, job_id: str) -> None:
        self._frozen[job_id] = None
        while len(self._frozen) > FROZEN_MEMORY:
            del self._frozen[next(iter(self._frozen))]

    def show_status(self, job: Job, ctx: DiscordContext, progress: Progress) -> None:
        """Queue a status update; it is sent now or at the next allowed moment."""
        if job.id in self._frozen or job.id in self._delivering:
            return
        slot = self._slots.setdefault(job.id, _StatusSlot())
        if slot.closed:
            return
        text = status_text(
            prompt=job.prompt,
            phase=progress.phase,
            progress=progress,
            started_at=job.created_at,
            now=self.clock(),
            credit=Credit(ctx.member_remaining, ctx.pool_remaining),
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
            slot.task = self.tasks.spawn(self._flush(job.id, ctx, slot), name=f"status-{job.id}")

    async def _flush(self, job_id: str, ctx: DiscordContext, slot: _StatusSlot) -> None:
        loop = asyncio.get_running_loop()
        while slot.pending is not None and slot.is_open():
            delay = max(slot.sent_at + self.edit_interval, slot.not_before) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            wanted, slot.pending = slot.pending, None
            if wanted == slot.sent:
                continue
            async with slot.lock:
                if not slot.is_open():
                    return
                await self._send_status(job_id, ctx, slot, wanted)
                slot.sent, slot.sent_at = wanted, loop.time()

    async def _send_status(
        self, job_id: str, ctx: DiscordContext, slot: _StatusSlot, wanted: tuple[str, bool]
    ) -> None:
        text, cancellable = wanted
        if slot.notice_sent or ctx.expiry_notice_sent:
            return
        if ctx.expires_at - self.clock() < self.notice_margin:
            # The token dies before this job is likely done: say where the result will go,
            # then stop editing (bot-token edits share the channel's rate limit).
            slot.notice_sent = True
            await self.engine.update_context(job_id, **ctx.with_notice_sent().to_dict())
            text, cancellable = f"{text}\n{EXPIRY_NOTE}", False
        view = self.queued_view(job_id) if cancellable else None
        if not await self._edit_status(ctx, text, view) and ctx.status_message_id in self._gone:
            self._freeze(job_id)
            slot.closed = True

    async def _edit_status(
        self, ctx: DiscordContext, text: str, view: discord.ui.View | None
    ) -> bool:
        """Edit the status message by token while it lives, else with the bot token."""
        if ctx.status_message_id is None or ctx.status_message_id in self._gone:
            return False
        text = fit_message(text)
        self.status_edits += 1
        if ctx.handle.alive(margin=EXPIRY_MARGIN, now=self.clock()):
            try:
                await ctx.handle.webhook(self.client).edit_message(
                    ctx.status_message_id, content=text, view=view, allowed_mentions=NO_PINGS
                )
                return True
            except discord.HTTPException as error:
                if message_gone(error):
                    self._gone.add(ctx.status_message_id)
                    return False
                if not token_dead(error):
                    log.warning("status edit failed: %s %s", error.status, error.code)
                    return False
        if ctx.channel_id is None:
            return False
        message = self.client.get_partial_messageable(ctx.channel_id).get_partial_message(
            ctx.status_message_id
        )
        try:
            await message.edit(content=text, view=view, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            if message_gone(error):
                self._gone.add(ctx.status_message_id)
            else:
                log.warning("status edit (bot token) failed: %s %s", error.status, error.code)
            return False
        return True

    def _close_slot(self, job_id: str) -> _StatusSlot:
        """Stop progress edits for the job. An edit already in flight is left to finish;
        take `slot.lock` before a final edit so that it lands last."""
        self._freeze(job_id)
        slot = self._slots.pop(job_id, None) or _StatusSlot()
        slot.closed = True
        slot.pending = None
        if slot.task is not None and not slot.task.done() and not slot.lock.locked():
            slot.task.cancel()  # it is only waiting for its next turn
        return slot

    async def _final_edit(self, slot: _StatusSlot, ctx: DiscordContext, text: str) -> bool:
        """An edit after progress stopped: it waits for any progress edit still in flight."""
        async with slot.lock:
            return await self._edit_status(ctx, text, None)

    # -- delivery ------------------------------------------------------------------------------

    async def _finish(self, job: Job, ctx: DiscordContext) -> None:
        noted = False
        try:
            slot = self._close_slot(job.id)
            if job.state is JobState.COMPLETED:
                noted = await self._deliver(job, ctx, slot)
            else:
                noted = await self._report_failure(job, ctx, slot)
        finally:
            self._delivering.discard(job.id)
            # The generation has ended either way; after the result, so it does not delay it.
            # A noted outcome already ended it in the same transaction.
            if not noted:
                await self._quota_finish(job.id)

    def _token_usable(self, ctx: DiscordContext) -> bool:
        return ctx.handle.alive(margin=self.upload_margin, now=self.clock())

    async def _deliver(self, job: Job, ctx: DiscordContext, slot: _StatusSlot) -> bool:
        """Post the result; True once the outcome is noted (and the quota finished)."""
        loop = asyncio.get_running_loop()
        allowed = slot.sent is None or loop.time() - slot.sent_at >= self.edit_interval
        big = (job.audio_size_bytes or 0) >= UPLOADING_NOTICE_BYTES
        if self._token_usable(ctx) and allowed and big:
            # Say "uploading" for uploads long enough to notice, before the upload starts: it
            # costs one round trip, worth it for megabytes, not for a small file. (Started in
            # the background, the edit would queue behind the upload on the token's lock and
            # land only once the upload was over.)
            text = status_text(prompt=job.prompt, phase=UPLOADING, started_at=job.created_at)
            try:
                await self._final_edit(slot, ctx, text)
            except Exception as error:  # the announcement is optional; the result is not
                log.warning("job %s: could not announce the upload: %r", job.id, error)

        prepared, reason = await self._attachment_decision(job, ctx)
        attach = prepared is not None
        if not attach and not job.audio_url:
            # Completed without a file or a link: nothing to deliver, so say so and stop.
            text = "❌ The finished audio was lost before it could be delivered. Sorry!"
            if not await self._final_edit(slot, ctx, text):
                await self._post_notice(ctx, text)
            await self.engine.mark_delivered(job.id, delivered_via="none")
            return False
        try:
            delivered = await self._post_result(job, ctx, prepared=prepared, reason=reason)
        finally:
            if prepared is not None:
                prepared.close()  # when no attempt used it (a sent File is closed already)
        if delivered is None and attach:
            delivered = await self._post_result(
                job, ctx, prepared=None, reason="it is over this server's upload limit"
            )
        if delivered is None:
            log.error("job %s: result not posted anywhere; the next start retries it", job.id)
            return False

        where = "below" if delivered.via != "dm" else "in your direct messages"
        elapsed = (job.completed_at or self.clock()) - job.created_at
        await self.engine.mark_delivered(
            job.id,
            delivered_via=delivered.via,
            result_message_id=delivered.message.id,
            result_channel_id=delivered.message.channel.id,
        )
        self.deliveries += 1
        log.info("job %s delivered via %s", job.id, delivered.via)
        finished = finished_status_text(prompt=job.prompt, elapsed=elapsed, where=where)
        await self._final_edit(slot, ctx, finished)
        noted = await self._finish_and_note(job, ctx, "delivered", self._jump_url(ctx, delivered))
        if job.audio_path:
            await asyncio.to_thread(Path(job.audio_path).unlink, missing_ok=True)
        return noted

    @staticmethod
    def _jump_url(ctx: DiscordContext, delivered: Delivered) -> str:
        """The result message's link. discord.py's `Message.jump_url` says `@me` for messages
        sent by webhook or into a partial channel (they carry no guild), so the guild comes from
        the job's context; a DM result really is under `@me`."""
        guild_id = ctx.guild_id if delivered.via != "dm" else None
        return message_url(guild_id, delivered.message.channel.id, delivered.message.id)

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
            return await self._open_file(job), None
        except OSError:  # e.g. AUDIO_DIR cleared
            return None, "the downloaded file is no longer on the bot's disk"

    @staticmethod
    async def _open_file(job: Job) -> discord.File:
        """A fresh handle on the job's audio (a sent File is closed); opened off the loop."""
        assert job.audio_path is not None
        return await asyncio.to_thread(discord.File, job.audio_path, filename=audio_filename(job))

    async def _post_result(
        self, job: Job, ctx: DiscordContext, *, prepared: discord.File | None, reason: str | None
    ) -> Delivered | None:
        """Post the result message, attaching `prepared` (a link without it); None when the
        file was refused as too large (retry as a link) or there was nowhere left to post it."""
        attach = prepared is not None
        unused = [prepared] if prepared is not None else []
        content = result_content(
            ctx.requester_id, link=None if attach else job.audio_url, reason=reason
        )
        embed = result_embed(job)
        mentions = ping_only(ctx.requester_id)

        async def file() -> discord.File:
            """The prepared file for the first attempt, a fresh handle for any later one."""
            return unused.pop() if unused else await self._open_file(job)

        if self._token_usable(ctx):
            try:
                sent = await ctx.handle.webhook(self.client).send(
                    content,
                    embed=embed,
                    file=await file() if attach else MISSING,
                    view=self.result_view(job.id) or MISSING,
                    allowed_mentions=mentions,
                    wait=True,
                )
                return Delivered("interaction", sent)
            except discord.HTTPException as error:
                if attach and file_too_large(error):
                    return None
                if not token_dead(error):
                    raise
                log.info("job %s: interaction token refused, posting in the channel", job.id)

        if ctx.channel_id is not None:
            channel = self.client.get_partial_messageable(ctx.channel_id)
            try:
                message = await channel.send(
                    content,
                    embed=embed,
                    file=await file() if attach else MISSING,
                    view=self.result_view(job.id) or MISSING,
                    allowed_mentions=mentions,
                )
                return Delivered("channel", message)
            except discord.Forbidden:
                log.info("job %s: channel closed to the bot, sending a DM", job.id)
            except discord.HTTPException as error:
                if attach and file_too_large(error):
                    return None
                raise
        try:
            dm = await self._dm_channel(ctx.requester_id)
            message = await dm.send(
                content,
                embed=embed,
                file=await file() if attach else MISSING,
                view=self.result_view(job.id) or MISSING,
                allowed_mentions=mentions,
            )
            return Delivered("dm", message)
        except discord.HTTPException as error:
            if attach and file_too_large(error):
                return None
            log.warning("job %s: cannot DM the requester: %s %s", job.id, error.status, error.code)
            return None

    async def _dm_channel(self, user_id: int) -> discord.DMChannel:
        """Open (or find) the DM channel with a user."""
        return await self.client.create_dm(discord.Object(id=user_id))

    async def _post_notice(self, ctx: DiscordContext, text: str) -> discord.Message | None:
        """A channel message naming (not pinging) the requester, when the status is gone."""
        if ctx.channel_id is None:
            return None
        try:
            return await self.client.get_partial_messageable(ctx.channel_id).send(
                fit_message(f"<@{ctx.requester_id}> {text}"), allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as error:
            log.warning("cannot post in %s: %s %s", ctx.channel_id, error.status, error.code)
            return None

    async def _report_failure(self, job: Job, ctx: DiscordContext, slot: _StatusSlot) -> bool:
        if is_account_problem(job.error_kind):
            await self._alert_owners(job)
        text = failure_text(job)
        if not await self._final_edit(slot, ctx, text):
            await self._post_notice(ctx, text)
        await self.engine.update_context(job.id, failure_reported=True)
        return await self._finish_and_note(job, ctx, job.state.value, None)

    async def _alert_owners(self, job: Job) -> None:
        """Tell the owners (OWNER_IDS) by DM that the API account has a problem, hourly at most."""
        log.error(
            "job %s: the AI/ML API account has a problem (%s): %s",
            job.id,
            job.error_kind,
            job.error_message,
        )
        now = self.clock()
        if now - self._last_owner_alert < self.owner_alert_interval:
            return
        self._last_owner_alert = now
        text = owner_alert_text(job.error_kind or "error", job.id)
        for owner_id in sorted(self.owner_ids):
            try:
                await (await self._dm_channel(owner_id)).send(text, allowed_mentions=NO_PINGS)
            except discord.HTTPException as error:
                log.warning("cannot DM owner %s: %s %s", owner_id, error.status, error.code)

    async def _quota_finish(self, job_id: str) -> None:
        """The generation has ended: the member no longer has it in flight."""
        if self.quota is None:
            return
        try:
            await self.quota.finish(job_id)
        except Exception:
            log.exception("job %s: could not end the quota reservation's in-flight status", job_id)

    async def _finish_and_note(
        self, job: Job, ctx: DiscordContext, outcome: str, link: str | None
    ) -> bool:
        """End the reservation's in-flight status and note the outcome for the mod log, in one
        transaction; False when that failed (the caller then tries a plain finish)."""
        if self.quota is None:
            return False
        try:
            await self.quota.finish_and_note(
                guild_id=ctx.guild_id or DM_GUILD_ID,
                user_id=ctx.requester_id,
                prompt=job.prompt,
                job_id=job.id,
                outcome=outcome,
                link=link,
            )
        except Exception:
            log.exception("job %s: could not note the generation for the mod log", job.id)
            return False
        return True
