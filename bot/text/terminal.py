"""What `python -m bot compose` says at the terminal, where the reader is the bot's owner."""

from __future__ import annotations

from bot.jobs.models import ErrorKind

KEYS_PAGE = "https://aimlapi.com/app/keys"


def account_problem_text(kind: ErrorKind, detail: str | None) -> str:
    """The API refused AIMLAPI_KEY (401) or the account (402/403): what it said and the fix.

    `detail` is the provider's answer as the job row keeps it ("HTTP 401: ..."), masked."""
    said = f" ({detail})" if detail else ""
    if kind is ErrorKind.UNAUTHORIZED:
        answer = said or " (HTTP 401)"
        return (
            f"The AI/ML API refused AIMLAPI_KEY{answer}: the key is wrong, revoked or "
            f"missing. Check it at {KEYS_PAGE}, put the right one in .env as AIMLAPI_KEY=... "
            "(or the environment) and run again."
        )
    answer = said or " (HTTP 403)"
    return (
        f"The AI/ML API refused the request made with AIMLAPI_KEY{answer}: the account has no "
        f"credit left or this key may not use the model. Check the account's balance and the "
        f"key at {KEYS_PAGE}, then run again."
    )


FORMAT_NAMES = {"wav": "WAV", "flac": "FLAC", "opus": "Opus"}


def format_label(fmt: str | None, *, tagged: bool) -> str:
    """'FLAC, lossless, tagged' or 'as the music service sent it, untouched'."""
    if fmt is None or not tagged:
        return "as the music service sent it, untouched"
    quality = "lossy" if fmt == "opus" else "lossless"
    return f"{FORMAT_NAMES.get(fmt, fmt)}, {quality}, with provenance tags"


def original_saved_text(fmt: str, why: str) -> str:
    """One line when the file asked for could not be made: what was saved instead, and why."""
    return (
        f"Could not make the {FORMAT_NAMES.get(fmt, fmt)} file ({why}); saved the original "
        "as the music service sent it, untouched and without tags."
    )


def waveform_failed_text(path: object, why: str) -> str:
    return f"Could not draw the waveform {path} ({why}); the audio is saved all the same."
