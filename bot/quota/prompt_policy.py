"""A server's prompt block list: words and regular expressions, hard to dodge, cheap to check.

Prompts and words are compared after folding (`bot.quota.prompt_fold`): accents, case,
invisible characters, full-width and other compatibility forms, small capitals and Unicode's
confusable look-alikes (Cyrillic о е і...) all fold away, so "ᴠɪᴏʟᴇɴᴄᴇ", "vіоlеnсе" and
"ＶＩＯＬＥＮＣＥ" are all "violence". Words also match in leetspeak readings (B4DW0RD, v!olence,
k1ll) and across spacing or symbol tricks: a word matches a run of consecutive tokens that
spells it ("b a d", "b.a.d", "b-a-d"), but never the inside of a longer word, so "class" does
not trip "ass".

Regular expressions run in RE2 (linear time whatever the pattern; see `bot.quota.block_regex`)
against the folded prompt and its leetspeak readings.

`match` costs a few hundred microseconds for a 600-character prompt against 500 entries
(bench/prompt_policy.py). Its RE2 part releases the GIL, so callers run it in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.quota.block_regex import (
    MAX_TEXT_CHECKED,
    MAX_TOTAL_PROGRAM_SIZE,
    CompiledRegex,
    RegexSet,
    compile_regex,
    validate_regex,
)
from bot.quota.block_words import BlockedWord, WordSet
from bot.quota.models import BlockedTerm, InputProblem, QuotaInputError, TermKind
from bot.quota.prompt_fold import fold, leet_readings, squash

__all__ = ["PromptPolicy", "fold", "validate_regex", "validate_word"]

log = logging.getLogger(__name__)

MAX_WORD_LENGTH = 100
MAX_PROMPT_CHECKED = 1000  # Lyria takes 600; anything longer is cut before matching


def validate_word(word: str) -> str:
    """The cleaned form a word is stored as; QuotaInputError if unusable."""
    cleaned = " ".join(word.split())
    if not cleaned:
        raise QuotaInputError(InputProblem.WORD_EMPTY)
    if len(cleaned) > MAX_WORD_LENGTH:
        raise QuotaInputError(InputProblem.WORD_TOO_LONG, limit=MAX_WORD_LENGTH)
    if not squash(fold(cleaned)):
        raise QuotaInputError(InputProblem.WORD_NO_LETTERS)
    return cleaned


class PromptPolicy:
    """A compiled block list. Build once per server and reuse; `match` is pure CPU."""

    def __init__(self, terms: Iterable[BlockedTerm]) -> None:
        self.terms = tuple(terms)
        words: list[BlockedWord] = []
        regexes: list[tuple[BlockedTerm, CompiledRegex]] = []
        total = 0
        for term in self.terms:
            if term.kind == TermKind.WORD:
                words.append(BlockedWord.of(term))
                continue
            try:
                compiled = compile_regex(term.pattern)
            except QuotaInputError as error:
                # Stored before a stricter check: skip it rather than crash, but say so.
                log.warning("ignoring block-list regex %r: %s", term.pattern, error.problem)
                continue
            if total + compiled.program_size > MAX_TOTAL_PROGRAM_SIZE:
                log.warning(
                    "ignoring block-list regex %r: the list's patterns exceed %d steps together",
                    term.pattern,
                    MAX_TOTAL_PROGRAM_SIZE,
                )
                continue
            total += compiled.program_size
            regexes.append((term, compiled))
        self._words = WordSet(words)
        self._regexes = RegexSet(regexes)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def match(self, prompt: str) -> BlockedTerm | None:
        """The first block-list entry the prompt hits (words first), or None."""
        if not self.terms:
            return None
        folded = fold(prompt[:MAX_PROMPT_CHECKED])[:MAX_TEXT_CHECKED]
        readings = list(dict.fromkeys([folded, *leet_readings(folded)]))
        hit = self._words.first_match(readings) if self._words else None
        if hit is None and self._regexes:
            hit = self._regexes.first_match([reading.encode() for reading in readings])
        return hit
