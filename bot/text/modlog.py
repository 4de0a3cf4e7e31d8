"""The mod-log line of each quota event.

People and channels are shown as mentions (`<@id>`, `<#id>`): Discord renders their names, and
the mod log posts with no allowed mentions, so nobody is pinged. What members typed (prompts,
blocked words) is escaped and cut; a result's link is a plain link without preview.
"""

from __future__ import annotations

import re

from bot.quota.events import (
    BarChanged,
    BlockListChanged,
    ChannelsChanged,
    ExtraGranted,
    GenerationFinished,
    MemberLimitsChanged,
    MemberWindowReset,
    ModEvent,
    ModlogChanged,
    PauseChanged,
    PoolChanged,
    PromptBlocked,
    RoleOverrideCleared,
    RoleOverrideSet,
)
from bot.quota.models import BlockedTerm, RoleOverride, TermKind
from bot.quota.timeutil import format_hhmm
from bot.text.format import duration_text, fit_message, plural, safe_text
from bot.text.quota import role_limits_text

PROMPT_CHARS = 300
TERM_CHARS = 120
_LINK = re.compile(r"https?://[^\s<>]{1,300}")


def modlog_line(event: ModEvent) -> str:
    """One mod-log message (under Discord's 2000 characters)."""
    return fit_message(_line(event))


def _line(event: ModEvent) -> str:
    match event:
        case PoolChanged(actor_id=by, size=size, reset_minute=minute, carried=carried):
            parts = []
            if size is not None:
                parts.append(f"the daily pool to {plural(size, 'track')}")
            if minute is not None:
                parts.append(f"the reset time to {format_hhmm(minute)} UTC")
            carry = f" ({plural(carried, 'track')} used today carried over)" if carried else ""
            return f"⚙️ <@{by}> set {' and '.join(parts)}{carry}."
        case MemberLimitsChanged(actor_id=by):
            return f"⚙️ <@{by}> set the member limits: {_member_limits(event)}."
        case RoleOverrideSet(actor_id=by, override=override):
            return f"⚙️ <@{by}> made <@&{override.role_id}> {_override(override)}."
        case RoleOverrideCleared(actor_id=by, role_id=role_id):
            return f"⚙️ <@{by}> cleared the override for <@&{role_id}>."
        case ExtraGranted(actor_id=by, user_id=user, amount=amount, balance=balance):
            return (
                f"🎁 <@{by}> granted <@{user}> {plural(amount, 'extra track')} "
                f"(extra balance {balance})."
            )
        case MemberWindowReset(actor_id=by, user_id=user):
            return f"🔄 <@{by}> reset the usage window of <@{user}>."
        case PauseChanged(actor_id=by, paused=paused):
            return f"⚙️ <@{by}> {'paused' if paused else 'resumed'} composing in this server."
        case BarChanged(actor_id=by, user_id=user, barred=barred):
            icon, verb = ("🚫", "barred") if barred else ("✅", "unbarred")
            return f"{icon} <@{by}> {verb} <@{user}>."
        case ChannelsChanged(actor_id=by, channel_ids=channels):
            if not channels:
                return f"⚙️ <@{by}> allowed composing in every channel."
            listed = ", ".join(f"<#{c}>" for c in channels)
            return f"⚙️ <@{by}> restricted composing to {listed}."
        case ModlogChanged(actor_id=by, channel_id=channel):
            if channel is None:
                return f"⚙️ <@{by}> turned the mod log off."
            return f"⚙️ <@{by}> set the mod log channel to <#{channel}>."
        case BlockListChanged(actor_id=by, term=term, added=added):
            verb = "blocked" if added else "unblocked"
            return f"📝 <@{by}> {verb} {_term(term)}."
        case PromptBlocked(user_id=user, channel_id=channel, term=term, prompt=prompt):
            where = f" in <#{channel}>" if channel else ""
            return (
                f"🛑 Blocked a prompt from <@{user}>{where} ({_term(term)}); nothing was "
                f"charged.\nPrompt: {safe_text(prompt, PROMPT_CHARS)}"
            )
        case GenerationFinished(note=note):
            text = (
                f"🎵 <@{note.user_id}>'s track: {note.outcome.replace('_', ' ')}.\n"
                f"Prompt: {safe_text(note.prompt, PROMPT_CHARS)}"
            )
            if note.link is not None and _LINK.fullmatch(note.link):
                text += f"\n<{note.link}>"  # angle brackets: a plain link, no preview
            return text


def _member_limits(event: MemberLimitsChanged) -> str:
    parts = []
    if event.per_window is not None:
        parts.append(f"{plural(event.per_window, 'track')} per window")
    if event.window_seconds is not None:
        parts.append(f"a window of {duration_text(event.window_seconds)}")
    if event.max_in_flight is not None:
        parts.append(f"{event.max_in_flight} at once")
    return ", ".join(parts)


def _override(override: RoleOverride) -> str:
    if override.exempt:
        return "exempt from member limits (still counted in the server pool)"
    return "limited to " + role_limits_text(override)


def _term(term: BlockedTerm) -> str:
    kind = "the pattern" if term.kind is TermKind.REGEX else "the word"
    return f"{kind} “{safe_text(term.pattern, TERM_CHARS)}”"
