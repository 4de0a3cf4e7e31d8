"""What is wrong with a request, for the member (Discord) or the admin (terminal) alike."""

from __future__ import annotations

from bot.jobs.request import InvalidRequest, RequestProblem


def invalid_request_text(invalid: InvalidRequest) -> str:
    match invalid.problem:
        case RequestProblem.EMPTY_PROMPT:
            return "Please describe the music you want: the prompt cannot be empty."
        case RequestProblem.PROMPT_TOO_LONG:
            return (
                f"That prompt is {invalid.length} characters long; Lyria 2 takes at most "
                f"{invalid.limit}. Please shorten it."
            )
        case RequestProblem.NEGATIVE_PROMPT_TOO_LONG:
            return (
                f"The negative prompt is {invalid.length} characters long; it can be at most "
                f"{invalid.limit}."
            )
        case RequestProblem.SEED_OUT_OF_RANGE:
            return f"The seed must be a whole number from 0 to {invalid.limit}."
