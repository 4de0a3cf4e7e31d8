"""Polite texts for everything that can go wrong, from validation to provider failures."""

from __future__ import annotations

from bot.jobs.models import Job, JobState
from bot.presentation.text import format_seconds, relative_time, safe_text

PROMPT_MAX_CHARS = 600
NEGATIVE_PROMPT_MAX_CHARS = 300
SEED_MAX = 2**32 - 1
REASON_CHARS = 400

ACCOUNT_PROBLEM = "The bot's API account has a problem. The bot's owner has been told."
_ACCOUNT_KINDS = frozenset({"Unauthorized", "OutOfCredits"})


def is_account_problem(error_kind: str | None) -> bool:
    """The failure is the operator's to fix (bad key, no credits), not the member's."""
    return error_kind in _ACCOUNT_KINDS


def owner_alert_text(error_kind: str, job_id: str) -> str:
    """What the bot's owners are sent when the API account stops working."""
    what = "refused the API key" if error_kind == "Unauthorized" else "refused for lack of credit"
    return (
        f"⚠️ The AI/ML API {what} (`{error_kind}`, job `{job_id}`). Members are being told the "
        "bot's API account has a problem. Check AIMLAPI_KEY and the account's balance; "
        "details are in the bot's log. (At most one of these per hour.)"
    )


def validate_request(prompt: str, negative_prompt: str | None, seed: int | None) -> str | None:
    """A message explaining what is wrong with the options, or None when they are fine."""
    if not prompt.strip():
        return "Please describe the music you want: the prompt cannot be empty."
    if len(prompt) > PROMPT_MAX_CHARS:
        return (
            f"That prompt is {len(prompt)} characters long; Lyria 2 takes at most "
            f"{PROMPT_MAX_CHARS}. Please shorten it."
        )
    if negative_prompt is not None and len(negative_prompt) > NEGATIVE_PROMPT_MAX_CHARS:
        return f"The negative prompt can be at most {NEGATIVE_PROMPT_MAX_CHARS} characters."
    if seed is not None and not 0 <= seed <= SEED_MAX:
        return f"The seed must be a whole number from 0 to {SEED_MAX}."
    return None


def refusal_text(message: str, retry_at: float | None) -> str:
    """The quota service's polite refusal, with a live 'try again' time when there is one."""
    text = message.strip()
    if retry_at is not None:
        text += f"\nYou can try again {relative_time(retry_at)}."
    return text


def failure_text(job: Job) -> str:
    """Why a job ended without music, in words the requester can act on."""
    reason = safe_text(job.error_message, REASON_CHARS) if job.error_message else None
    if job.state is JobState.CANCELLED:
        who = f" by <@{job.cancelled_by}>" if (job.cancelled_by or "").isdigit() else ""
        return f"🚫 This piece was cancelled{who}. The credit was returned."
    if job.error_kind in _ACCOUNT_KINDS:
        return f"⚠️ {ACCOUNT_PROBLEM} Your credit was returned."
    if job.state is JobState.TIMED_OUT:
        waited = format_seconds(max(0.0, job.updated_at - job.created_at))
        return (
            f"⌛ The music service did not finish this piece in time (gave up after {waited}). "
            "Please try again later."
        )
    if job.state is JobState.SUBMIT_UNKNOWN:
        return (
            "❓ The music service may or may not have accepted this piece, so I did not retry "
            "(that could charge twice). If nothing arrives, please try again later."
        )
    if job.error_kind == "GenerationFailed":
        because = f": {reason}" if reason else "."
        return f"❌ Lyria 2 could not generate this piece{because}"
    if job.error_kind == "BadRequest":
        because = f": {reason}" if reason else "."
        return f"❌ The music service rejected this prompt{because}"
    if job.error_kind == "DownloadError":
        return f"❌ {reason or 'The finished audio could not be downloaded.'}"
    text = f"❌ {reason}" if reason else "❌ Something went wrong while making this piece."
    if job.submitted_at is None:
        text += " Your credit was returned."
    return text


def unexpected_error_text(reference: str) -> str:
    return (
        "Sorry, something went wrong on my side. "
        f"If it keeps happening, tell the bot's owner this reference: `{reference}`."
    )


def missing_permissions_text(permissions: list[str]) -> str:
    names = ", ".join(p.replace("_", " ").replace("guild", "server") for p in permissions)
    return f"You need the {names} permission for that."


def cooldown_text(retry_after: float) -> str:
    return f"Slow down a little: try again in {format_seconds(max(1.0, retry_after))}."
