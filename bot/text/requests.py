"""What is wrong with a request, for the member (Discord) and the admin (terminal) alike."""

from __future__ import annotations

from bot.jobs.request import NothingVisible, OutOfRange, RequestField, RequestProblem, TooLong

_FIELD = {
    RequestField.PROMPT: "prompt",
    RequestField.NEGATIVE_PROMPT: "negative prompt",
    RequestField.SEED: "seed",
}


def invalid_request_text(problem: RequestProblem) -> str:
    match problem:
        case NothingVisible():
            return "Please describe the music you want: the prompt cannot be empty."
        case TooLong(field=RequestField.PROMPT, length=length, limit=limit):
            return (
                f"That prompt is {length} characters long; Lyria 2 takes at most {limit}. "
                "Please shorten it."
            )
        case TooLong(field=field, length=length, limit=limit):
            return f"The {_FIELD[field]} is {length} characters long; it can be at most {limit}."
        case OutOfRange(field=field, minimum=low, maximum=high):
            return f"The {_FIELD[field]} must be a whole number from {low} to {high}."


UNKNOWN_TRACK = "I no longer know that track, sorry."
