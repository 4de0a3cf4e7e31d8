"""The jam's buttons: Vote (on ballots) and Riff (under every entry), as persistent
DynamicItems — their custom_ids carry the jam and entry (`jam:vote:<jam id>:<number>`) or the
entry's job (`jam:riff:<job id>`), and the database holds the rest, so they work after a
restart. The Riff modal's submission is handled by `handle_riff_submit` (the jam cog's
interaction listener), like compose's Variation: a modal lives only in the process that
showed it.
"""

from __future__ import annotations

import re
from typing import Any, Self

import discord

from bot.bot import JamBot
from bot.interactions import reply
from bot.jams.models import RIFF_PREFIX, Entry, EntryMark
from bot.jams.rules import style_room
from bot.jobs.request import PROMPT_MAX_CHARS, SEED_MAX, SEED_MIN
from bot.text.jams import UNKNOWN_ENTRY, VOTERS_ONLY, bad_seed_text, vote_text
from bot.tree import report_error
from cogs.compose.buttons import _submitted_value
from cogs.compose.flow import start_compose

JAM_ID = r"(?P<jam_id>[0-9a-f]{10})"
JOB_ID = r"(?P<job_id>[0-9a-f]{6,32})"
RIFF_MODAL_PREFIX = "jam:riffing:"


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"jam:vote:{JAM_ID}:(?P<number>[0-9]{{1,6}})",
):
    """A vote for entry #`number` of a jam; the answer is ephemeral, the count stays hidden."""

    def __init__(self, jam_id: str, number: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"#{number}",
                emoji="🗳️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"jam:vote:{jam_id}:{number}",
            )
        )
        self.jam_id = jam_id
        self.number = number

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["jam_id"], int(match["number"]))

    async def callback(self, interaction: discord.Interaction[JamBot]) -> None:  # type: ignore[override]
        try:
            # Only the server's members vote (Discord sends a member with every press in a
            # server; someone who left cannot press at all).
            if interaction.guild_id is None or not isinstance(interaction.user, discord.Member):
                await reply(interaction, VOTERS_ONLY, ephemeral=True)
                return
            outcome = await interaction.client.services.jams.vote(
                self.jam_id, self.number, interaction.user.id
            )
            await reply(interaction, vote_text(outcome), ephemeral=True)
        except Exception as error:
            await report_error(interaction, error)


class RiffButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{RIFF_PREFIX}{JOB_ID}",
):
    """Open a modal prefilled with the entry's prompt and seed; what comes of it is a new
    entry that records what it riffs on. The button itself is put under entries by compose
    (`result_view`), by this custom_id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Riff",
                emoji="🎸",
                style=discord.ButtonStyle.primary,
                custom_id=f"{RIFF_PREFIX}{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction[JamBot]) -> None:  # type: ignore[override]
        try:
            entry = await entry_of(interaction, self.job_id)
            if entry is None:
                await reply(interaction, UNKNOWN_ENTRY, ephemeral=True)
                return
            jam = await interaction.client.services.jams.get(entry.jam_id)
            room = style_room(jam.settings.style) if jam is not None else PROMPT_MAX_CHARS
            await interaction.response.send_modal(RiffModal(entry, room))
        except Exception as error:
            await report_error(interaction, error)


class RiffModal(discord.ui.Modal, title="Riff on this entry"):
    """The entry's prompt and seed, to change as you like. Submissions are handled by
    `handle_riff_submit` (see the module docstring)."""

    def __init__(self, entry: Entry, room: int) -> None:
        super().__init__(timeout=900, custom_id=f"{RIFF_MODAL_PREFIX}{entry.job_id}")
        self.prompt: discord.ui.TextInput[RiffModal] = discord.ui.TextInput(
            label="Prompt (the jam's style is added)",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=entry.prompt[:room],
            max_length=room,
            required=True,
        )
        self.seed: discord.ui.TextInput[RiffModal] = discord.ui.TextInput(
            label="Seed (empty: a new one)",
            custom_id="seed",
            default="" if entry.seed is None else str(entry.seed),
            max_length=len(str(SEED_MAX)),
            required=False,
        )
        self.add_item(self.prompt)
        self.add_item(self.seed)

    async def on_submit(self, interaction: discord.Interaction[JamBot]) -> None:  # type: ignore[override]
        return None  # see the class docstring

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[JamBot], error: Exception
    ) -> None:
        await report_error(interaction, error)


async def entry_of(interaction: discord.Interaction[JamBot], job_id: str) -> Entry | None:
    """The jam entry a job is (from the job's mark, then the jam's records)."""
    services = interaction.client.services
    job = await services.engine.get(job_id)
    mark = EntryMark.from_context(job.context) if job is not None else None
    if mark is None:
        return None
    snapshot = await services.jams.snapshot(mark.jam_id)
    return snapshot.entry(job_id) if snapshot is not None else None


def parse_seed(text: str | None) -> int | str | None:
    """The seed typed in the modal: None when empty, else a number in range, else the
    sentence saying what is wrong."""
    typed = (text or "").strip()
    if not typed:
        return None
    if not typed.isdigit() or not SEED_MIN <= int(typed) <= SEED_MAX:
        return bad_seed_text(SEED_MIN, SEED_MAX)
    return int(typed)


async def handle_riff_submit(interaction: discord.Interaction[JamBot]) -> bool:
    """Start the riff a submitted Riff modal asks for; False if the interaction is not one."""
    custom_id = interaction.custom_id or ""
    if interaction.type is not discord.InteractionType.modal_submit:
        return False
    if not custom_id.startswith(RIFF_MODAL_PREFIX):
        return False
    try:
        job_id = custom_id[len(RIFF_MODAL_PREFIX) :]
        entry = await entry_of(interaction, job_id)
        if entry is None:
            await reply(interaction, UNKNOWN_ENTRY, ephemeral=True)
            return True
        data: Any = interaction.data or {}
        components = list(data.get("components") or [])
        prompt = _submitted_value(components, "prompt")
        seed = parse_seed(_submitted_value(components, "seed"))
        if isinstance(seed, str):
            await reply(interaction, seed, ephemeral=True)
            return True
        await start_compose(
            interaction,
            prompt=prompt if prompt is not None else entry.prompt,
            negative_prompt=entry.negative_prompt,
            seed=seed,
            riff_of=job_id,
        )
    except Exception as error:
        await report_error(interaction, error)
    return True


def ballot_view(jam_id: str, numbers: list[int]) -> discord.ui.View:
    """Vote buttons for one ballot page (at most 25: five rows of five)."""
    view = discord.ui.View(timeout=None)
    for number in numbers:
        view.add_item(VoteButton(jam_id, number))
    view.stop()  # dispatched by custom_id: nothing is stored per message
    return view


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (VoteButton, RiffButton)
