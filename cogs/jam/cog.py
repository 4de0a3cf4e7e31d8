"""/jam: start, status, end, cancel, export, host-role — and the jam's listeners (a deleted
thread cancels its jam; Riff modals are answered here so they work after a restart).

The rules live in `bot.jams`, the words in `bot.text.jams`. Every refusal comes before
anything is created and changes nothing; every reply is ephemeral and pings nobody.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import JamBot
from bot.interactions import NO_PINGS, is_moderator, reply, requester_of
from bot.jams import models as limits
from bot.jams.export import ExportTooLarge
from bot.jams.models import Jam, JamSettings
from bot.jams.rules import may_close, may_export, may_host, validate_settings
from bot.jams.service import ChannelBusy
from bot.jobs.request import has_visible_content, normalize_prompt
from bot.quota.models import Refusal
from bot.text import jams as words
from bot.tree import NotAllowed, NotReady, UserError
from cogs.jam.exporting import Exporter
from cogs.jam.publisher import DiscordPublisher
from cogs.jam.views import handle_riff_submit

log = logging.getLogger(__name__)

# What the bot needs in the channel to run a jam there (checked before anything is made).
NEEDED_IN_CHANNEL = (
    "send_messages",
    "create_public_threads",
    "send_messages_in_threads",
    "read_message_history",
)
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: the thread stays open for the jam
TEXT_CHANNELS = (discord.ChannelType.text, discord.ChannelType.news)


def cleaned(text: str | None) -> str | None:
    """A host's text without invisible noise; None when nothing visible is left."""
    if text is None:
        return None
    flat = normalize_prompt(text)
    return flat if has_visible_content(flat) else None


class JamCog(commands.Cog):
    jam_group = app_commands.Group(
        name="jam", description="Music jams: rounds of entries and votes in a thread"
    )

    def __init__(self, bot: JamBot) -> None:
        self.bot = bot
        self.publisher: DiscordPublisher | None = None
        self.exporter: Exporter | None = None

    async def cog_load(self) -> None:
        # No services when the bot only publishes its commands (`python -m bot sync`).
        if not self.bot.has_services:
            return
        services = self.bot.services
        self.publisher = DiscordPublisher(self.bot, services.jams)
        self.exporter = Exporter(services.settings.audio_dir)
        services.jam_scheduler.start(self.publisher)

    async def cog_unload(self) -> None:
        if self.bot.has_services:
            await self.bot.services.jam_scheduler.stop()
        if self.exporter is not None:
            await self.exporter.close()

    # -- helpers ------------------------------------------------------------------------------

    def _services_ready(self) -> None:
        if not self.bot.has_services:
            raise NotReady("I am starting up or shutting down; please try again in a moment.")

    async def _jam_here(self, interaction: discord.Interaction[JamBot]) -> Jam:
        """The jam of this thread, or this channel's running (else latest) jam."""
        self._services_ready()
        if interaction.guild_id is None or interaction.channel_id is None:
            raise UserError(words.NOT_IN_A_SERVER)
        jam = await self.bot.services.jams.find(interaction.channel_id)
        if jam is None:
            raise UserError(words.NO_JAM_HERE)
        return jam

    # -- /jam start ------------------------------------------------------------------------------

    @jam_group.command(name="start", description="Start a music jam in this channel (hosts)")
    @app_commands.describe(
        theme="What the jam is about; every entry is made for it",
        rounds="How many rounds (default 3)",
        round_minutes="Minutes to submit entries in each round (default 20)",
        vote_minutes="Minutes to vote after each round (default 10)",
        entries_per_round="Entries each member may submit per round (default 1)",
        budget="Credits taken from today's server pool for the jam (default 30)",
        style="Added to every entry's prompt, e.g. 'lo-fi, 80 bpm'",
        negative_prompt="Left out of every entry unless its author says otherwise",
    )
    async def start(
        self,
        interaction: discord.Interaction[JamBot],
        theme: app_commands.Range[str, 1, limits.THEME_MAX_CHARS],
        rounds: app_commands.Range[int, 1, limits.MAX_ROUNDS] = limits.DEFAULT_ROUNDS,
        round_minutes: app_commands.Range[
            int, 1, limits.MAX_ROUND_MINUTES
        ] = limits.DEFAULT_ROUND_MINUTES,
        vote_minutes: app_commands.Range[
            int, 1, limits.MAX_VOTE_MINUTES
        ] = limits.DEFAULT_VOTE_MINUTES,
        entries_per_round: app_commands.Range[
            int, 1, limits.MAX_ENTRIES_PER_ROUND
        ] = limits.DEFAULT_ENTRIES_PER_ROUND,
        budget: app_commands.Range[int, 1, limits.MAX_BUDGET] = limits.DEFAULT_BUDGET,
        style: app_commands.Range[str, 1, limits.STYLE_MAX_CHARS] | None = None,
        negative_prompt: app_commands.Range[str, 1, limits.NEGATIVE_MAX_CHARS] | None = None,
    ) -> None:
        self._services_ready()
        services = self.bot.services
        channel = interaction.channel
        if interaction.guild_id is None or channel is None:
            raise UserError(words.NOT_IN_A_SERVER)
        if isinstance(channel, discord.Thread):
            raise UserError(words.NOT_IN_A_THREAD)
        if getattr(channel, "type", None) not in TEXT_CHANNELS:
            raise UserError(words.NOT_A_TEXT_CHANNEL)
        host_role = await services.jams.host_role(interaction.guild_id)
        requester = requester_of(interaction)
        if not may_host(
            is_moderator=is_moderator(interaction),
            role_ids=requester.role_ids,
            host_role_id=host_role,
        ):
            raise NotAllowed(words.NOT_A_HOST)
        granted = interaction.app_permissions
        missing = [name for name in NEEDED_IN_CHANNEL if not getattr(granted, name)]
        if missing:
            raise UserError(words.bot_missing_text(missing))
        settings = JamSettings(
            theme=cleaned(theme) or "",
            rounds=rounds,
            round_seconds=round_minutes * 60,
            vote_seconds=vote_minutes * 60,
            entries_per_round=entries_per_round,
            budget=budget,
            style=cleaned(style),
            negative_prompt=cleaned(negative_prompt),
        )
        problem = validate_settings(settings)
        if problem is not None:
            raise UserError(words.settings_text(problem))

        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            created = await services.jams.create(
                guild_id=interaction.guild_id,
                channel_id=channel.id,
                host_id=interaction.user.id,
                settings=settings,
            )
        except ChannelBusy:
            await reply(interaction, words.CHANNEL_BUSY)
            return
        if isinstance(created, Refusal):
            await reply(interaction, words.start_refusal_text(created, budget))
            return
        jam = await self._open(created, channel)
        await reply(interaction, words.started_text(jam) if jam else words.START_FAILED)

    async def _open(
        self, jam: Jam, channel: discord.abc.GuildChannel | discord.abc.Messageable
    ) -> Jam | None:
        """Post the card, start the thread from it, open the first round; on failure nothing
        is left behind and the budget goes back."""
        jams = self.bot.services.jams
        card: discord.Message | None = None
        try:
            assert isinstance(channel, discord.abc.Messageable)
            snapshot = await jams.snapshot(jam.id)
            assert snapshot is not None
            card = await channel.send(words.card_text(snapshot), allowed_mentions=NO_PINGS)
            thread = await card.create_thread(
                name=words.thread_name(jam.settings.theme),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
            opened = await jams.opened(jam, thread_id=thread.id, card_message_id=card.id)
        except Exception:
            log.exception("jam %s could not be started", jam.id)
            opened = None
        if opened is None:
            await jams.abandon(jam)
            if card is not None:
                try:
                    await card.delete()
                except discord.HTTPException:
                    log.warning("jam %s: could not remove its card", jam.id)
            return None
        self.bot.services.jam_scheduler.wake()  # the first round's opening post and the card
        return opened.jam

    # -- /jam status, end, cancel ----------------------------------------------------------------

    @jam_group.command(name="status", description="The jam here: phase, deadlines, your entries")
    async def status(self, interaction: discord.Interaction[JamBot]) -> None:
        jam = await self._jam_here(interaction)
        snapshot = await self.bot.services.jams.snapshot(jam.id)
        assert snapshot is not None
        await reply(interaction, words.status_text(snapshot, interaction.user.id))

    @jam_group.command(name="end", description="End the jam now, with results (host)")
    async def end(self, interaction: discord.Interaction[JamBot]) -> None:
        await self._close(interaction, cancel=False)

    @jam_group.command(name="cancel", description="Cancel the jam without results (host)")
    async def cancel(self, interaction: discord.Interaction[JamBot]) -> None:
        await self._close(interaction, cancel=True)

    async def _close(self, interaction: discord.Interaction[JamBot], *, cancel: bool) -> None:
        jam = await self._jam_here(interaction)
        if not jam.running:
            raise UserError(words.NOT_RUNNING)
        if not may_close(jam, interaction.user.id, is_moderator=is_moderator(interaction)):
            raise NotAllowed(words.NOT_THE_HOST)
        await interaction.response.defer(ephemeral=True, thinking=True)
        jams = self.bot.services.jams
        by = interaction.user.id
        done = await (jams.cancel(jam, by=by) if cancel else jams.end(jam, by=by))
        if done is None:
            await reply(interaction, words.NOT_RUNNING)
            return
        self.bot.services.jam_scheduler.wake()
        text = words.cancelled_text(done.jam) if cancel else words.ended_text(done.jam)
        await reply(interaction, text)

    # -- /jam export ---------------------------------------------------------------------------

    @jam_group.command(name="export", description="The jam's entries, votes and lineage as a ZIP")
    async def export(self, interaction: discord.Interaction[JamBot]) -> None:
        jam = await self._jam_here(interaction)
        if not may_export(jam, interaction.user.id, is_moderator=is_moderator(interaction)):
            raise NotAllowed(words.EXPORT_NOT_YET)
        if not interaction.app_permissions.attach_files:
            raise UserError(words.bot_missing_text(["attach_files"]))
        assert self.exporter is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        snapshot = await self.bot.services.jams.snapshot(jam.id)
        assert snapshot is not None
        try:
            made = await self.exporter.export(snapshot, interaction.filesize_limit)
        except ExportTooLarge:
            await reply(interaction, words.EXPORT_TOO_LARGE)
            return
        try:
            await interaction.followup.send(
                words.export_text(made.audio, made.linked, made.format),
                file=discord.File(made.path, filename=f"jam-{jam.id}.zip"),
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
        finally:
            await asyncio.to_thread(Path(made.path).unlink, missing_ok=True)

    # -- /jam host-role ------------------------------------------------------------------------

    @jam_group.command(
        name="host-role", description="Moderators: the role whose members may start jams"
    )
    @app_commands.describe(role="Members with this role may start jams; leave empty for none")
    async def host_role(
        self, interaction: discord.Interaction[JamBot], role: discord.Role | None = None
    ) -> None:
        self._services_ready()
        if interaction.guild_id is None:
            raise UserError(words.NOT_IN_A_SERVER)
        if not is_moderator(interaction):
            raise NotAllowed(words.HOST_ROLE_MODERATORS)
        role_id = role.id if role is not None else None
        await self.bot.services.jams.set_host_role(interaction.guild_id, role_id)
        await reply(interaction, words.host_role_text(role_id))

    # -- listeners -----------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        if not self.bot.has_services:
            return
        if await self.bot.services.jams.thread_gone(payload.thread_id) is not None:
            self.bot.services.jam_scheduler.wake()  # the announcement in the parent channel

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[JamBot]) -> None:
        await handle_riff_submit(interaction)
