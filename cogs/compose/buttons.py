"""The buttons and the modal of a track: Re-roll, Variation and Cancel.

They are `DynamicItem`s: the job id travels in the custom_id (`jam:<action>:<job id>`), and the
job row holds everything else, so buttons keep working after a restart without stored views.
The compose extension registers them (`DYNAMIC_ITEMS`) when it loads.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import discord

from bot.bot import JamBot
from bot.interactions import is_moderator, reply
from bot.jams.models import EntryMark, riff_custom_id
from bot.jobs.models import Job
from bot.jobs.request import PROMPT_MAX_CHARS
from bot.text.requests import UNKNOWN_TRACK
from bot.tree import report_error
from cogs.compose.flow import random_seed, start_compose

JOB_ID = r"(?P<job_id>[0-9a-f]{6,32})"


def reroll_custom_id(job_id: str) -> str:
    """The custom_id of a result's Re-roll button: it marks the message that carries the track
    of `job_id` (looked for after a restart, so a result is never posted twice)."""
    return f"jam:{RerollButton.action}:{job_id}"


VARIATION_MODAL_PREFIX = "jam:variation:"


async def _job_or_apologise(interaction: discord.Interaction[JamBot], job_id: str) -> Job | None:
    job = await interaction.client.services.engine.get(job_id)
    if job is None:
        await reply(interaction, UNKNOWN_TRACK, ephemeral=True)
    return job


class JobButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"(?!)"):
    """A button about one job, custom_id `jam:<action>:<job id>` (`:<number>` when a list of
    tracks numbers its buttons). Subclasses name the action and the look in their class
    statement and implement `act`; errors get the tree's policy.

    (The base's own template never matches: only the subclasses are registered.)
    """

    action: ClassVar[str]
    label: ClassVar[str]
    emoji: ClassVar[str]
    style: ClassVar[discord.ButtonStyle]

    def __init_subclass__(
        cls, *, action: str, label: str, emoji: str, style: discord.ButtonStyle
    ) -> None:
        super().__init_subclass__(template=rf"jam:{action}:{JOB_ID}(?::(?P<number>\d+))?")
        cls.action, cls.label, cls.emoji, cls.style = action, label, emoji, style

    def __init__(self, job_id: str, number: int = 0) -> None:
        suffix = f":{number}" if number else ""
        super().__init__(
            discord.ui.Button(
                label=self.numbered_label(number),
                emoji=self.emoji,
                style=self.style,
                custom_id=f"jam:{self.action}:{job_id}{suffix}",
            )
        )
        self.job_id = job_id

    def numbered_label(self, number: int) -> str:
        return self.label

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["job_id"], int(match["number"] or 0))

    async def callback(self, interaction: discord.Interaction[JamBot]) -> None:  # type: ignore[override]
        try:
            job = await _job_or_apologise(interaction, self.job_id)
            if job is not None:
                await self.act(interaction, job)
        except Exception as error:
            await report_error(interaction, error)

    async def act(self, interaction: discord.Interaction[JamBot], job: Job) -> None:
        raise NotImplementedError


class RerollButton(
    JobButton, action="reroll", label="Re-roll", emoji="🎲", style=discord.ButtonStyle.secondary
):
    """Same prompt, a new random seed."""

    async def act(self, interaction: discord.Interaction[JamBot], job: Job) -> None:
        await start_compose(
            interaction,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            seed=random_seed(),
        )


class VariationModal(discord.ui.Modal, title="Make a variation"):
    """Edit the prompt; the seed stays, so the track changes only where the words do.

    Submissions are handled by `handle_variation_submit` (from the compose cog's interaction
    listener), not by this object: a modal lives only in the process that showed it, and a
    member may submit it after a restart. The job id in the modal's custom_id is enough.
    """

    def __init__(self, job: Job) -> None:
        super().__init__(timeout=600, custom_id=f"{VARIATION_MODAL_PREFIX}{job.id}")
        self.job = job
        self.prompt: discord.ui.TextInput[VariationModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.prompt[:PROMPT_MAX_CHARS],
            max_length=PROMPT_MAX_CHARS,
            required=True,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[JamBot]) -> None:  # type: ignore[override]
        return None  # see the class docstring

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[JamBot], error: Exception
    ) -> None:
        await report_error(interaction, error)


class VariationButton(
    JobButton, action="vary", label="Variation", emoji="✏️", style=discord.ButtonStyle.secondary
):
    """Open a modal to edit the prompt, keeping the seed."""

    async def act(self, interaction: discord.Interaction[JamBot], job: Job) -> None:
        await interaction.response.send_modal(VariationModal(job))


class CancelButton(
    JobButton, action="cancel", label="Cancel", emoji="✖️", style=discord.ButtonStyle.danger
):
    """Cancel a job still waiting in the queue: its requester, or a member with Manage Server."""

    async def act(self, interaction: discord.Interaction[JamBot], job: Job) -> None:
        is_requester = str(interaction.user.id) == job.requester_id
        if not is_requester and not is_moderator(interaction):
            await reply(
                interaction,
                "Only the member who asked for this track, or a moderator with Manage Server, "
                "can cancel it.",
            )
            return
        engine = interaction.client.services.engine
        if await engine.cancel(self.job_id, by=str(interaction.user.id)):
            await reply(interaction, "Cancelled. The credit was returned.")
        else:
            await reply(
                interaction,
                "Too late to cancel: the prompt has already been sent to the music service.",
            )


def _submitted_value(components: list[Any], custom_id: str) -> str | None:
    """The value of the input `custom_id` in modal-submit data (action rows or labels)."""
    for component in components:
        if not isinstance(component, dict):
            continue
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        nested = list(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            nested.append(component["component"])
        found = _submitted_value(nested, custom_id)
        if found is not None:
            return found
    return None


async def handle_variation_submit(interaction: discord.Interaction[JamBot]) -> bool:
    """Start the variation a submitted Variation modal asks for; False if not ours."""
    custom_id = interaction.custom_id or ""
    if interaction.type is not discord.InteractionType.modal_submit:
        return False
    if not custom_id.startswith(VARIATION_MODAL_PREFIX):
        return False
    try:
        job = await _job_or_apologise(interaction, custom_id[len(VARIATION_MODAL_PREFIX) :])
        if job is None:
            return True
        data: Any = interaction.data or {}
        prompt = _submitted_value(list(data.get("components") or []), "prompt")
        await start_compose(
            interaction,
            prompt=prompt if prompt is not None else job.prompt,
            negative_prompt=job.negative_prompt,
            seed=job.seed,
        )
    except Exception as error:
        await report_error(interaction, error)
    return True


def _persistent_view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    # Dynamic items are dispatched by custom_id; a stopped view is not stored per message,
    # so thousands of status messages cost no memory.
    view.stop()
    return view


def queued_view(job_id: str) -> discord.ui.View:
    return _persistent_view(CancelButton(job_id))


def result_view(job: Job) -> discord.ui.View:
    """Re-roll and Variation; a jam entry also gets Riff (its handler is the jam extension's
    DynamicItem, which knows it by its custom_id)."""
    items: list[discord.ui.Item[Any]] = [
        RerollButton(job.id),
        VariationButton(job.id),
    ]
    if EntryMark.from_context(job.context) is not None:
        items.append(
            discord.ui.Button(
                label="Riff",
                emoji="🎸",
                style=discord.ButtonStyle.primary,
                custom_id=riff_custom_id(job.id),
            )
        )
    return _persistent_view(*items)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    RerollButton,
    VariationButton,
    CancelButton,
)
