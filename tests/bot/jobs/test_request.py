"""Request limits, visible content and the typed validation of a /compose request."""

from __future__ import annotations

import pytest

from bot.jobs.request import (
    NEGATIVE_PROMPT_MAX_CHARS,
    PROMPT_MAX_CHARS,
    SEED_MAX,
    NothingVisible,
    OutOfRange,
    RequestField,
    TooLong,
    has_visible_content,
    is_invisible,
    normalize_negative_prompt,
    normalize_prompt,
    validate_request,
)

# Each draws nothing; a prompt made of them was submitted and charged (issue 8, item 7).
INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte-order mark
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\u115f",  # Hangul choseong filler
    "\u1160",  # Hangul jungseong filler
    "\u3164",  # Hangul filler
    "\uffa0",  # half-width Hangul filler
    "\u2800",  # braille pattern blank
    "\u17b4",  # Khmer vowel inherent AQ
    "\ufe0f",  # variation selector-16
    "\U000e0041",  # tag latin capital letter A
    "\u202e",  # right-to-left override
    "\u3000",  # ideographic space
    "\u00a0",  # no-break space
    "\u2028",  # line separator
    "\x85",  # next line
    " \t\n",
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_a_prompt_of_invisible_characters_only_is_refused(text: str) -> None:
    prompt = text * 5
    assert not has_visible_content(prompt)
    assert normalize_prompt(prompt) == ""
    assert validate_request(prompt, None, None) == NothingVisible(RequestField.PROMPT)


def test_the_issue_prompt_of_mixed_invisible_characters_is_refused() -> None:
    prompt = "\u200b\u2800\u3164 \u200b\u2800\u3164\u115f\u1160\uffa0"
    assert validate_request(prompt, None, 7) == NothingVisible(RequestField.PROMPT)


@pytest.mark.parametrize(
    "text",
    ["a", "🎹", "é", "日本", "\u0301a", "·", "ㅤ한", "\u2800\u2801", "\U0001faea"],
)
def test_anything_that_draws_counts_as_visible(text: str) -> None:
    # \U0001faea is a newer emoji than Python 3.11 knows (unassigned there): still visible.
    assert has_visible_content(text)
    assert normalize_prompt(text) != ""
    assert validate_request(text, None, None) is None


def test_is_invisible_is_about_single_characters() -> None:
    assert is_invisible("\u200b") and is_invisible(" ") and is_invisible("\u3164")
    assert not is_invisible("a") and not is_invisible("\u2801") and not is_invisible("-")


def test_normalising_trims_invisible_edges_and_noise_but_keeps_meaning() -> None:
    assert normalize_prompt("\u200b\u3164  calm piano \u2800\n") == "calm piano"
    # zero-width noise inside a word is dropped; blank fillers read as the space they look like
    assert normalize_prompt("cal\u200bm\u00ad pi\u2060ano") == "calm piano"
    assert normalize_prompt("jazz\u3164piano\u2800trio") == "jazz piano trio"
    # what changes what is shown stays: emoji sequences, Persian ZWNJ, presentation selectors
    family = "👩\u200d👩\u200d👧"
    assert normalize_prompt(f"a song for my {family}") == f"a song for my {family}"
    assert normalize_prompt("می\u200cخواهم") == "می\u200cخواهم"
    assert normalize_prompt("❤\ufe0f love") == "❤\ufe0f love"
    # case, inner spacing and line breaks are the member's
    assert normalize_prompt("  Verse ONE\n\nchorus  two ") == "Verse ONE\n\nchorus  two"


def test_a_negative_prompt_with_nothing_visible_is_left_out() -> None:
    assert normalize_negative_prompt(None) is None
    assert normalize_negative_prompt("\u200b \u3164") is None
    assert normalize_negative_prompt(" vocals ") == "vocals"
    assert validate_request("piano", "\u200b", None) is None


def test_lengths_are_those_of_what_is_sent() -> None:
    assert validate_request("x" * PROMPT_MAX_CHARS, None, None) is None
    padded = "\u200b" * 50 + "x" * PROMPT_MAX_CHARS + "\u200b" * 50
    assert validate_request(padded, None, None) is None
    assert validate_request("x" * (PROMPT_MAX_CHARS + 1), None, None) == TooLong(
        RequestField.PROMPT, PROMPT_MAX_CHARS + 1, PROMPT_MAX_CHARS
    )
    negative = "n" * (NEGATIVE_PROMPT_MAX_CHARS + 1)
    assert validate_request("x", negative, None) == TooLong(
        RequestField.NEGATIVE_PROMPT, NEGATIVE_PROMPT_MAX_CHARS + 1, NEGATIVE_PROMPT_MAX_CHARS
    )
    assert validate_request("x", "n" * NEGATIVE_PROMPT_MAX_CHARS, None) is None


def test_one_limit_for_both_text_fields() -> None:
    """The vendor publishes one text limit (600, on the prompt) and none for the negative
    prompt; Discord (300) and the terminal (600) used to disagree."""
    assert PROMPT_MAX_CHARS == NEGATIVE_PROMPT_MAX_CHARS == 600


@pytest.mark.parametrize(
    ("seed", "problem"),
    [
        (0, None),
        (SEED_MAX, None),
        (-1, OutOfRange(RequestField.SEED, -1, 0, SEED_MAX)),
        (SEED_MAX + 1, OutOfRange(RequestField.SEED, SEED_MAX + 1, 0, SEED_MAX)),
    ],
)
def test_seeds_are_checked_with_their_range(seed: int, problem: OutOfRange | None) -> None:
    assert validate_request("piano", None, seed) == problem


def test_the_first_problem_is_reported() -> None:
    assert validate_request("", "n" * 700, -5) == NothingVisible(RequestField.PROMPT)
    assert isinstance(validate_request("p", "n" * 700, -5), TooLong)
