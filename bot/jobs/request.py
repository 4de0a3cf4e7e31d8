"""What a member may ask for: the limits of a request, what counts as visible text, and one
check that says what is wrong in typed form (the wording belongs to whoever shows it).

Limits. The vendor's OpenAPI (shared/api/Lyria-2.json) gives one number for the text fields:
"Maximum 600 characters" in the prompt's description (copied there from another model's page,
but the only limit published). It gives none for `negative_prompt` and only `minimum: 0` for
`seed`. So: 600 characters for the prompt; the same 600 for the negative prompt (one limit for
both text fields instead of the 300 Discord and 600 the terminal used to apply); seeds are
whole numbers from 0 to 2**32 - 1, the range the bot has always drawn and accepted.

Visible text. A prompt of only zero-width spaces, Hangul fillers or blank braille looks empty
and must be neither sent nor charged. `is_invisible` names the characters that draw nothing:
controls and format characters (Cc, Cf), separators (Zs, Zl, Zp), lone surrogates, Unicode's
default-ignorable letters and marks (Hangul fillers, Khmer inherent vowels, the combining
grapheme joiner, variation selectors) and the blank braille pattern.

Normalising. `normalize_prompt` trims whitespace and invisible characters from both ends,
drops the zero-width ones that carry no meaning inside the text (zero-width space, word joiner,
byte-order mark, soft hyphen, invisible operators) and turns blank-looking fillers into plain
spaces, as they are seen. Joiners that change what is shown (ZWJ in emoji sequences, ZWNJ in
Persian or Indic words), variation selectors, tags and bidi marks are kept: the member sees
them at work. Nothing else is changed (case, line breaks, repeated spaces stay).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

PROMPT_MAX_CHARS = 600
NEGATIVE_PROMPT_MAX_CHARS = 600
SEED_MIN = 0
SEED_MAX = 2**32 - 1

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})

# Unicode's Other_Default_Ignorable_Code_Point (PropList.txt) that are letters or marks rather
# than format characters, the variation selectors, and blank braille (U+2800), which draws
# nothing although it is a symbol.
_INVISIBLE_EXTRA = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, 0x2800}
    | set(range(0x180B, 0x1810))
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
)

# Inside a prompt: drawn as nothing and meaning nothing, so removed.
_ZERO_WIDTH_NOISE = frozenset({0x00AD, 0x200B, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF})
# Inside a prompt: drawn as a blank the width of a letter, so read as a space.
_BLANK_FILLERS = frozenset({0x3164, 0xFFA0, 0x2800})
_INSIDE = {cp: "" for cp in _ZERO_WIDTH_NOISE} | {cp: " " for cp in _BLANK_FILLERS}


def is_invisible(char: str) -> bool:
    """True for a character that draws nothing by itself (see the module docstring)."""
    return ord(char) in _INVISIBLE_EXTRA or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def looks_like_space(char: str) -> bool:
    """True for whitespace and for the fillers that are drawn as a blank (ㅤ, blank braille)."""
    return char.isspace() or ord(char) in _BLANK_FILLERS


def has_visible_content(text: str) -> bool:
    """True when at least one character of `text` draws something."""
    return not all(is_invisible(char) for char in text)


def normalize_prompt(text: str) -> str:
    """The prompt as we send, store and check it: the member's text minus invisible noise.

    Empty exactly when `text` has no visible content."""
    start, end = 0, len(text)
    while start < end and is_invisible(text[start]):
        start += 1
    while end > start and is_invisible(text[end - 1]):
        end -= 1
    return text[start:end].translate(_INSIDE)


def normalize_negative_prompt(text: str | None) -> str | None:
    """The negative prompt to send, or None when there is nothing visible to leave out."""
    if text is None:
        return None
    return normalize_prompt(text) or None


class RequestField(enum.StrEnum):
    PROMPT = "prompt"
    NEGATIVE_PROMPT = "negative_prompt"
    SEED = "seed"


@dataclass(frozen=True)
class NothingVisible:
    """The prompt is empty or only invisible characters."""

    field: RequestField


@dataclass(frozen=True)
class TooLong:
    """`length` characters (after normalising) where at most `limit` are taken."""

    field: RequestField
    length: int
    limit: int


@dataclass(frozen=True)
class OutOfRange:
    """`value` is outside `minimum`..`maximum` (inclusive)."""

    field: RequestField
    value: int
    minimum: int
    maximum: int


RequestProblem = NothingVisible | TooLong | OutOfRange


def validate_request(
    prompt: str, negative_prompt: str | None, seed: int | None
) -> RequestProblem | None:
    """The first thing wrong with a request, or None when it may be sent (normalised)."""
    sent = normalize_prompt(prompt)
    if not sent:
        return NothingVisible(RequestField.PROMPT)
    if len(sent) > PROMPT_MAX_CHARS:
        return TooLong(RequestField.PROMPT, len(sent), PROMPT_MAX_CHARS)
    negative = normalize_negative_prompt(negative_prompt)
    if negative is not None and len(negative) > NEGATIVE_PROMPT_MAX_CHARS:
        return TooLong(RequestField.NEGATIVE_PROMPT, len(negative), NEGATIVE_PROMPT_MAX_CHARS)
    if seed is not None and not SEED_MIN <= seed <= SEED_MAX:
        return OutOfRange(RequestField.SEED, seed, SEED_MIN, SEED_MAX)
    return None
