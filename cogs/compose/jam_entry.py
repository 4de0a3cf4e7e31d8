"""The compose flow's one seam with jam sessions (issue 11).

Inside a jam's thread, a /compose — or a Re-roll, Variation or Riff pressed there — is a jam
entry: the jam's style is added to the prompt (the status message shows the final prompt),
the jam's negative prompt is the default, the jam's budget pays instead of the server pool
(the member's other limits still apply), and the job's context carries the entry's mark (its
number, round and what it riffs on), which the result message and the export read.

`JamEntry.of` answers None outside a jam's thread: the flow then is an ordinary /compose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from bot.bot import JamBot
from bot.interactions import requester_of
from bot.jams.models import Accepted, EntryRefusal
from bot.jams.service import EntryTerms
from bot.jobs.request import normalize_negative_prompt, normalize_prompt
from bot.quota.models import Grant
from bot.text.jams import RIFF_OUTSIDE, entry_refusal_text, prompt_too_long_text
from bot.text.refusals import refusal_text


@dataclass
class JamEntry:
    interaction: discord.Interaction[JamBot]
    terms: EntryTerms
    asked: str  # the member's own prompt, normalised
    asked_negative: str | None
    seed: int | None
    riff_of: str | None
    accepted: Accepted | None = None

    @classmethod
    async def of(
        cls,
        interaction: discord.Interaction[JamBot],
        *,
        prompt: str,
        negative_prompt: str | None,
        seed: int | None,
        riff_of: str | None,
    ) -> JamEntry | str | None:
        """The entry this request is in a jam's thread; None elsewhere; a sentence when it
        cannot be one (a riff outside a jam, a prompt with no room for the jam's style)."""
        channel = interaction.channel
        terms = None
        if isinstance(channel, discord.Thread) and interaction.client.has_services:
            terms = await interaction.client.services.jams.terms_in(channel.id)
        if terms is None:
            return RIFF_OUTSIDE if riff_of is not None else None
        asked = normalize_prompt(prompt)
        if len(asked) > terms.room:
            return prompt_too_long_text(len(asked), terms.room)
        return cls(
            interaction, terms, asked, normalize_negative_prompt(negative_prompt), seed, riff_of
        )

    @property
    def prompt(self) -> str:
        """What the model is sent: the member's prompt with the jam's style."""
        return self.terms.prompt(self.asked)

    @property
    def negative_prompt(self) -> str | None:
        return self.terms.negative_prompt(self.asked_negative)

    async def reserve(self, job_id: str) -> Grant | str:
        """Reserve from the jam's budget and write the entry; or the sentence saying why not."""
        interaction = self.interaction
        result = await interaction.client.services.jams.enter(
            self.terms,
            requester_of(interaction),
            job_id=job_id,
            display_name=interaction.user.display_name,
            prompt=self.asked,
            negative_prompt=self.asked_negative,
            seed=self.seed,
            riff_of=self.riff_of,
        )
        if isinstance(result, Accepted):
            self.accepted = result
            return Grant(job_id, None, None, budget_remaining=result.budget_left)
        if isinstance(result, EntryRefusal):
            return entry_refusal_text(result)
        return refusal_text(result)

    def context(self) -> dict[str, Any]:
        """The entry's mark, for the job's context."""
        return self.accepted.mark().to_context() if self.accepted is not None else {}
