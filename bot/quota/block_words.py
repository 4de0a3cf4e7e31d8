"""Block-list words: a word matches a run of whole consecutive tokens of the prompt.

A prompt's tokens are its letters-and-digits runs after folding. Every run of consecutive
tokens, joined, up to the longest word's length, is looked up in one dictionary of all the
words' forms: so "b a d", "b.a.d" and "bad" all spell "bad", and "class" never contains "ass".
The cost depends on the prompt's tokens and the longest word, not on how many words there are:
about 300 lookups for an ordinary 600-character prompt, 60,000 at worst (600 one-letter tokens
against a 100-letter word). An RE2 alternation of all words was faster on ordinary prompts but
fell back to its slow path on that worst case (seconds), so plain lookups it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.quota.models import BlockedTerm
from bot.quota.prompt_fold import fold, leet_readings, squash, tokens


@dataclass(frozen=True)
class BlockedWord:
    term: BlockedTerm
    forms: tuple[str, ...]  # folded and squashed: as written, and its leetspeak readings

    @classmethod
    def of(cls, term: BlockedTerm) -> BlockedWord:
        folded = fold(term.pattern)
        forms = dict.fromkeys(squash(text) for text in [folded, *leet_readings(folded)])
        return cls(term, tuple(form for form in forms if form))


class WordSet:
    """`first_match` returns the first word, in list order, spelled in any of the readings."""

    def __init__(self, words: Sequence[BlockedWord]) -> None:
        self._terms = [word.term for word in words]
        self._first: dict[str, int] = {}  # form -> index of the first word with that form
        for index, word in enumerate(words):
            for form in word.forms:
                self._first.setdefault(form, index)
        self._longest = max(map(len, self._first), default=0)

    def __bool__(self) -> bool:
        return bool(self._first)

    def first_match(self, readings: Sequence[str]) -> BlockedTerm | None:
        first, longest = self._first, self._longest
        best: int | None = None
        for reading in readings:
            parts = tokens(reading)
            for start in range(len(parts)):
                run = ""
                for part in parts[start : start + longest]:
                    run += part
                    if len(run) > longest:
                        break
                    index = first.get(run)
                    if index is not None and (best is None or index < best):
                        best = index
        return None if best is None else self._terms[best]
