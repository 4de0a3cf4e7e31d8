"""The /quota extension: a member's remaining credit, and the moderators' controls.

Every rule lives in `bot.quota` and every sentence in `bot.text.quota`; `cog` parses options,
checks Manage Server once for every moderator subcommand (the group's `interaction_check`) and
answers ephemerally, pinging nobody.
"""

from __future__ import annotations

from bot.bot import JamBot
from cogs.quota.cog import QuotaCog


async def setup(bot: JamBot) -> None:
    await bot.add_cog(QuotaCog(bot))
