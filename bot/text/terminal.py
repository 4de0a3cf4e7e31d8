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
