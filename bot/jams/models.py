"""Jam sessions' values: a jam, its rounds, entries and votes, what a refusal is made of, and
the marks a jam leaves on a job. No I/O, no Discord; refusals carry kinds and numbers (the
words live in `bot.text.jams`).

A jam runs in rounds. Each round has a submission window (members /compose in the jam's
thread; every piece is an entry paid from the jam's budget) and then a voting window (one
vote per member per round, not for one's own entry). After the last round the jam ends.

    starting ─▶ submitting(1) ─▶ voting(1) ─▶ submitting(2) ─▶ … ─▶ voting(n) ─▶ ended
        │             └─(no entries)───────────▶ submitting(2)
        └──────── any running phase ──▶ cancelled / ended (by the host or a moderator)
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Any

from bot.quota.models import Requester

# Bounds of what a host may ask for (the /jam options declare the same numbers).
THEME_MAX_CHARS = 200
STYLE_MAX_CHARS = 200
NEGATIVE_MAX_CHARS = 300
MAX_ROUNDS = 10
MAX_ROUND_MINUTES = 24 * 60
MAX_VOTE_MINUTES = 24 * 60
MAX_ENTRIES_PER_ROUND = 10
MAX_BUDGET = 10_000

DEFAULT_ROUNDS = 3
DEFAULT_ROUND_MINUTES = 20
DEFAULT_VOTE_MINUTES = 10
DEFAULT_ENTRIES_PER_ROUND = 1
DEFAULT_BUDGET = 30


def new_jam_id() -> str:
    """A short id, safe in custom_ids and file names (10 hex characters)."""
    return secrets.token_hex(5)


class JamPhase(enum.StrEnum):
    STARTING = "starting"  # the budget is held; the card and thread are being made
    SUBMITTING = "submitting"
    VOTING = "voting"
    ENDED = "ended"
    CANCELLED = "cancelled"

    @property
    def running(self) -> bool:
        return self in (JamPhase.STARTING, JamPhase.SUBMITTING, JamPhase.VOTING)


RUNNING_PHASES = (JamPhase.STARTING, JamPhase.SUBMITTING, JamPhase.VOTING)


class EndReason(enum.StrEnum):
    COMPLETED = "completed"  # after the last round's votes
    ENDED = "ended"  # /jam end
    CANCELLED = "cancelled"  # /jam cancel
    THREAD_DELETED = "thread_deleted"
    START_FAILED = "start_failed"  # the card or thread could not be made (or a crash then)

    @property
    def with_results(self) -> bool:
        return self in (EndReason.COMPLETED, EndReason.ENDED)


@dataclass(frozen=True)
class JamSettings:
    """What the host chose (`round_seconds`, `vote_seconds` in seconds)."""

    theme: str
    rounds: int = DEFAULT_ROUNDS
    round_seconds: int = DEFAULT_ROUND_MINUTES * 60
    vote_seconds: int = DEFAULT_VOTE_MINUTES * 60
    entries_per_round: int = DEFAULT_ENTRIES_PER_ROUND
    budget: int = DEFAULT_BUDGET
    style: str | None = None
    negative_prompt: str | None = None


@dataclass(frozen=True)
class JamDraft:
    """A jam about to start in `channel_id` (a text channel) of `guild_id`."""

    jam_id: str
    guild_id: int
    channel_id: int
    host_id: int
    settings: JamSettings


@dataclass(frozen=True)
class Jam:
    """One row of `jams`. `round` is the current round (the last one once over);
    `phase_ends_at` the current phase's deadline (None when not running)."""

    id: str
    guild_id: int
    channel_id: int
    thread_id: int | None
    card_message_id: int | None
    host_id: int
    settings: JamSettings
    pool_period: int
    phase: JamPhase
    round: int
    phase_ends_at: float | None
    settled: bool
    returned: int
    end_reason: EndReason | None
    created_at: float
    updated_at: float
    ended_at: float | None = None
    ended_by: int | None = None  # who ended or cancelled it (None: it ended by itself)

    @property
    def running(self) -> bool:
        return self.phase.running

    @property
    def last_round(self) -> bool:
        return self.round >= self.settings.rounds


@dataclass(frozen=True)
class Round:
    number: int
    opened_at: float
    submit_ends_at: float
    voting_opened_at: float | None = None
    vote_ends_at: float | None = None
    closed_at: float | None = None


class EntryState(enum.StrEnum):
    PENDING = "pending"  # being composed
    READY = "ready"  # finished (audio kept for the export, or at least its link)
    FAILED = "failed"  # no music came of it


@dataclass(frozen=True)
class Entry:
    """One entry. `counted`: its credit is not refunded, so it counts toward the member's
    entries and the jam's spending. `votes`: filled in by snapshots once voting has closed
    (0 before: counts stay hidden). `result_*`: the message that carries the piece."""

    job_id: str
    jam_id: str
    round: int
    number: int
    user_id: int
    display_name: str
    prompt: str  # what the member typed
    final_prompt: str  # what was sent (the jam's style added)
    negative_prompt: str | None
    seed: int | None
    riff_of: str | None  # the job id of the entry it riffs on
    state: EntryState
    audio_path: str | None
    created_at: float
    counted: bool = True
    votes: int = 0
    model: str | None = None
    result_message_id: int | None = None
    result_channel_id: int | None = None
    audio_url: str | None = None
    delivered_at: float | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True)
class EntryDraft:
    """An entry to reserve: a /compose (or a riff) in the jam's thread, normalised."""

    jam_id: str
    job_id: str
    requester: Requester
    display_name: str
    prompt: str
    final_prompt: str
    negative_prompt: str | None
    seed: int | None
    riff_of: str | None = None


class EntryProblem(enum.StrEnum):
    """Why an entry is refused (besides the quota's own refusals)."""

    NOT_RUNNING = "not_running"  # the jam ended or was cancelled
    STARTING = "starting"  # the first round is not open yet
    VOTING = "voting"  # submissions are closed: the round is being voted on
    ROUND_OVER = "round_over"  # the round's deadline passed (closing any moment)
    ENTRIES_USED = "entries_used"
    RIFF_UNKNOWN = "riff_unknown"  # a riff on something that is not an entry of this jam


@dataclass(frozen=True)
class EntryRefusal:
    """`next_round_at`: when the next round opens (None: there is none); `allowance`: the
    entries per member per round."""

    problem: EntryProblem
    next_round_at: float | None = None
    allowance: int | None = None
    round: int | None = None


@dataclass(frozen=True)
class EntryContext:
    """What an entry is decided on, read in its transaction."""

    jam: Jam
    round: Round | None
    now: float
    member_entries: int  # counted entries of the member in the current round
    riff_requested: bool
    riff_target: Entry | None  # the entry riffed on, when it belongs to this jam


@dataclass(frozen=True)
class Accepted:
    """The entry was reserved and written."""

    entry: Entry
    budget_left: int
    entries_left: int  # this round, for the member
    riff_target: Entry | None = None  # the entry it riffs on

    def mark(self) -> EntryMark:
        """What the entry's job carries in its context."""
        target = self.riff_target
        return EntryMark(
            jam_id=self.entry.jam_id,
            number=self.entry.number,
            round=self.entry.round,
            riff_number=None if target is None else target.number,
            riff_user_id=None if target is None else target.user_id,
        )


class VoteProblem(enum.StrEnum):
    NOT_RUNNING = "not_running"
    NOT_VOTING = "not_voting"  # submissions still open, or this round's voting is over
    UNKNOWN_ENTRY = "unknown_entry"
    OTHER_ROUND = "other_round"  # an entry of another round
    OWN_ENTRY = "own_entry"
    FAILED_ENTRY = "failed_entry"
    BARRED = "barred"


@dataclass(frozen=True)
class VoteContext:
    jam: Jam | None
    entry: Entry | None
    voter_id: int
    barred: bool
    previous: int | None  # the entry number voted for before in this round
    now: float


class VoteChange(enum.StrEnum):
    CAST = "cast"
    MOVED = "moved"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class VoteOutcome:
    """Either `problem` (nothing changed) or the change made."""

    problem: VoteProblem | None
    change: VoteChange | None = None
    number: int | None = None
    previous: int | None = None
    round: int | None = None
    closes_at: float | None = None


class PostKind(enum.StrEnum):
    """What a phase change owes the thread (or the parent channel), in the order posted."""

    OPEN = "open"  # a round is open for entries (thread)
    BALLOT = "ballot"  # the round's entries with Vote buttons (thread)
    RESULTS = "results"  # the round's ranking (thread)
    SUMMARY = "summary"  # the final leaderboard (thread)
    CANCELLED = "cancelled"  # the jam was cancelled (thread)
    ANNOUNCE = "announce"  # the jam is over (parent channel)
    ARCHIVE = "archive"  # archive the thread


POST_ORDER = {kind: index for index, kind in enumerate(PostKind)}


@dataclass(frozen=True)
class Post:
    """One post owed; `attempts` > 0 means an earlier try may have posted part of it."""

    jam_id: str
    kind: PostKind
    round: int
    due_at: float
    attempts: int = 0


@dataclass(frozen=True)
class Step:
    """A phase change the rules chose: the new phase, round and deadline, what to post, and
    whether the budget is settled (the unspent rest given back to the pool)."""

    phase: JamPhase
    round: int
    ends_at: float | None
    posts: tuple[PostKind, ...]
    voting_opens: bool = False  # the round's voting starts now (its vote deadline is set)
    closes_round: bool = False  # the round is over (its results are final)
    opens_round: bool = False  # a new round starts now
    end_reason: EndReason | None = None


@dataclass(frozen=True)
class Transition:
    """A phase change that happened: the jam afterwards and the step taken; when the jam
    ended, what its entries spent and what went back to the pool."""

    jam: Jam
    step: Step
    spent: int | None = None
    returned: int | None = None


@dataclass(frozen=True)
class JamSnapshot:
    """Everything known about a jam at one moment: for status, ballots, results, the summary
    and the export. Votes are in `entries` only for rounds whose voting has closed."""

    jam: Jam
    rounds: tuple[Round, ...]
    entries: tuple[Entry, ...]
    spent: int
    voters: dict[int, int] = field(default_factory=dict)  # round -> members who voted

    def round(self, number: int) -> Round | None:
        return next((r for r in self.rounds if r.number == number), None)

    def entries_in(self, number: int) -> list[Entry]:
        return [e for e in self.entries if e.round == number]

    def entry(self, job_id: str) -> Entry | None:
        return next((e for e in self.entries if e.job_id == job_id), None)

    @property
    def budget_left(self) -> int:
        return max(self.jam.settings.budget - self.spent, 0)

    @property
    def participants(self) -> list[int]:
        """Members with at least one counted entry, in the order they first entered."""
        return list(dict.fromkeys(e.user_id for e in self.entries if e.counted))


@dataclass(frozen=True)
class RankedEntry:
    entry: Entry
    votes: int
    rank: int  # 1 = best; ties share a rank (1, 2, 2, 4)


@dataclass(frozen=True)
class Standing:
    """A member over the whole jam: votes received, entries, rounds won."""

    user_id: int
    display_name: str
    votes: int
    entries: int
    wins: int
    rank: int


# -- what a jam entry's job carries (in Job.context, beside the Discord context) --------------


@dataclass(frozen=True)
class EntryMark:
    """Which jam entry a job is; stored in the job's context under "jam"."""

    jam_id: str
    number: int
    round: int
    riff_number: int | None = None
    riff_user_id: int | None = None

    _KEY = "jam"

    def to_context(self) -> dict[str, Any]:
        data: dict[str, Any] = {"jam_id": self.jam_id, "number": self.number, "round": self.round}
        if self.riff_number is not None:
            data["riff_number"] = self.riff_number
            data["riff_user_id"] = self.riff_user_id
        return {self._KEY: data}

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> EntryMark | None:
        data = context.get(cls._KEY)
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                jam_id=str(data["jam_id"]),
                number=int(data["number"]),
                round=int(data["round"]),
                riff_number=_optional_int(data.get("riff_number")),
                riff_user_id=_optional_int(data.get("riff_user_id")),
            )
        except (KeyError, TypeError, ValueError):
            return None


RIFF_PREFIX = "jam:riff:"


def riff_custom_id(job_id: str) -> str:
    """The Riff button under a jam entry's result (handled by the jam extension)."""
    return f"{RIFF_PREFIX}{job_id}"


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))
