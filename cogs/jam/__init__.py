"""The /jam extension: jam sessions in a thread (issue 11).

- `cog`: the /jam commands (start, status, end, cancel, export, host-role) and listeners.
- `views`: Vote and Riff, persistent DynamicItems, and the Riff modal.
- `publisher`: the posts the scheduler has made (ballots, results, summary, the card).
- `exporting`: the export's worker thread.
"""

from __future__ import annotations

from bot.bot import JamBot
from cogs.jam.cog import JamCog
from cogs.jam.views import DYNAMIC_ITEMS


async def setup(bot: JamBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(JamCog(bot))


async def teardown(bot: JamBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
