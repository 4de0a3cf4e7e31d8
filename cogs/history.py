"""/history: a member's recent tracks in this server (moderators: anyone's), privately, a page
at a time, with a button to post each one again: from the stored file while it is kept, else
its link, else an offer to make it again with the same prompt and seed.

The buttons are DynamicItems (state in the custom_id), so they work after a restart.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Self

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import JamBot
from bot.interactions import NO_PINGS, is_moderator
from bot.jobs.models import Job
from bot.text import history as words
from bot.text.result import result_embed
from bot.tree import NotAllowed, report_error
from cogs.compose.buttons import JobButton
from cogs.compose.flow import start_compose
from cogs.compose.tracks import open_track, prepare_track

PAGE_SIZE = 5


def _can_see(interaction: discord.Interaction[JamBot], owner_id: int) -> bool:
    return interaction.user.id == owner_id or is_moderator(interaction)


async def history_page(
    interaction: discord.Interaction[JamBot], owner_id: int, page: int
) -> tuple[str, discord.ui.View]:
    """The text and buttons of one page of `owner_id`'s history in this server."""
    guild = str(interaction.guild_id) if interaction.guild_id else None
    jobs = await interaction.client.services.engine.history(
        str(owner_id), guild, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE
    )
    shown, more = jobs[:PAGE_SIZE], len(jobs) > PAGE_SIZE
    text = words.history_text(
        shown, page=page, owner_id=owner_id, own=owner_id == interaction.user.id
    )
    view = discord.ui.View(timeout=None)
    for number, job in enumerate(shown, start=1):
        view.add_item(RepostButton(job.id, number))
    if page > 0:
        view.add_item(PageButton(owner_id, page - 1, "◀ Newer"))
    if more:
        view.add_item(PageButton(owner_id, page + 1, "Older ▶"))
    view.stop()  # dispatched by custom_id: nothing is kept per message
    return text, view


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"jam:history:(?P<owner>\d+):(?P<page>\d+)",
):
    def __init__(self, owner_id: int, page: int, label: str = "Page") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"jam:history:{owner_id}:{page}",
            )
        )
        self.owner_id, self.page = owner_id, page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["owner"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction[JamBot]) -> None:  # type: ignore[override]
        try:
            if not _can_see(interaction, self.owner_id):
                raise NotAllowed(words.NOT_YOURS)
            text, view = await history_page(interaction, self.owner_id, self.page)
            await interaction.response.edit_message(content=text, view=view)
        except Exception as error:
            await report_error(interaction, error)


class RepostButton(
    JobButton, action="repost", label="Post again", emoji="📣", style=discord.ButtonStyle.primary
):
    """Post a track of the history again, in the channel where /history was used."""

    def numbered_label(self, number: int) -> str:
        return f"Post {number} again" if number else self.label

    async def act(self, interaction: discord.Interaction[JamBot], job: Job) -> None:
        await repost(interaction, job)


class RemakeButton(
    JobButton,
    action="remake",
    label="Make again",
    emoji="🔁",
    style=discord.ButtonStyle.secondary,
):
    """Make a track whose file is gone again: the same prompt, negative prompt and seed."""

    async def act(self, interaction: discord.Interaction[JamBot], job: Job) -> None:
        await start_compose(
            interaction, prompt=job.prompt, negative_prompt=job.negative_prompt, seed=job.seed
        )


async def repost(interaction: discord.Interaction[JamBot], job: Job) -> None:
    """Post `job`'s track in this channel: the stored file, else the link, else the offer to
    make it again."""
    owner_id = int(job.requester_id)
    if job.guild_id != (str(interaction.guild_id) if interaction.guild_id else None):
        raise NotAllowed(words.NOT_HERE)
    if not _can_see(interaction, owner_id):
        raise NotAllowed(words.NOT_YOURS)
    by = interaction.user.id
    services = interaction.client.services
    path = Path(job.audio_path) if job.audio_path else None
    if path is not None and await asyncio.to_thread(path.is_file):
        # Answered first: preparing the file (tags, a format that fits) may take a moment.
        await interaction.response.defer(thinking=True)
        audio = await prepare_track(
            services.audio, services.settings.audio_dir, job, interaction.filesize_limit
        )
        if audio.file is not None:
            await interaction.followup.send(
                words.reposted_content(owner_id, by),
                embed=result_embed(job, audio),
                files=await open_track(audio),
                allowed_mentions=NO_PINGS,
            )
            return
        await interaction.followup.send(
            words.link_only_content(owner_id, by, job.audio_url or ""),
            embed=result_embed(job, audio),
            allowed_mentions=NO_PINGS,
        )
        return
    if job.audio_url:
        await interaction.response.send_message(
            words.link_only_content(owner_id, by, job.audio_url),
            embed=result_embed(job),
            allowed_mentions=NO_PINGS,
        )
        return
    view = discord.ui.View(timeout=None)
    view.add_item(RemakeButton(job.id))
    view.stop()
    await interaction.response.send_message(
        words.GONE, view=view, ephemeral=True, allowed_mentions=NO_PINGS
    )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PageButton,
    RepostButton,
    RemakeButton,
)


class History(commands.Cog):
    def __init__(self, bot: JamBot) -> None:
        self.bot = bot

    @app_commands.command(name="history", description="Your recent tracks here, to post again")
    @app_commands.describe(member="Moderators: whose tracks to list (default: yours)")
    async def history(
        self, interaction: discord.Interaction[JamBot], member: discord.User | None = None
    ) -> None:
        owner_id = interaction.user.id if member is None else member.id
        if not _can_see(interaction, owner_id):
            raise NotAllowed(words.NOT_YOURS)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text, view = await history_page(interaction, owner_id, 0)
        await interaction.followup.send(text, view=view, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: JamBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(History(bot))


async def teardown(bot: JamBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
