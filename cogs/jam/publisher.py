"""The posts a jam owes, made in Discord: round openings, ballots with Vote buttons, results,
the summary, the cancellation note (all in the jam's thread), the announcement in the parent
channel, archiving the thread, and the card kept current.

Every post ends with a marker line (`bot.text.jams.marker`). A post the scheduler has tried
before (a crash or an error may have cut it short) first looks at the channel's recent
messages for its pages' markers and makes only the missing pages: results are posted once.
Nothing a jam posts pings anyone.
"""

from __future__ import annotations

import logging

import discord

from bot.bot import JamBot
from bot.interactions import NO_PINGS
from bot.jams.models import JamSnapshot, Post, PostKind
from bot.jams.rules import in_the_running
from bot.jams.scheduler import PostResult
from bot.jams.service import JamService
from bot.text.jams import (
    announce_post,
    ballot_pages,
    cancelled_post,
    card_text,
    open_post,
    results_pages,
    summary_pages,
)
from cogs.jam.views import ballot_view

log = logging.getLogger(__name__)

UNKNOWN_CHANNEL = 10003
HISTORY_LOOKBACK = 100  # recent messages searched for a post's pages after an interrupted try


class DiscordPublisher:
    def __init__(self, bot: JamBot, jams: JamService) -> None:
        self._bot = bot
        self._jams = jams
        self.posted = 0  # pages posted, for tests

    async def publish(self, post: Post) -> PostResult:
        snapshot = await self._jams.snapshot(post.jam_id)
        if snapshot is None:
            return PostResult.DONE
        jam = snapshot.jam
        views: list[discord.ui.View | None] | None = None
        match post.kind:
            case PostKind.ARCHIVE:
                return await self._archive(snapshot)
            case PostKind.ANNOUNCE:
                return await self._pages(snapshot, jam.channel_id, announce_post(snapshot), post)
            case PostKind.OPEN:
                pages = open_post(snapshot, post.round)
            case PostKind.BALLOT:
                entries = [e for e in snapshot.entries_in(post.round) if in_the_running(e)]
                ballot = ballot_pages(snapshot, post.round, entries)
                pages = [text for text, _numbers in ballot]
                views = [ballot_view(jam.id, numbers) for _text, numbers in ballot]
            case PostKind.RESULTS:
                pages = results_pages(snapshot, post.round)
            case PostKind.SUMMARY:
                pages = summary_pages(snapshot)
            case PostKind.CANCELLED:
                pages = cancelled_post(jam, jam.ended_by)
        if jam.thread_id is None:
            return PostResult.DONE
        return await self._pages(snapshot, jam.thread_id, pages, post, views)

    async def _pages(
        self,
        snapshot: JamSnapshot,
        channel_id: int,
        pages: list[str],
        post: Post,
        views: list[discord.ui.View | None] | None = None,
    ) -> PostResult:
        channel = self._bot.get_partial_messageable(channel_id, guild_id=snapshot.jam.guild_id)
        try:
            seen = await self._markers(channel) if post.attempts else set()
            for index, page in enumerate(pages):
                if page.rsplit("\n", 1)[-1] in seen:
                    continue  # made by an earlier, interrupted try
                view = views[index] if views and index < len(views) else None
                await channel.send(
                    page, view=view or discord.utils.MISSING, allowed_mentions=NO_PINGS
                )
                self.posted += 1
        except discord.NotFound as error:
            if error.code == UNKNOWN_CHANNEL:
                return PostResult.GONE
            return PostResult.RETRY
        except discord.Forbidden as error:
            # Not allowed there any more (or the thread is locked): nothing to retry.
            log.warning(
                "jam %s: cannot post %s in %s: %s %s",
                post.jam_id,
                post.kind.value,
                channel_id,
                error.status,
                error.code,
            )
            return PostResult.DONE
        except discord.HTTPException as error:
            log.warning("jam %s: posting %s failed: %s", post.jam_id, post.kind.value, error.status)
            return PostResult.RETRY
        return PostResult.DONE

    async def _markers(self, channel: discord.PartialMessageable) -> set[str]:
        """The marker lines of the bot's recent messages in `channel`."""
        me = self._bot.user
        found: set[str] = set()
        async for message in channel.history(limit=HISTORY_LOOKBACK):
            if me is not None and message.author.id == me.id and message.content:
                found.add(message.content.rsplit("\n", 1)[-1])
        return found

    async def _archive(self, snapshot: JamSnapshot) -> PostResult:
        thread_id = snapshot.jam.thread_id
        if thread_id is None:
            return PostResult.DONE
        try:
            await self._bot.http.edit_channel(thread_id, archived=True)
        except discord.NotFound:
            return PostResult.GONE
        except discord.Forbidden as error:
            log.warning("jam %s: cannot archive its thread: %s", snapshot.jam.id, error.code)
        except discord.HTTPException:
            return PostResult.RETRY
        return PostResult.DONE

    async def refresh_card(self, jam_id: str) -> None:
        """Edit the jam's card in the parent channel to what is true now."""
        snapshot = await self._jams.snapshot(jam_id)
        card_id = snapshot.jam.card_message_id if snapshot is not None else None
        if snapshot is None or card_id is None:
            return
        jam = snapshot.jam
        channel = self._bot.get_partial_messageable(jam.channel_id, guild_id=jam.guild_id)
        message = channel.get_partial_message(card_id)
        try:
            await message.edit(content=card_text(snapshot), allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.info("jam %s: card not updated: %s %s", jam_id, error.status, error.code)
