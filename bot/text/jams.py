"""Everything a jam says: its card, the posts in its thread, the replies to /jam and to votes,
and why an entry or a vote is refused.

Members are shown as mentions (`<@id>`), which render as names; every jam message goes out
with no allowed mentions, so nobody is pinged. What members typed (theme, style, prompts) goes
through `safe_text`. Times are Discord timestamps. Long lists are cut into pages under
Discord's 2000 characters; each post ends with a small marker line naming the jam, the post and
the page, by which a post made just before a crash is found instead of made twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.jams.models import (
    EndReason,
    Entry,
    EntryMark,
    EntryProblem,
    EntryRefusal,
    Jam,
    JamPhase,
    JamSnapshot,
    PostKind,
    RankedEntry,
    Round,
    Standing,
    VoteChange,
    VoteOutcome,
    VoteProblem,
)
from bot.jams.rules import (
    SettingsProblem,
    SettingsRefusal,
    rank_entries,
    standings,
    winners,
)
from bot.quota.models import Limit, Refusal
from bot.text.format import MESSAGE_CHARS, plural, relative_time, safe_text
from bot.text.refusals import refusal_text

THEME_CHARS = 150
STYLE_CHARS = 150
PROMPT_CHARS = 120
NAME_CHARS = 80
THREAD_NAME_CHARS = 100


def exact_time(unix_seconds: float) -> str:
    """A Discord timestamp shown as a time of day (in each reader's own time zone)."""
    return f"<t:{int(unix_seconds)}:t>"


def deadline(unix_seconds: float) -> str:
    return f"{relative_time(unix_seconds)} ({exact_time(unix_seconds)})"


def theme_text(jam: Jam) -> str:
    return safe_text(jam.settings.theme, THEME_CHARS)


def thread_name(theme: str) -> str:
    """The jam thread's name: one line, at most Discord's 100 characters (names never ping)."""
    flat = " ".join(theme.split())
    name = f"🎶 {flat}"
    return name if len(name) <= THREAD_NAME_CHARS else name[: THREAD_NAME_CHARS - 1] + "…"


def entry_label(entry: Entry) -> str:
    return f"**#{entry.number}** by <@{entry.user_id}>"


# -- the card ----------------------------------------------------------------------------------


def rules_line(jam: Jam) -> str:
    s = jam.settings
    return (
        f"{plural(s.rounds, 'round')} · {s.round_seconds // 60} min to submit, "
        f"{s.vote_seconds // 60} min to vote · {plural(s.entries_per_round, 'entry', 'entries')} "
        "per member per round"
    )


def phase_line(jam: Jam) -> str:
    s = jam.settings
    where = f"Round {jam.round} of {s.rounds}"
    ends = deadline(jam.phase_ends_at) if jam.phase_ends_at is not None else None
    match jam.phase:
        case JamPhase.STARTING:
            return "⏳ Starting…"
        case JamPhase.SUBMITTING:
            return f"🎤 **{where} — submissions open**, closing {ends}"
        case JamPhase.VOTING:
            return f"🗳️ **{where} — voting**, closing {ends}"
        case JamPhase.ENDED:
            when = f" {relative_time(jam.ended_at)}" if jam.ended_at else ""
            return f"🏁 **Ended**{when}"
        case JamPhase.CANCELLED:
            when = f" {relative_time(jam.ended_at)}" if jam.ended_at else ""
            return f"🛑 **Cancelled**{when}"


def card_text(snapshot: JamSnapshot) -> str:
    jam = snapshot.jam
    s = jam.settings
    lines = [f"🎶 **Jam: {theme_text(jam)}** — hosted by <@{jam.host_id}>", rules_line(jam)]
    if s.style:
        lines.append(f"Style added to every prompt: {safe_text(s.style, STYLE_CHARS)}")
    if s.negative_prompt:
        lines.append(
            f"Leaving out (unless you say otherwise): {safe_text(s.negative_prompt, STYLE_CHARS)}"
        )
    lines.append(phase_line(jam))
    spent = snapshot.spent
    if jam.running:
        lines.append(
            f"Budget: {snapshot.budget_left} of {plural(s.budget, 'credit')} left · "
            f"Participants: {len(snapshot.participants)}"
        )
        if jam.thread_id is not None:
            lines.append(f"Enter with **/compose** in <#{jam.thread_id}>.")
    else:
        lines.append(
            f"Credits used: {spent} of {s.budget} · Participants: {len(snapshot.participants)}"
        )
    return fit_lines(lines)


# -- posts in the thread -------------------------------------------------------------------------


def marker(jam_id: str, kind: PostKind, round_number: int, page: int, pages: int) -> str:
    """The last line of every jam post: what it is, for people and for crash recovery."""
    label = {
        PostKind.OPEN: f"round {round_number} open",
        PostKind.BALLOT: f"round {round_number} ballot",
        PostKind.RESULTS: f"round {round_number} results",
        PostKind.SUMMARY: "final results",
        PostKind.CANCELLED: "cancelled",
        PostKind.ANNOUNCE: "over",
        PostKind.ARCHIVE: "archived",
    }[kind]
    return f"-# jam {jam_id} · {label} · {page}/{pages}"


def _cut_line(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


def paginate(header: str, lines: Sequence[str], *, reserve: int = 80) -> list[str]:
    """`header` then `lines`, cut into pages that leave `reserve` characters for the marker."""
    limit = MESSAGE_CHARS - reserve
    pages: list[list[str]] = [[header]]
    size = len(header)
    for line in lines:
        line = _cut_line(line, limit // 2)
        if size + 1 + len(line) > limit:
            pages.append([])
            size = 0
        pages[-1].append(line)
        size += len(line) + 1
    return ["\n".join(page) for page in pages]


def with_markers(jam_id: str, kind: PostKind, round_number: int, pages: list[str]) -> list[str]:
    total = len(pages)
    return [
        f"{body}\n{marker(jam_id, kind, round_number, index, total)}"
        for index, body in enumerate(pages, 1)
    ]


def open_post(snapshot: JamSnapshot, round_number: int) -> list[str]:
    jam = snapshot.jam
    current = snapshot.round(round_number)
    s = jam.settings
    lines = [
        f"🎤 **Round {round_number} of {s.rounds} is open!** Theme: {theme_text(jam)}",
        f"Use **/compose** here to enter — up to {plural(s.entries_per_round, 'entry', 'entries')} "
        "per member this round, paid from the jam's budget.",
    ]
    if s.style:
        lines.append(
            f"The jam's style is added to your prompt: “{safe_text(s.style, STYLE_CHARS)}”."
        )
    if current is not None:
        lines.append(f"Submissions close {deadline(current.submit_ends_at)}.")
    lines.append("Press **Riff** under an entry to build on it.")
    return with_markers(jam.id, PostKind.OPEN, round_number, ["\n".join(lines)])


def ballot_line(entry: Entry, entries: Sequence[Entry], guild_id: int) -> str:
    parts = [f"{entry_label(entry)} — {safe_text(entry.prompt, PROMPT_CHARS)}"]
    riff = riff_text(entry, entries)
    if riff:
        parts.append(f"({riff})")
    if entry.result_message_id and entry.result_channel_id:
        link = f"https://discord.com/channels/{guild_id}/{entry.result_channel_id}/{entry.result_message_id}"
        parts.append(f"[listen](<{link}>)")
    return " ".join(parts)


def riff_text(entry: Entry, entries: Sequence[Entry]) -> str | None:
    if entry.riff_of is None:
        return None
    source = next((e for e in entries if e.job_id == entry.riff_of), None)
    if source is None:
        return None
    return f"riff on #{source.number} by <@{source.user_id}>"


BALLOT_PAGE_ENTRIES = 20  # buttons per ballot message (Discord allows 25 in 5 rows)


def ballot_pages(
    snapshot: JamSnapshot, round_number: int, entries: Sequence[Entry]
) -> list[tuple[str, list[int]]]:
    """The ballot's pages and the entry numbers each lists (its Vote buttons): at most
    `BALLOT_PAGE_ENTRIES` entries, and what fits Discord's 2000 characters, per page."""
    jam = snapshot.jam
    current = snapshot.round(round_number)
    closes = (
        f" Voting closes {deadline(current.vote_ends_at)}."
        if current is not None and current.vote_ends_at is not None
        else ""
    )
    header = (
        f"🗳️ **Round {round_number}: time to vote!**{closes}\n"
        "-# One vote per member; press another button to move it. Not for your own entry. "
        "Counts stay hidden until voting closes."
    )
    limit = MESSAGE_CHARS - 80  # the marker's room
    pages: list[tuple[list[str], list[int]]] = [([header], [])]
    size = len(header)
    for entry in entries:
        line = _cut_line(ballot_line(entry, snapshot.entries, jam.guild_id), limit // 2)
        lines, numbers = pages[-1]
        if len(numbers) >= BALLOT_PAGE_ENTRIES or size + 1 + len(line) > limit:
            pages.append(([], []))
            size = 0
            lines, numbers = pages[-1]
        lines.append(line)
        numbers.append(entry.number)
        size += len(line) + 1
    texts = with_markers(jam.id, PostKind.BALLOT, round_number, ["\n".join(p[0]) for p in pages])
    return [(text, numbers) for text, (_lines, numbers) in zip(texts, pages, strict=True)]


RESULTS_WITH_PROMPTS = 10  # the top of a round's results quotes prompts; the rest is compact


def ranked_line(ranked: RankedEntry, entries: Sequence[Entry], *, prompt: bool = True) -> str:
    entry = ranked.entry
    riff = riff_text(entry, entries)
    extra = f" ({riff})" if riff else ""
    line = f"{ranked.rank}. {entry_label(entry)} — {plural(ranked.votes, 'vote')}{extra}"
    return f"{line} — {safe_text(entry.prompt, PROMPT_CHARS)}" if prompt else line


def results_pages(snapshot: JamSnapshot, round_number: int) -> list[str]:
    jam = snapshot.jam
    ranked = rank_entries(snapshot.entries_in(round_number))
    voters = snapshot.voters.get(round_number, 0)
    if not ranked:
        header = f"🏆 **Round {round_number} results**\nNo entries this round."
        return with_markers(jam.id, PostKind.RESULTS, round_number, [header])
    header = f"🏆 **Round {round_number} results** — {plural(voters, 'member')} voted"
    top = winners(ranked)
    if top:
        names = ", ".join(entry_label(r.entry) for r in top)
        header += f"\nWinner: {names} with {plural(top[0].votes, 'vote')}!"
    lines = [
        ranked_line(r, snapshot.entries, prompt=index < RESULTS_WITH_PROMPTS)
        for index, r in enumerate(ranked)
    ]
    return with_markers(jam.id, PostKind.RESULTS, round_number, paginate(header, lines))


def closed_rounds(snapshot: JamSnapshot) -> list[int]:
    return [r.number for r in snapshot.rounds if r.closed_at is not None and r.voting_opened_at]


def summary_pages(snapshot: JamSnapshot) -> list[str]:
    jam = snapshot.jam
    s = jam.settings
    voted = closed_rounds(snapshot)
    table = standings(snapshot.entries, voted)
    header_lines = [f"🏁 **The jam is over: {theme_text(jam)}**"]
    for number in range(1, jam.round + 1):
        top = winners(rank_entries(snapshot.entries_in(number)))
        if top:
            names = ", ".join(entry_label(r.entry) for r in top)
            header_lines.append(f"Round {number}: {names} ({plural(top[0].votes, 'vote')})")
        elif number in voted:
            header_lines.append(f"Round {number}: no votes")
        else:
            header_lines.append(f"Round {number}: not voted on")
    returned = jam.returned
    header_lines.append(
        f"Credits used: {snapshot.spent} of {s.budget} ({returned} back to the server pool) · "
        f"Participants: {len(snapshot.participants)}"
    )
    header_lines.append("**Leaderboard**" if table else "Nobody entered.")
    lines = [standing_line(row) for row in table]
    return with_markers(jam.id, PostKind.SUMMARY, 0, paginate("\n".join(header_lines), lines))


def standing_line(row: Standing) -> str:
    wins = f", {plural(row.wins, 'round')} won" if row.wins else ""
    return (
        f"{row.rank}. <@{row.user_id}> — {plural(row.votes, 'vote')}, "
        f"{plural(row.entries, 'entry', 'entries')}{wins}"
    )


_END_REASONS = {
    EndReason.CANCELLED: "cancelled by its host",
    EndReason.THREAD_DELETED: "cancelled because its thread was deleted",
    EndReason.START_FAILED: "not started",
}


def cancelled_post(jam: Jam, actor_id: int | None) -> list[str]:
    who = f" by <@{actor_id}>" if actor_id else ""
    body = (
        f"🛑 **This jam was cancelled{who}.** No results; "
        f"{plural(jam.returned, 'unspent credit')} went back to the server pool."
    )
    return with_markers(jam.id, PostKind.CANCELLED, 0, [body])


def announce_post(snapshot: JamSnapshot) -> list[str]:
    jam = snapshot.jam
    if jam.phase is JamPhase.ENDED:
        table = standings(snapshot.entries, closed_rounds(snapshot))
        leaders = [row for row in table if row.rank == 1 and row.votes > 0]
        text = f"🏁 The jam **{theme_text(jam)}** has ended"
        if leaders:
            names = ", ".join(f"<@{row.user_id}>" for row in leaders)
            text += f" — top of the leaderboard: {names} with {plural(leaders[0].votes, 'vote')}"
        text += "."
        if jam.thread_id:
            text += f" Results and the export in <#{jam.thread_id}>."
    else:
        why = _END_REASONS.get(jam.end_reason or EndReason.CANCELLED, "cancelled")
        text = (
            f"🛑 The jam **{theme_text(jam)}** was {why}; "
            f"{plural(jam.returned, 'unspent credit')} went back to the server pool."
        )
    return with_markers(jam.id, PostKind.ANNOUNCE, 0, [text])


# -- replies -----------------------------------------------------------------------------------


def started_text(jam: Jam) -> str:
    return (
        f"✅ The jam is on: <#{jam.thread_id}>. {plural(jam.settings.budget, 'credit')} were "
        "taken from today's server pool for it; what is not spent goes back at the end."
    )


NOT_IN_A_SERVER = "Jams happen in a server's text channel, not in direct messages."
NOT_IN_A_THREAD = "Please start the jam in a text channel: it makes its own thread."
NOT_A_TEXT_CHANNEL = "Jams can only be started in a text channel."
CHANNEL_BUSY = (
    "This channel already has a jam running. Please wait for it to end, or start one elsewhere."
)
NOT_A_HOST = (
    "Sorry, only members with the **Manage Server** permission or the server's jam-host role "
    "can start a jam."
)
HOST_ROLE_MODERATORS = (
    "Sorry, only members with the **Manage Server** permission can choose who may host jams."
)
NOT_THE_HOST = "Only the jam's host or a moderator with **Manage Server** can do that."
NO_JAM_HERE = "There is no jam in this channel. Use /jam status inside a jam's thread."
NOT_RUNNING = "This jam is already over."
EXPORT_NOT_YET = (
    "The export opens to everyone once the jam has ended; until then only its host can export it."
)
START_FAILED = (
    "Sorry, I could not make the jam's card or thread, so the jam did not start; its budget "
    "went back to the server pool."
)

_PERMISSION_NAMES = {
    "send_messages": "Send Messages",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
    "read_message_history": "Read Message History",
    "attach_files": "Attach Files",
}


def bot_missing_text(missing: Sequence[str]) -> str:
    names = ", ".join(f"**{_PERMISSION_NAMES.get(p, p)}**" for p in missing)
    noun = "permission" if len(missing) == 1 else "permissions"
    return (
        f"I can't run a jam here: I am missing the {names} {noun} in this channel. "
        "Please ask a moderator to grant it, then try again. Nothing was created."
    )


def start_refusal_text(refusal: Refusal, budget: int) -> str:
    if refusal.limit is Limit.GUILD_POOL:
        left = refusal.remaining or 0
        return (
            f"A budget of {plural(budget, 'credit')} is more than today's server pool has left "
            f"({left} of {refusal.allowance or 0}). Please choose a budget of at most {left}"
            + (
                f", or start after the pool refills {relative_time(refusal.retry_at)}."
                if refusal.retry_at
                else "."
            )
        )
    return refusal_text(refusal)


_SETTINGS = {
    SettingsProblem.THEME_EMPTY: "Please give the jam a theme.",
    SettingsProblem.THEME_TOO_LONG: "The theme can be at most {limit} characters long.",
    SettingsProblem.STYLE_TOO_LONG: "The style can be at most {limit} characters long.",
    SettingsProblem.NEGATIVE_TOO_LONG: (
        "The negative prompt can be at most {limit} characters long."
    ),
    SettingsProblem.ROUNDS: "A jam has from 1 to {limit} rounds.",
    SettingsProblem.ROUND_MINUTES: "A round takes submissions for 1 to {limit} minutes.",
    SettingsProblem.VOTE_MINUTES: "Voting lasts 1 to {limit} minutes.",
    SettingsProblem.ENTRIES: "Members may have 1 to {limit} entries per round.",
    SettingsProblem.BUDGET: "The budget must be from 1 to {limit} credits.",
}


def settings_text(refusal: SettingsRefusal) -> str:
    return _SETTINGS[refusal.problem].format(limit=refusal.limit)


def entry_refusal_text(refusal: EntryRefusal) -> str:
    next_at = refusal.next_round_at
    then = (
        f" The next round opens {relative_time(next_at)}."
        if next_at is not None
        else " This is the jam's last round."
    )
    match refusal.problem:
        case EntryProblem.NOT_RUNNING:
            return "This jam is over, so it takes no more entries. Thanks for jamming!"
        case EntryProblem.STARTING:
            return "The jam is just starting; please try again in a moment."
        case EntryProblem.VOTING:
            return f"Submissions for round {refusal.round} are closed: it's time to vote.{then}"
        case EntryProblem.ROUND_OVER:
            return (
                f"Round {refusal.round}'s deadline has passed, so it takes no more entries.{then}"
            )
        case EntryProblem.ENTRIES_USED:
            used = plural(refusal.allowance or 0, "entry", "entries")
            return f"You've used your {used} for round {refusal.round}.{then}"
        case EntryProblem.RIFF_UNKNOWN:
            return "You can only riff on an entry of this jam."


def prompt_too_long_text(length: int, room: int) -> str:
    return (
        f"With the jam's style added, there is room for {room} characters of your own; your "
        f"prompt has {length}. Please shorten it."
    )


RIFF_OUTSIDE = "Riffs are jam entries: press Riff inside the jam's thread."
UNKNOWN_ENTRY = "I no longer know that jam entry, sorry."
VOTERS_ONLY = "Votes come from the server's members, in the jam's thread."


def bad_seed_text(low: int, high: int) -> str:
    return f"The seed must be a whole number from {low} to {high}, or empty for a new one."


def vote_text(outcome: VoteOutcome) -> str:
    if outcome.problem is not None:
        return _VOTE_PROBLEMS[outcome.problem]
    closes = f" Voting closes {relative_time(outcome.closes_at)}." if outcome.closes_at else ""
    match outcome.change:
        case VoteChange.MOVED:
            return f"🗳️ Your vote moved from #{outcome.previous} to #{outcome.number}.{closes}"
        case VoteChange.UNCHANGED:
            return f"🗳️ Your vote is already on #{outcome.number}.{closes}"
        case _:
            return (
                f"🗳️ Your vote for #{outcome.number} is in. Press another entry to move it.{closes}"
            )


_VOTE_PROBLEMS = {
    VoteProblem.NOT_RUNNING: "This jam is over, so it takes no more votes.",
    VoteProblem.NOT_VOTING: "Voting on this round is closed.",
    VoteProblem.UNKNOWN_ENTRY: "I don't know that entry, sorry.",
    VoteProblem.OTHER_ROUND: "That entry belongs to another round; its voting is closed.",
    VoteProblem.OWN_ENTRY: "You can't vote for your own entry. Pick someone else's!",
    VoteProblem.FAILED_ENTRY: "That entry never made it, so it can't be voted for.",
    VoteProblem.BARRED: (
        "Sorry, you can't vote here at the moment: a moderator has paused your access."
    ),
}


def status_text(snapshot: JamSnapshot, user_id: int) -> str:
    jam = snapshot.jam
    s = jam.settings
    lines = [f"🎶 **Jam: {theme_text(jam)}**", phase_line(jam)]
    current = snapshot.round(jam.round)
    if jam.phase is JamPhase.VOTING and current is not None:
        lines.append(f"Next round: {_next_round(jam, current)}")
    in_round = [e for e in snapshot.entries_in(jam.round) if e.counted]
    total = [e for e in snapshot.entries if e.counted]
    lines.append(
        f"Entries: {len(in_round)} this round, {len(total)} in all, from "
        f"{plural(len(snapshot.participants), 'member')}"
    )
    if jam.running:
        mine = sum(1 for e in in_round if e.user_id == user_id)
        left = max(s.entries_per_round - mine, 0) if jam.phase is JamPhase.SUBMITTING else 0
        lines.append(f"Your entries left this round: {left} of {s.entries_per_round}")
    lines.append(f"Budget left: {snapshot.budget_left} of {plural(s.budget, 'credit')}")
    return fit_lines(lines)


def _next_round(jam: Jam, current: Round) -> str:
    if jam.round >= jam.settings.rounds:
        return "none — this is the last round"
    at = current.vote_ends_at or current.submit_ends_at + jam.settings.vote_seconds
    return f"opens {relative_time(at)}"


def ended_text(jam: Jam) -> str:
    return f"🏁 The jam is over. {plural(jam.returned, 'unspent credit')} went back to the pool."


def cancelled_text(jam: Jam) -> str:
    return (
        f"🛑 The jam is cancelled. {plural(jam.returned, 'unspent credit')} went back to the pool."
    )


def host_role_text(role_id: int | None) -> str:
    if role_id is None:
        return "✅ Only members with **Manage Server** can start jams now."
    return f"✅ Members with <@&{role_id}> can start jams now (as can those with Manage Server)."


def export_text(audio: int, links: int, fmt: str | None) -> str:
    parts = [
        f"📦 The jam's export: {plural(audio, 'piece')}" + (f" as {fmt}" if fmt and audio else "")
    ]
    if links:
        parts.append(
            f"{plural(links, 'piece')} as links only (they did not fit the upload limit; "
            "`jam.json` says which)"
        )
    return " · ".join(parts) + "."


EXPORT_TOO_LARGE = "Sorry, even the jam's list of entries is too large to attach here."


def entry_field(mark: EntryMark) -> str:
    """The jam line of an entry's result embed."""
    text = f"#{mark.number} · round {mark.round}"
    if mark.riff_number is not None:
        by = f" by <@{mark.riff_user_id}>" if mark.riff_user_id else ""
        text += f" · riff on #{mark.riff_number}{by}"
    return text


def fit_lines(lines: Sequence[str]) -> str:
    return _cut("\n".join(lines))


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS - 80 else text[: MESSAGE_CHARS - 81] + "…"


def display_name(name: str) -> str:
    return safe_text(name, NAME_CHARS)
