"""Why a reservation was refused, politely, with when the member can try again."""

from __future__ import annotations

from bot.quota.models import Limit, Refusal
from bot.quota.timeutil import format_hhmm
from bot.text.format import duration_text, plural, relative_time


def refusal_text(refusal: Refusal) -> str:
    """The refusal, with a live 'try again' time when there is one."""
    text = _reason(refusal)
    if refusal.retry_at is not None:
        text += f"\nYou can try again {relative_time(refusal.retry_at)}."
    return text


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
            return (
                f"You already have {plural(allowance, 'song')} being composed, which is the most "
                f"at once. Please wait for {which} to finish, then try again."
            )
        case Limit.MEMBER_WINDOW:
            if allowance <= 0:
                return (
                    "Composing is currently switched off for members in this server. Please ask "
                    "the moderators if you think this is a mistake."
                )
            used = plural(allowance, "generation", "generations")
            window = duration_text(refusal.window_seconds or 0)
            return (
                f"You've used your {used} for this {window}. "
                "You can compose again once a slot frees up."
            )
        case Limit.GUILD_POOL:
            return (
                f"This server's shared pool of {plural(allowance, 'generation', 'generations')} "
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
        case Limit.JAM_BUDGET:
            return "Sorry, the jam's budget is used up, so it takes no more entries."
