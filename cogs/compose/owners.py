"""Telling the bot's owners by DM when the API account stops working.

The owners are OWNER_IDS when set, else the Discord application's owner (or its team's
members), as Discord reported them at login.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection

import discord

from bot.interactions import NO_PINGS
from bot.jobs.models import ErrorKind, Job
from bot.text.failures import owner_alert_text

log = logging.getLogger(__name__)


class OwnerAlerts:
    def __init__(
        self,
        client: discord.Client,
        owner_ids: Collection[int],
        *,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._owner_ids = sorted(owner_ids)
        self._interval = interval
        self._clock = clock
        self._last = -math.inf
        self._told_last = False

    async def account_problem(self, job: Job) -> bool:
        """Log it, and DM the owners — at most once per `interval`; whether they have been
        told (now, or by the last alert within the interval)."""
        kind = job.error_kind or ErrorKind.OTHER
        log.error(
            "job %s: the AI/ML API account has a problem (%s): %s",
            job.id,
            kind.value,
            job.error_detail,
        )
        now = self._clock()
        if now - self._last < self._interval:
            return self._told_last
        self._last = now
        text = owner_alert_text(kind, job.id)
        told = False
        for owner_id in self.recipients():
            try:
                dm = await self._client.create_dm(discord.Object(id=owner_id))
                await dm.send(text, allowed_mentions=NO_PINGS)
                told = True
            except discord.HTTPException as error:
                log.warning("cannot DM owner %s: %s %s", owner_id, error.status, error.code)
        self._told_last = told
        return told

    def recipients(self) -> list[int]:
        if self._owner_ids:
            return list(self._owner_ids)
        application = self._client.application
        if application is None:
            return []
        if application.team is not None:
            return sorted(member.id for member in application.team.members)
        return [application.owner.id]
