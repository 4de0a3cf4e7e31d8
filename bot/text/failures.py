"""Why a track ended without music — said once, with the prompt, whether a track of the
member's allowance was used, and what to do next — and the other things that go wrong."""

from __future__ import annotations

from bot.jobs.models import ErrorKind, Job, JobState
from bot.text.format import format_seconds, safe_text

REASON_CHARS = 400
PROMPT_CHARS = 300

# Completed with the link only: why the file itself could not be kept.
_LINK_ONLY = {
    "too_large": "The audio is too large to download; here is its link instead.",
    "not_audio": "The result did not look like audio; here is its link instead.",
    "gone": "The audio link no longer works.",
}
_LINK_ONLY_DEFAULT = "The audio could not be downloaded; here is its link instead."

# What went wrong, for kinds that need no more than a sentence.
_KIND_TEXT = {
    ErrorKind.NOT_FOUND: "The music service lost track of this request.",
    ErrorKind.RATE_LIMITED: "The music service is busy right now.",
    ErrorKind.SERVER_ERROR: "The music service is having trouble right now.",
    ErrorKind.UNREACHABLE: "I could not reach the music service.",
    ErrorKind.UPSTREAM_TIMEOUT: "The music service did not answer in time.",
    ErrorKind.MALFORMED: "The music service sent an answer I could not read.",
    ErrorKind.REFUSED_URL: "The music service pointed to a file somewhere I do not fetch from.",
}

USED = "It used one track of your allowance (the music service charged for it)."
NOT_USED = "Nothing was used from your allowance."


def download_note(job: Job) -> str:
    """Why a completed track comes as a link only (its download failed)."""
    return _LINK_ONLY.get(job.error_detail or "", _LINK_ONLY_DEFAULT)


def owner_alert_text(kind: ErrorKind, job_id: str) -> str:
    """What the bot's owners are sent when the API account stops working."""
    what = "refused the API key" if kind is ErrorKind.UNAUTHORIZED else "refused for lack of credit"
    return (
        f"⚠️ The AI/ML API {what} (`{kind.value}`, job `{job_id}`). Members are being told the "
        "bot's API account has a problem. Check AIMLAPI_KEY and the account's balance; "
        "details are in the bot's log. (At most one of these per hour.)"
    )


def failure_text(job: Job, *, owners_told: bool = True) -> str:
    """Why a job ended without music: one line on what happened, the prompt, whether it used a
    track of the member's allowance, what to do. `owners_told`: whether the bot's owners were
    (or recently had been) told about an account problem."""
    headline, advice = _what_happened(job, owners_told)
    used = USED if job.submitted_at is not None and job.state is not JobState.CANCELLED else None
    if job.state is JobState.SUBMIT_UNKNOWN:
        used = "It may have used one track of your allowance."
    lines = [headline, f"> {safe_text(job.prompt, PROMPT_CHARS)}"]
    lines.append(" ".join(part for part in (used or NOT_USED, advice) if part))
    return "\n".join(lines)


def _what_happened(job: Job, owners_told: bool) -> tuple[str, str | None]:
    reason = safe_text(job.error_detail, REASON_CHARS) if job.error_detail else None
    kind = job.error_kind
    if job.state is JobState.CANCELLED:
        who = f" by <@{job.cancelled_by}>" if (job.cancelled_by or "").isdigit() else ""
        return f"🚫 **Cancelled**{who}.", None
    if kind is not None and kind.account_problem:
        told = (
            "The bot's owner has been told." if owners_told else "Please let the bot's owner know."
        )
        return f"⚠️ **The bot's API account has a problem.** {told}", "Please try again later."
    if job.state is JobState.TIMED_OUT:
        waited = format_seconds(max(0.0, job.updated_at - job.created_at))
        return (
            f"⌛ **Lyria 2 did not finish this track in time** (I gave up after {waited}).",
            "Please try again later.",
        )
    if job.state is JobState.SUBMIT_UNKNOWN:
        return (
            "❓ **I can't tell whether the music service took this request**, so I did not send "
            "it again (that could charge twice).",
            "If no track arrives, please try again later.",
        )
    if kind is ErrorKind.PROVIDER_FAILED:
        because = f": “{reason}”" if reason else "."
        return (
            f"❌ **Lyria 2 could not make this track**{because}",
            "Rephrasing the prompt usually helps.",
        )
    if kind is ErrorKind.BAD_REQUEST:
        because = f": “{reason}”" if reason else "."
        return (
            f"❌ **The music service refused this prompt**{because}",
            "Please rephrase it and try again.",
        )
    if kind is ErrorKind.DOWNLOAD_FAILED:
        return f"❌ {download_note(job)}", None
    known = _KIND_TEXT.get(kind) if kind is not None else None
    return f"❌ {known or 'Something went wrong while making this track.'}", (
        "Please try again in a little while."
    )


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
