"""Why a reservation was refused, politely, with when the member can try again."""

from __future__ import annotations

from bot.quota.models import Limit, Refusal
from bot.quota.timeutil import format_hhmm
from bot.text.format import per_duration_text, plural, relative_time


def refusal_text(refusal: Refusal) -> str:
    """The refusal, with a live 'try again' time when there is one."""
    text = _reason(refusal)
    if refusal.retry_at is None:
        return text
    if refusal.limit is Limit.MEMBER_IN_FLIGHT:
        return f"{text} {relative_time(refusal.retry_at)}."
    return f"{text}\nYou can try again {relative_time(refusal.retry_at)}."


LOW_ALLOWANCE = 2  # at or below this many tracks left, the member hears it privately


def low_allowance_note(member_remaining: int | None) -> str | None:
    """A private heads-up when the member's allowance runs low (None when it does not)."""
    if member_remaining is None or member_remaining > LOW_ALLOWANCE:
        return None
    if member_remaining == 0:
        return "🎟️ That was your last track for now; `/quota me` says when you get more."
    return f"🎟️ You have {plural(member_remaining, 'more track')} for now (`/quota me`)."


def _reason(refusal: Refusal) -> str:
    allowance = refusal.allowance or 0
    match refusal.limit:
        case Limit.BARRED:
            return (
                "Sorry, you can't compose in this server at the moment: a moderator has paused "
                "your access. Please ask the moderators if you think this is a mistake."
            )
        case Limit.PAUSED:
            return "Composing is paused in this server by its moderators. Please try again later."
        case Limit.CHANNEL:
            return (
                "Composing isn't enabled in this channel. Please use one of the channels the "
                "moderators have set up for it."
            )
        case Limit.DM_OFF:
            return (
                "Composing in direct messages is turned off. Please use /compose in a server "
                "instead."
            )
        case Limit.BLOCKED_PROMPT:
            return (
                "Sorry, that prompt contains something this server's moderators have blocked. "
                "Please rephrase it and try again; nothing was charged."
            )
        case Limit.MEMBER_IN_FLIGHT:
            which = "it" if allowance == 1 else "one of them"
            when = " It should be ready" if refusal.retry_at is not None else ""
            return (
                f"You already have {plural(allowance, 'track')} being made, the most at once. "
                f"Please wait for {which} to finish, then try again.{when}"
            ).rstrip()
        case Limit.MEMBER_WINDOW:
            if allowance <= 0:
                return (
                    "Composing is currently switched off for members in this server. Please ask "
                    "the moderators if you think this is a mistake."
                )
            window = per_duration_text(refusal.window_seconds or 0)
            return (
                f"You've used your {plural(allowance, 'track')} per {window}. "
                "You can compose again once the oldest of them is out of the window."
            )
        case Limit.GUILD_POOL:
            return (
                f"This server's shared pool of {plural(allowance, 'track')} "
                f"for today is used up. It refills at {format_hhmm(refusal.reset_minute or 0)} "
                "UTC."
            )
        case Limit.BOT_CAP:
            return (
                "The bot has reached its daily limit across all servers. Please try again after "
                "midnight UTC."
            )
        case Limit.DUPLICATE_JOB:
            return "That request was already cancelled. Please start a new one."
