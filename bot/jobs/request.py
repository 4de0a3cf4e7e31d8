"""What a generation request may contain: the one definition of its limits and its check.

Discord's option ranges, the Discord flow and the terminal all use these numbers. The vendor
documents "Maximum 600 characters" for the prompt and `minimum: 0` for the seed; the negative
prompt has no documented maximum, so it gets the bot's own (it is shown in embeds), and seeds
are kept to 32 bits, the range Lyria's seeds take.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PROMPT_MAX_CHARS = 600
NEGATIVE_PROMPT_MAX_CHARS = 300
SEED_MAX = 2**32 - 1


class RequestProblem(enum.StrEnum):
    EMPTY_PROMPT = "empty_prompt"
    PROMPT_TOO_LONG = "prompt_too_long"
    NEGATIVE_PROMPT_TOO_LONG = "negative_prompt_too_long"
    SEED_OUT_OF_RANGE = "seed_out_of_range"


@dataclass(frozen=True)
class InvalidRequest:
    """What is wrong, with the numbers a message needs (`length` of the text, `limit`)."""

    problem: RequestProblem
    limit: int = 0
    length: int = 0


def validate_request(
    prompt: str, negative_prompt: str | None, seed: int | None
) -> InvalidRequest | None:
    """What is wrong with a request, or None when it may be sent."""
    if not prompt.strip():
        return InvalidRequest(RequestProblem.EMPTY_PROMPT)
    if len(prompt) > PROMPT_MAX_CHARS:
        return InvalidRequest(RequestProblem.PROMPT_TOO_LONG, PROMPT_MAX_CHARS, len(prompt))
    if negative_prompt is not None and len(negative_prompt) > NEGATIVE_PROMPT_MAX_CHARS:
        return InvalidRequest(
            RequestProblem.NEGATIVE_PROMPT_TOO_LONG,
            NEGATIVE_PROMPT_MAX_CHARS,
            len(negative_prompt),
        )
    if seed is not None and not 0 <= seed <= SEED_MAX:
        return InvalidRequest(RequestProblem.SEED_OUT_OF_RANGE, SEED_MAX)
    return None
