"""The jam's rules, pure: the host's settings, who may enter and vote, what happens when a
deadline passes, ranking, and the budget's arithmetic. The store calls `JamRules` inside its
transactions (like the quota's reservation rule), so every backend decides the same way.

Ranking: votes, most first; equal votes share a rank (1, 2, 2, 4) and are listed in entry
order. A round's winners are its entries ranked first with at least one vote. Over the whole
jam, members are ranked by the votes their entries received, then by rounds won.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.jams.models import (
    MAX_BUDGET,
    MAX_ENTRIES_PER_ROUND,
    MAX_ROUND_MINUTES,
    MAX_ROUNDS,
    MAX_VOTE_MINUTES,
    NEGATIVE_MAX_CHARS,
    STYLE_MAX_CHARS,
    THEME_MAX_CHARS,
    EndReason,
    Entry,
    EntryContext,
    EntryProblem,
    EntryRefusal,
    EntryState,
    Jam,
    JamPhase,
    JamSettings,
    PostKind,
    RankedEntry,
    Round,
    Standing,
    Step,
    VoteContext,
    VoteProblem,
)
from bot.jobs.request import PROMPT_MAX_CHARS, has_visible_content

STYLE_SEPARATOR = ", "


class SettingsProblem(enum.StrEnum):
    THEME_EMPTY = "theme_empty"
    THEME_TOO_LONG = "theme_too_long"
    STYLE_TOO_LONG = "style_too_long"
    NEGATIVE_TOO_LONG = "negative_too_long"
    ROUNDS = "rounds"
    ROUND_MINUTES = "round_minutes"
    VOTE_MINUTES = "vote_minutes"
    ENTRIES = "entries"
    BUDGET = "budget"


@dataclass(frozen=True)
class SettingsRefusal:
    problem: SettingsProblem
    limit: int


def validate_settings(settings: JamSettings) -> SettingsRefusal | None:
    """The first thing wrong with a host's settings (None: they may be used)."""
    if not has_visible_content(settings.theme):
        return SettingsRefusal(SettingsProblem.THEME_EMPTY, THEME_MAX_CHARS)
    checks: list[tuple[bool, SettingsProblem, int]] = [
        (len(settings.theme) > THEME_MAX_CHARS, SettingsProblem.THEME_TOO_LONG, THEME_MAX_CHARS),
        (
            len(settings.style or "") > STYLE_MAX_CHARS,
            SettingsProblem.STYLE_TOO_LONG,
            STYLE_MAX_CHARS,
        ),
        (
            len(settings.negative_prompt or "") > NEGATIVE_MAX_CHARS,
            SettingsProblem.NEGATIVE_TOO_LONG,
            NEGATIVE_MAX_CHARS,
        ),
        (not 1 <= settings.rounds <= MAX_ROUNDS, SettingsProblem.ROUNDS, MAX_ROUNDS),
        (
            not 60 <= settings.round_seconds <= MAX_ROUND_MINUTES * 60,
            SettingsProblem.ROUND_MINUTES,
            MAX_ROUND_MINUTES,
        ),
        (
            not 60 <= settings.vote_seconds <= MAX_VOTE_MINUTES * 60,
            SettingsProblem.VOTE_MINUTES,
            MAX_VOTE_MINUTES,
        ),
        (
            not 1 <= settings.entries_per_round <= MAX_ENTRIES_PER_ROUND,
            SettingsProblem.ENTRIES,
            MAX_ENTRIES_PER_ROUND,
        ),
        (not 1 <= settings.budget <= MAX_BUDGET, SettingsProblem.BUDGET, MAX_BUDGET),
    ]
    for failed, problem, limit in checks:
        if failed:
            return SettingsRefusal(problem, limit)
    return None


# -- what an entry sends -----------------------------------------------------------------------


def final_prompt(prompt: str, style: str | None) -> str:
    """The member's prompt with the jam's shared style added (what the model is sent)."""
    return f"{prompt}{STYLE_SEPARATOR}{style}" if style else prompt


def style_room(style: str | None) -> int:
    """How many characters a member's prompt may have once the jam's style is added."""
    return PROMPT_MAX_CHARS - (len(STYLE_SEPARATOR) + len(style) if style else 0)


def entry_negative(negative: str | None, jam_negative: str | None) -> str | None:
    """The member's negative prompt, or the jam's when they gave none."""
    return negative if negative is not None else jam_negative


# -- who may do what -------------------------------------------------------------------------


def may_host(*, is_moderator: bool, role_ids: Iterable[int], host_role_id: int | None) -> bool:
    """Manage Server, or the server's jam-host role."""
    return is_moderator or (host_role_id is not None and host_role_id in set(role_ids))


def may_close(jam: Jam, user_id: int, *, is_moderator: bool) -> bool:
    """End or cancel: the jam's host, or a moderator."""
    return is_moderator or user_id == jam.host_id


def may_export(jam: Jam, user_id: int, *, is_moderator: bool) -> bool:
    """Everyone once the jam is over; before that, its host (or a moderator)."""
    return not jam.running or may_close(jam, user_id, is_moderator=is_moderator)


def next_round_opens_at(jam: Jam, current: Round | None) -> float | None:
    """When the round after `current` opens (its voting's end); None after the last round."""
    if current is None or current.number >= jam.settings.rounds or not jam.running:
        return None
    if current.vote_ends_at is not None:
        return current.vote_ends_at
    return current.submit_ends_at + jam.settings.vote_seconds


class JamRules:
    """The decisions the store makes inside its transactions."""

    def entry_refusal(self, ctx: EntryContext) -> EntryRefusal | None:
        jam = ctx.jam
        if not jam.running:
            return EntryRefusal(EntryProblem.NOT_RUNNING)
        if jam.phase is JamPhase.STARTING or ctx.round is None:
            return EntryRefusal(EntryProblem.STARTING)
        if ctx.riff_requested and ctx.riff_target is None:
            return EntryRefusal(EntryProblem.RIFF_UNKNOWN)
        next_at = next_round_opens_at(jam, ctx.round)
        if jam.phase is JamPhase.VOTING:
            return EntryRefusal(EntryProblem.VOTING, next_round_at=next_at, round=jam.round)
        if ctx.now >= ctx.round.submit_ends_at:
            return EntryRefusal(EntryProblem.ROUND_OVER, next_round_at=next_at, round=jam.round)
        if ctx.member_entries >= jam.settings.entries_per_round:
            return EntryRefusal(
                EntryProblem.ENTRIES_USED,
                next_round_at=next_at,
                allowance=jam.settings.entries_per_round,
                round=jam.round,
            )
        return None

    def vote_problem(self, ctx: VoteContext) -> VoteProblem | None:
        jam, entry = ctx.jam, ctx.entry
        if jam is None or not jam.running:
            return VoteProblem.NOT_RUNNING
        if ctx.barred:
            return VoteProblem.BARRED
        if entry is None or entry.jam_id != jam.id:
            return VoteProblem.UNKNOWN_ENTRY
        if entry.round != jam.round:
            return VoteProblem.OTHER_ROUND
        if jam.phase is not JamPhase.VOTING:
            return VoteProblem.NOT_VOTING
        if jam.phase_ends_at is not None and ctx.now >= jam.phase_ends_at:
            return VoteProblem.NOT_VOTING
        if entry.user_id == ctx.voter_id:
            return VoteProblem.OWN_ENTRY
        if not entry.counted or entry.state is EntryState.FAILED:
            return VoteProblem.FAILED_ENTRY
        return None

    def first_step(self, settings: JamSettings, now: float) -> Step:
        """The jam is made: its first round opens."""
        return Step(
            JamPhase.SUBMITTING,
            1,
            now + settings.round_seconds,
            (PostKind.OPEN,),
            opens_round=True,
        )

    def step_after_deadline(self, jam: Jam, entries_in_round: int, now: float) -> Step | None:
        """What the passing of the current phase's deadline does (None: nothing is due)."""
        if jam.phase is JamPhase.SUBMITTING and entries_in_round > 0:
            return Step(
                JamPhase.VOTING,
                jam.round,
                now + jam.settings.vote_seconds,
                (PostKind.BALLOT,),
                voting_opens=True,
            )
        if jam.phase in (JamPhase.SUBMITTING, JamPhase.VOTING):
            if jam.last_round:
                return self.step_to_end(jam, EndReason.COMPLETED, now)
            return Step(
                JamPhase.SUBMITTING,
                jam.round + 1,
                now + jam.settings.round_seconds,
                (PostKind.RESULTS, PostKind.OPEN),
                closes_round=True,
                opens_round=True,
            )
        return None

    def step_to_end(self, jam: Jam, reason: EndReason, now: float) -> Step:
        """Ending the jam: with results (last round over, /jam end) or without (cancelled)."""
        posts: tuple[PostKind, ...]
        if reason.with_results:
            # The round being voted on is closed with its votes; a round still taking entries
            # is closed without voting (its entries are in the summary).
            results = jam.phase is JamPhase.VOTING or reason is EndReason.COMPLETED
            posts = (
                *((PostKind.RESULTS,) if results else ()),
                PostKind.SUMMARY,
                PostKind.ANNOUNCE,
                PostKind.ARCHIVE,
            )
            phase = JamPhase.ENDED
        elif reason is EndReason.THREAD_DELETED:
            posts, phase = (PostKind.ANNOUNCE,), JamPhase.CANCELLED
        elif reason is EndReason.START_FAILED:
            posts, phase = (), JamPhase.CANCELLED
        else:
            posts = (PostKind.CANCELLED, PostKind.ANNOUNCE, PostKind.ARCHIVE)
            phase = JamPhase.CANCELLED
        return Step(phase, jam.round, None, posts, closes_round=True, end_reason=reason)


# -- ranking -----------------------------------------------------------------------------------


def in_the_running(entry: Entry) -> bool:
    """An entry that can be voted on and ranked: counted and not failed."""
    return entry.counted and entry.state is not EntryState.FAILED


def rank_entries(entries: Iterable[Entry]) -> list[RankedEntry]:
    """Entries by votes (most first), ties sharing a rank and kept in entry order."""
    ordered = sorted((e for e in entries if in_the_running(e)), key=lambda e: (-e.votes, e.number))
    ranked: list[RankedEntry] = []
    for index, entry in enumerate(ordered):
        tied = ranked and ranked[-1].votes == entry.votes
        rank = ranked[-1].rank if tied else index + 1
        ranked.append(RankedEntry(entry, entry.votes, rank))
    return ranked


def winners(ranked: Sequence[RankedEntry]) -> list[RankedEntry]:
    """A round's winners: ranked first with at least one vote (ties: all of them)."""
    return [r for r in ranked if r.rank == 1 and r.votes > 0]


def standings(entries: Sequence[Entry], rounds: Iterable[int]) -> list[Standing]:
    """Members over the jam: votes received, entries, rounds won (among `rounds`)."""
    wins: dict[int, int] = {}
    for number in rounds:
        for top in winners(rank_entries(e for e in entries if e.round == number)):
            wins[top.entry.user_id] = wins.get(top.entry.user_id, 0) + 1
    totals: dict[int, list[int]] = {}  # user -> [votes, entries, first entry number]
    names: dict[int, str] = {}
    for entry in entries:
        if not in_the_running(entry):
            continue
        total = totals.setdefault(entry.user_id, [0, 0, entry.number])
        total[0] += entry.votes
        total[1] += 1
        names.setdefault(entry.user_id, entry.display_name)
    ordered = sorted(
        totals.items(), key=lambda item: (-item[1][0], -wins.get(item[0], 0), item[1][2])
    )
    result: list[Standing] = []
    for index, (user_id, (votes, count, _first)) in enumerate(ordered):
        won = wins.get(user_id, 0)
        previous = result[-1] if result else None
        tied = previous is not None and (previous.votes, previous.wins) == (votes, won)
        rank = previous.rank if tied and previous is not None else index + 1
        result.append(Standing(user_id, names[user_id], votes, count, won, rank))
    return result
