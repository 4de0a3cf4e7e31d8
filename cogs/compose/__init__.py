"""The /compose extension: the command, the track's buttons, and the delivery of results.

- `cog`: the /compose command and the engine listener's lifetime.
- `flow`: validate → defer → reserve → enqueue (also behind Re-roll and Variation).
- `buttons`: Re-roll, Variation (with its modal) and Cancel, as persistent DynamicItems.
- `status`: the throttled status message; `delivery`: results and failures; `owners`: alerts.
"""

from __future__ import annotations

from bot.bot import JamBot
from cogs.compose.buttons import DYNAMIC_ITEMS
from cogs.compose.cog import Compose


async def setup(bot: JamBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Compose(bot))


async def teardown(bot: JamBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
