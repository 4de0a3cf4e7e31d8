"""The /quota replies: a member's own allowance, and what moderators read and change."""

from __future__ import annotations

from collections.abc import Sequence

from bot.quota.models import (
    BlockedTerm,
    GuildQuotaSettings,
    InputProblem,
    PoolUsage,
    QuotaInputError,
    Remaining,
    RoleOverride,
    TermKind,
)
from bot.quota.timeutil import format_hhmm
from bot.text.format import per_duration_text, plural, relative_time, safe_text

NOT_A_MODERATOR = (
    "Sorry, only members with the **Manage Server** permission can change the quota settings. "
    "You can see your own allowance with `/quota me`."
)
NOT_READY = "The quota service is not running right now; please try again in a moment."
TERM_CHARS = 120
MESSAGE_CHARS = 1900
MORE = "…and more."


def fit(lines: Sequence[str], limit: int = MESSAGE_CHARS) -> str:
    """Join lines, dropping whole lines from the end (with a note) to stay under `limit`."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    used = len(MORE)
    for line in lines:
        if used + len(line) + 1 > limit:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join([*kept, MORE])


def role_limits_text(override: RoleOverride) -> str:
    """The role's own limits, e.g. "3 per window, 2 at once" (empty when exempt)."""
    bits = []
    if override.member_limit is not None:
        bits.append(f"{override.member_limit} per window")
    if override.max_in_flight is not None:
        bits.append(f"{override.max_in_flight} at once")
    return ", ".join(bits)


def input_problem_text(error: QuotaInputError) -> str:
    limit = f"{error.limit:,}" if error.limit is not None else ""
    match error.problem:
        case InputProblem.POOL_SIZE:
            return f"The pool size must be between 0 and {limit}."
        case InputProblem.RESET_TIME:
            return "Please give the reset time as HH:MM in UTC, like 06:30."
        case InputProblem.NO_POOL_CHANGE:
            return "Please give a pool size, a reset time, or both."
        case InputProblem.PER_WINDOW:
            return f"The limit per window must be between 0 and {limit}."
        case InputProblem.WINDOW_LENGTH:
            return "The window must be between 1 minute and 30 days."
        case InputProblem.IN_FLIGHT:
            return f"Tracks at once must be between 1 and {limit}."
        case InputProblem.NO_LIMIT_CHANGE:
            return "Please give at least one of the member limits to change."
        case InputProblem.NO_ROLE_LIMIT:
            return "Please give a limit per window, tracks at once, or make the role exempt."
        case InputProblem.EXTRA_CREDIT:
            return f"Extra credit must be between 1 and {limit}."
        case InputProblem.TOO_MANY_CHANNELS:
            return f"Please choose at most {limit} channels."
        case InputProblem.NO_CHANNEL:
            return "Please name at least one channel to restrict composing to."
        case InputProblem.BLOCK_LIST_FULL:
            return f"The block list is full ({limit} entries); remove some first."
        case InputProblem.WORD_EMPTY:
            return "Please give a word or phrase to block."
        case InputProblem.WORD_TOO_LONG:
            return f"That is too long to block; keep it under {limit} characters."
        case InputProblem.WORD_NO_LETTERS:
            return "Please include at least one letter or digit in the blocked word."
        case InputProblem.REGEX_EMPTY:
            return "Please give a regular expression to block."
        case InputProblem.REGEX_TOO_LONG:
            return f"That regular expression is too long; keep it under {limit} characters."
        case InputProblem.REGEX_INVALID:
            detail = f": {safe_text(error.detail, 120)}" if error.detail else ""
            return f"That regular expression is not valid{detail}."
        case InputProblem.REGEX_LOOKAROUND:
            return _REGEX + f"uses a look-ahead or look-behind like (?=…) or (?<!…). {_QUICK_ONLY}"
        case InputProblem.REGEX_BACK_REFERENCE:
            return _REGEX + f"refers back to a group, like \\1 or (?P=name). {_QUICK_ONLY}"
        case InputProblem.REGEX_ATOMIC:
            return _REGEX + (
                "uses an atomic group or a possessive repeat, like (?>…) or a++. The block list "
                "never backtracks, so they are not needed: please remove them."
            )
        case InputProblem.REGEX_CONDITIONAL:
            return _REGEX + f"uses a conditional group like (?(1)…|…). {_QUICK_ONLY}"
        case InputProblem.REGEX_UNKNOWN_FLAG:
            return _REGEX + (
                "uses a flag or group the block list does not know, like (?x) or (?#…). "
                "It knows (?i), (?m), (?s), (?U), (?:…) and (?P<name>…)."
            )
        case InputProblem.REGEX_END_ANCHOR:
            return _REGEX + 'uses \\Z; please write \\z for "the end of the prompt".'
        case InputProblem.REGEX_UNKNOWN_ESCAPE:
            return _REGEX + (
                "uses an escape the block list does not know (like \\N{…} or \\u…); "
                "please type the character itself."
            )
        case InputProblem.REGEX_REPEAT_SIZE:
            return _REGEX + (
                "repeats something more than 1000 times, or nests counted repeats too deeply. "
                "Please use smaller counts, or + and *."
            )
        case InputProblem.REGEX_TOO_COMPLEX:
            steps = f" ({error.value:,} steps; the limit is {limit})" if error.value else ""
            return _REGEX + (
                f"is too complex to check quickly{steps}. Please simplify it: fewer or smaller "
                "counted repeats like {1,500}, narrower classes than \\pL."
            )
        case InputProblem.REGEX_LIST_TOO_COMPLEX:
            return (
                "The block list's regular expressions would be too much work together (at most "
                f"{limit} steps; they would need {error.value or 0:,}). Please simplify or "
                "remove some first."
            )
        case InputProblem.REGEX_BLOCKS_ORDINARY:
            example = safe_text(error.detail or "calm piano", 80)
            return _REGEX + f'would block ordinary prompts such as "{example}"; please narrow it.'
        case InputProblem.REGEX_TOO_SLOW:
            return _REGEX + (
                "takes too long to check against a long prompt. Please simplify it (fewer or "
                "smaller counted repeats, narrower character classes)."
            )
        case InputProblem.REGEX_MATCHES_ALL:
            return "That regular expression matches every prompt; please narrow it."


_REGEX = "That regular expression "
_QUICK_ONLY = (
    "The block list only takes patterns it can check quickly whatever the prompt (RE2 "
    "syntax), and those can't be: please write it without one."
)


def me_text(remaining: Remaining) -> str:
    lines = []
    if remaining.member_remaining is None:
        lines.append("🎟️ Your roles exempt you from the per-member limits.")
    else:
        lines.append(
            f"🎟️ You can compose {plural(remaining.member_remaining, 'more track')} right now."
        )
        if remaining.member_slot_at is not None:
            lines.append(f"⏳ Your next one frees up {relative_time(remaining.member_slot_at)}.")
    if remaining.extra_credit:
        lines.append(
            f"🎁 {plural(remaining.extra_credit, 'extra track')} from the moderators "
            "(included above)."
        )
    if remaining.in_flight:
        lines.append(f"🎧 {plural(remaining.in_flight, 'track')} of yours still being made.")
    if remaining.pool_remaining is not None:
        lines.append(
            f"🎶 The server's shared pool has {plural(remaining.pool_remaining, 'track')} "
            "left today."
        )
    if remaining.next_reset_at is not None:
        lines.append(f"🔄 The pool refills {relative_time(remaining.next_reset_at)}.")
    if remaining.paused:
        lines.append("⏸️ Composing is paused in this server at the moment.")
    if remaining.barred:
        lines.append("🚫 A moderator has paused your access to composing here.")
    return "\n".join(lines)


def show_text(
    settings: GuildQuotaSettings,
    usage: PoolUsage,
    overrides: Sequence[RoleOverride],
    barred: Sequence[int],
    terms: int,
) -> str:
    def mark(name: str) -> str:
        return "" if name in settings.overridden else " (default)"

    lines = [
        f"**Quota for this server**{' — ⏸️ paused' if settings.paused else ''}",
        f"Pool: {usage.used} of {usage.size} used today{mark('daily_pool')}; resets at "
        f"{format_hhmm(settings.reset_minute)} UTC{mark('reset_minute')} "
        f"({relative_time(usage.next_reset_at)})",
        f"Each member: {plural(settings.member_limit, 'track')} per "
        f"{per_duration_text(settings.window_seconds)}{mark('member_limit')}, "
        f"{settings.max_in_flight} at once{mark('max_in_flight')}",
    ]
    if settings.allowed_channel_ids:
        channels = ", ".join(f"<#{c}>" for c in sorted(settings.allowed_channel_ids))
        lines.append(f"Channels: only {channels}")
    else:
        lines.append("Channels: all")
    lines.append(
        f"Mod log: <#{settings.modlog_channel_id}>"
        if settings.modlog_channel_id
        else "Mod log: off"
    )
    for override in overrides:
        what = "exempt from member limits" if override.exempt else role_limits_text(override)
        lines.append(f"Role <@&{override.role_id}>: {what}")
    if barred:
        lines.append("Barred: " + ", ".join(f"<@{u}>" for u in barred))
    lines.append(f"Block list: {plural(terms, 'entry', 'entries')}")
    return fit(lines)


def leaderboard_text(board: Sequence[tuple[int, int]]) -> str:
    if not board:
        return "Nobody has composed anything in this pool period yet."
    lines = ["**Most tracks since the last pool reset**"]
    lines += [f"{i}. <@{user}> — {plural(n, 'track')}" for i, (user, n) in enumerate(board, 1)]
    return fit(lines)


def pool_set_text(settings: GuildQuotaSettings, carried: int = 0) -> str:
    text = (
        f"✅ The pool is now {plural(settings.daily_pool, 'track')} a day, refilling at "
        f"{format_hhmm(settings.reset_minute)} UTC."
    )
    if carried:
        text += (
            f" The {plural(carried, 'track')} already made today still count: the new reset "
            "time does not hand out a fresh pool."
        )
    return text


def member_limits_set_text(settings: GuildQuotaSettings) -> str:
    return (
        f"✅ Each member may now compose {plural(settings.member_limit, 'track')} per "
        f"{per_duration_text(settings.window_seconds)}, {settings.max_in_flight} at once."
    )


def role_cleared_text(role_id: int, removed: bool) -> str:
    if removed:
        return f"✅ <@&{role_id}> now follows the server's member limits."
    return f"<@&{role_id}> had no override."


def role_set_text(override: RoleOverride) -> str:
    if override.exempt:
        return (
            f"✅ Members with <@&{override.role_id}> are exempt from the per-member limits "
            "(they still use the server pool)."
        )
    bits = []
    if override.member_limit is not None:
        bits.append(f"{plural(override.member_limit, 'track')} per window")
    if override.max_in_flight is not None:
        bits.append(f"{override.max_in_flight} at once")
    return f"✅ Members with <@&{override.role_id}> get {', '.join(bits)}."


def grant_text(user_id: int, extra: int, balance: int) -> str:
    return f"✅ <@{user_id}> got {plural(extra, 'extra track')} (extra balance now {balance})."


def reset_text(user_id: int) -> str:
    return f"✅ <@{user_id}>'s usage window is cleared (the server pool is unchanged)."


def paused_text(paused: bool) -> str:
    return "⏸️ Composing is paused in this server." if paused else "▶️ Composing is back on."


def barred_text(user_id: int, barred: bool, changed: bool) -> str:
    if barred:
        if changed:
            return f"🚫 <@{user_id}> can no longer compose here."
        return f"<@{user_id}> was already barred."
    return f"✅ <@{user_id}> can compose again." if changed else f"<@{user_id}> was not barred."


def channels_text(channel_ids: Sequence[int]) -> str:
    if channel_ids:
        listed = ", ".join(f"<#{c}>" for c in channel_ids)
        return f"✅ Members can now compose only in {listed}."
    return "✅ Members can now compose in every channel."


def modlog_set_text(channel_id: int | None) -> str:
    if channel_id is None:
        return "✅ The mod log is off."
    return f"✅ Quota events will be posted in <#{channel_id}>."


def blocked_text(term: BlockedTerm) -> str:
    kind = "pattern" if term.kind is TermKind.REGEX else "word"
    return (
        f"✅ Prompts matching the {kind} “{safe_text(term.pattern, TERM_CHARS)}” are now refused."
    )


def unblocked_text(text: str, removed: bool) -> str:
    shown = safe_text(text, TERM_CHARS)
    if removed:
        return f"✅ Removed “{shown}” from the block list."
    return f"“{shown}” was not on the block list."


def block_list_text(terms: Sequence[BlockedTerm]) -> str:
    if not terms:
        return "The block list is empty."
    lines = [f"**Block list** ({plural(len(terms), 'entry', 'entries')})"]
    for term in terms:
        kind = "regex" if term.kind is TermKind.REGEX else "word"
        lines.append(f"• {kind}: “{safe_text(term.pattern, TERM_CHARS)}”")
    return fit(lines)
