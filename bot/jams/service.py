"""Jam sessions' use cases: start, enter, vote, advance at deadlines, end, cancel.

Each change is one transaction of the `JamRepository`, decided by `JamRules` (and, for an
entry's credit, by the quota's reservation rule with the jam's budget paying). The mod log
hears of starts, ends, cancellations and budget moves once the change is written. Deadline
changes set `deadlines_changed`, which wakes the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.jams.events import JamBudgetMoved, JamCancelled, JamEnded, JamEvent, JamStarted
from bot.jams.models import (
    Accepted,
    EndReason,
    EntryDraft,
    EntryRefusal,
    EntryState,
    Jam,
    JamDraft,
    JamSettings,
    JamSnapshot,
    Post,
    Transition,
    VoteOutcome,
    new_jam_id,
)
from bot.jams.rules import JamRules, entry_negative, final_prompt, style_room
from bot.quota.events import ModEventBus
from bot.quota.ledger import QuotaLedger
from bot.quota.models import BlockedTerm, Refusal, Requester
from bot.store.base import JamRepository

log = logging.getLogger(__name__)


class ChannelBusy(Exception):
    """The channel already has a running jam."""


@dataclass(frozen=True)
class EntryTerms:
    """How a jam changes a /compose in its thread: the style added, its negative prompt as
    the default, and the room left for the member's own words."""

    jam: Jam

    def prompt(self, prompt: str) -> str:
        return final_prompt(prompt, self.jam.settings.style)

    def negative_prompt(self, negative: str | None) -> str | None:
        return entry_negative(negative, self.jam.settings.negative_prompt)

    @property
    def room(self) -> int:
        return style_room(self.jam.settings.style)


class JamService:
    def __init__(
        self,
        store: JamRepository,
        ledger: QuotaLedger,
        events: ModEventBus,
        *,
        clock: Callable[[], float] = time.time,
        rules: JamRules | None = None,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._events = events
        self._clock = clock
        self._rules = rules or JamRules()
        self.deadlines_changed = asyncio.Event()

    @property
    def store(self) -> JamRepository:
        return self._store

    def now(self) -> float:
        return self._clock()

    # -- settings ------------------------------------------------------------------------------

    async def host_role(self, guild_id: int) -> int | None:
        return await self._store.host_role(guild_id)

    async def set_host_role(self, guild_id: int, role_id: int | None) -> None:
        await self._store.set_host_role(guild_id, role_id)

    # -- starting --------------------------------------------------------------------------------

    async def create(
        self, *, guild_id: int, channel_id: int, host_id: int, settings: JamSettings
    ) -> Jam | Refusal:
        """Hold the budget (taken from the pool) for a jam about to start; ChannelBusy when
        the channel has a running jam. The card and thread come next (`opened`)."""
        draft = JamDraft(new_jam_id(), guild_id, channel_id, host_id, settings)
        created = await self._store.create(draft, now=self._clock(), rules=self._ledger.rules)
        if created is None:
            raise ChannelBusy(channel_id)
        if isinstance(created, Jam):
            await self._publish(JamBudgetMoved(guild_id, created.id, settings.budget, False))
        return created

    async def opened(self, jam: Jam, *, thread_id: int, card_message_id: int) -> Transition | None:
        """The card and thread exist: the first round opens."""
        opened = await self._store.open(
            jam.id,
            thread_id=thread_id,
            card_message_id=card_message_id,
            now=self._clock(),
            rules=self._rules,
        )
        if opened is not None:
            s = jam.settings
            await self._publish(
                JamStarted(
                    jam.guild_id,
                    jam.id,
                    jam.channel_id,
                    thread_id,
                    jam.host_id,
                    s.theme,
                    s.rounds,
                    s.budget,
                )
            )
            self.deadlines_changed.set()
        return opened

    async def abandon(self, jam: Jam) -> Transition | None:
        """The card or thread could not be made: the jam never starts; the budget goes back."""
        return await self._finish(jam.id, EndReason.START_FAILED, actor_id=None)

    # -- lookups ---------------------------------------------------------------------------------

    async def get(self, jam_id: str) -> Jam | None:
        return await self._store.get(jam_id)

    async def find(self, channel_id: int) -> Jam | None:
        """The jam of a thread, or the running (else latest) jam of a text channel."""
        return await self._store.find(channel_id)

    async def terms_in(self, thread_id: int) -> EntryTerms | None:
        """When `thread_id` is a jam's thread (running or not), how entries there are made."""
        jam = await self._store.find(thread_id)
        return EntryTerms(jam) if jam is not None and jam.thread_id == thread_id else None

    async def snapshot(self, jam_id: str) -> JamSnapshot | None:
        return await self._store.snapshot(jam_id)

    # -- entries and votes -------------------------------------------------------------------------

    async def enter(
        self,
        terms: EntryTerms,
        requester: Requester,
        *,
        job_id: str,
        display_name: str,
        prompt: str,
        negative_prompt: str | None,
        seed: int | None,
        riff_of: str | None = None,
    ) -> Accepted | EntryRefusal | Refusal:
        """Reserve an entry's credit from the jam's budget and write the entry, at once.
        `prompt` and `negative_prompt` are what the member asked for (before the jam's)."""
        # The quota sees the jam's own channel (its channel rules, the mod log's "where").
        requester = replace(requester, channel_id=terms.jam.channel_id)
        draft = EntryDraft(
            jam_id=terms.jam.id,
            job_id=job_id,
            requester=requester,
            display_name=display_name,
            prompt=prompt,
            final_prompt=terms.prompt(prompt),
            negative_prompt=terms.negative_prompt(negative_prompt),
            seed=seed,
            riff_of=riff_of,
        )

        async def in_store(
            hit: BlockedTerm | None, now: float
        ) -> Accepted | EntryRefusal | Refusal:
            return await self._store.enter(
                draft,
                now=now,
                blocked_term=hit,
                reserve_rules=self._ledger.rules,
                rules=self._rules,
            )

        return await self._ledger.reserve_with(requester, job_id, draft.final_prompt, in_store)

    async def entry_finished(self, job_id: str, *, ok: bool, audio_path: str | None) -> None:
        state = EntryState.READY if ok else EntryState.FAILED
        await self._store.set_entry_state(job_id, state, audio_path=audio_path)

    async def vote(self, jam_id: str, number: int, voter_id: int) -> VoteOutcome:
        return await self._store.vote(
            jam_id, number, voter_id, now=self._clock(), rules=self._rules
        )

    # -- deadlines and endings -------------------------------------------------------------------

    async def advance_due(self) -> list[Transition]:
        """Take the step of every running jam whose deadline has passed (once each: the
        store's update is guarded, so another process or a retry finds nothing to do)."""
        done: list[Transition] = []
        for jam_id in await self._store.due(self._clock()):
            step = await self._store.advance(jam_id, now=self._clock(), rules=self._rules)
            if step is None:
                continue
            done.append(step)
            if step.step.end_reason is not None:
                await self._announce_end(step, actor_id=None)
        if done:
            self.deadlines_changed.set()
        return done

    async def sweep_starting(self, *, older_than: float) -> int:
        """Jams stuck starting (the bot stopped while making the card or thread): given up,
        their budget returned."""
        stale = await self._store.stale_starting(self._clock() - older_than)
        for jam_id in stale:
            await self._finish(jam_id, EndReason.START_FAILED, actor_id=None)
        return len(stale)

    async def end(self, jam: Jam, *, by: int) -> Transition | None:
        """/jam end: results of what was voted, the summary, the rest of the budget back."""
        return await self._finish(jam.id, EndReason.ENDED, actor_id=by)

    async def cancel(self, jam: Jam, *, by: int) -> Transition | None:
        """/jam cancel: no results; the rest of the budget back."""
        return await self._finish(jam.id, EndReason.CANCELLED, actor_id=by)

    async def thread_gone(self, thread_id: int) -> Transition | None:
        """The jam's thread was deleted: the jam is cancelled and its budget returned."""
        jam = await self._store.find(thread_id)
        if jam is None or jam.thread_id != thread_id or not jam.running:
            return None
        log.info("the thread of jam %s was deleted; cancelling it", jam.id)
        return await self._finish(jam.id, EndReason.THREAD_DELETED, actor_id=None)

    async def _finish(
        self, jam_id: str, reason: EndReason, *, actor_id: int | None
    ) -> Transition | None:
        finished = await self._store.finish(
            jam_id, reason, by=actor_id, now=self._clock(), rules=self._rules
        )
        if finished is not None:
            await self._announce_end(finished, actor_id=actor_id)
            self.deadlines_changed.set()
        return finished

    async def _announce_end(self, done: Transition, *, actor_id: int | None) -> None:
        jam = done.jam
        spent, returned = done.spent or 0, done.returned or 0
        reason = done.step.end_reason
        if reason is not None and reason.with_results:
            snapshot = await self._store.snapshot(jam.id)
            entries = [e for e in snapshot.entries if e.counted] if snapshot else []
            participants = len({e.user_id for e in entries})
            await self._publish(
                JamEnded(
                    jam.guild_id,
                    jam.id,
                    jam.channel_id,
                    jam.thread_id,
                    actor_id,
                    spent,
                    returned,
                    len(entries),
                    participants,
                )
            )
        elif reason is not None:
            await self._publish(
                JamCancelled(
                    jam.guild_id, jam.id, jam.channel_id, actor_id, reason, spent, returned
                )
            )
        if returned:
            await self._publish(JamBudgetMoved(jam.guild_id, jam.id, returned, True))

    async def _publish(self, event: JamEvent) -> None:
        await self._events.publish(event)

    # -- the posts owed ------------------------------------------------------------------------

    async def pending_posts(self) -> list[Post]:
        return await self._store.pending_posts()

    async def claim_post(self, post: Post, *, lease: float) -> bool:
        """Take the post for `lease` seconds (False: another process is making it)."""
        now = self._clock()
        return await self._store.claim_post(post, now=now, until=now + lease)

    async def post_done(self, post: Post) -> None:
        await self._store.post_done(post, now=self._clock())

    async def post_later(self, post: Post, delay: float) -> None:
        await self._store.post_later(post, at=self._clock() + delay)

    async def next_wakeup(self) -> float | None:
        return await self._store.next_wakeup()
