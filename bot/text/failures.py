"""Why a piece ended without music, and the other things that can go wrong, in plain words."""

from __future__ import annotations

from bot.jobs.models import ErrorKind, Job, JobState
from bot.text.format import format_seconds, safe_text

REASON_CHARS = 400

ACCOUNT_PROBLEM = "The bot's API account has a problem. The bot's owner has been told."

# Completed with the link only: why the file itself could not be kept.
_LINK_ONLY = {
    "too_large": "The audio is too large to download; here is its link instead.",
    "not_audio": "The result did not look like audio; here is its link instead.",
    "gone": "The audio link no longer works.",
}
_LINK_ONLY_DEFAULT = "The audio could not be downloaded; here is its link instead."

# What a failure of each kind means for the member (before the provider's own words, if any).
_KIND_TEXT = {
    ErrorKind.NOT_FOUND: "The music service no longer knows this piece.",
    ErrorKind.RATE_LIMITED: "The music service is busy. Please try again in a moment.",
    ErrorKind.SERVER_ERROR: "The music service is having trouble. Please try again later.",
    ErrorKind.UNREACHABLE: "The bot could not reach the music service. Please try again later.",
    ErrorKind.UPSTREAM_TIMEOUT: "The music service did not answer in time.",
    ErrorKind.MALFORMED: "The music service sent an answer the bot could not read.",
}


def download_note(job: Job) -> str:
    """Why a completed piece comes as a link only (its download failed)."""
    return _LINK_ONLY.get(job.error_detail or "", _LINK_ONLY_DEFAULT)


def owner_alert_text(kind: ErrorKind, job_id: str) -> str:
    """What the bot's owners are sent when the API account stops working."""
    what = "refused the API key" if kind is ErrorKind.UNAUTHORIZED else "refused for lack of credit"
    return (
        f"⚠️ The AI/ML API {what} (`{kind.value}`, job `{job_id}`). Members are being told the "
        "bot's API account has a problem. Check AIMLAPI_KEY and the account's balance; "
        "details are in the bot's log. (At most one of these per hour.)"
    )


def failure_text(job: Job) -> str:
    """Why a job ended without music, in words the requester can act on."""
    reason = safe_text(job.error_detail, REASON_CHARS) if job.error_detail else None
    kind = job.error_kind
    if job.state is JobState.CANCELLED:
        who = f" by <@{job.cancelled_by}>" if (job.cancelled_by or "").isdigit() else ""
        return f"🚫 This piece was cancelled{who}. The credit was returned."
    if kind is not None and kind.account_problem:
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
    if kind is ErrorKind.PROVIDER_FAILED:
        because = f": {reason}" if reason else "."
        return f"❌ Lyria 2 could not generate this piece{because}"
    if kind is ErrorKind.BAD_REQUEST:
        because = f": {reason}" if reason else "."
        return f"❌ The music service rejected this prompt{because}"
    if kind is ErrorKind.DOWNLOAD_FAILED:
        return f"❌ {download_note(job)}"
    known = _KIND_TEXT.get(kind) if kind is not None else None
    text = "❌ " + (known or "Something went wrong while making this piece.")
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


def bot_missing_permissions_text(permissions: list[str]) -> str:
    names = ", ".join(p.replace("_", " ") for p in permissions)
    return f"I need the {names} permission in this channel to do that."


def cooldown_text(retry_after: float) -> str:
    return f"Slow down a little: try again in {format_seconds(max(1.0, retry_after))}."
