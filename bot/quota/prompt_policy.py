"""A server's prompt block list: words and regular expressions, hard to dodge, cheap to check.

Prompts and terms are compared after folding: Unicode NFKD, combining marks removed, casefolded
(so "Café", "CAFE" and "ｃａｆé" are all "cafe"). Words also match after mapping common leetspeak
(0->o 1->i 3->e 4->a 5->s 7->t @->a $->s) and across spacing or symbol tricks: a word matches a
run of consecutive tokens that spells it ("b a d", "b.a.d", "b-a-d"), but never the inside of
a longer word, so "class" does not trip "ass".

Regular expressions run against the folded prompt and its leetspeak form with IGNORECASE.
They are validated when added: at most 200 characters, they must compile, and nested unbounded
repetition such as "(a+)+" (catastrophic backtracking) is refused.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from bot.quota.models import BlockedTerm, InputProblem, QuotaInputError, TermKind

log = logging.getLogger(__name__)

MAX_REGEX_LENGTH = 200
MAX_WORD_LENGTH = 100
MAX_PROMPT_CHECKED = 1000  # Lyria takes 600; anything longer is cut before matching

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """NFKD, drop combining marks, casefold (and NFKD again: casefold can expand)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = unicodedata.normalize("NFKD", stripped.casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def leet(text: str) -> str:
    return text.translate(_LEET)


def tokens(text: str) -> list[str]:
    """Letters-and-digits runs; everything else (spaces, symbols, zero-width marks) splits."""
    return _TOKEN.findall(text)


def squash(text: str) -> str:
    return "".join(tokens(text))


def validate_word(word: str) -> str:
    """The folded, squashed form a word is stored and matched as; QuotaInputError if unusable."""
    cleaned = " ".join(word.split())
    if not cleaned:
        raise QuotaInputError(InputProblem.WORD_EMPTY)
    if len(cleaned) > MAX_WORD_LENGTH:
        raise QuotaInputError(InputProblem.WORD_TOO_LONG, limit=MAX_WORD_LENGTH)
    if not squash(fold(cleaned)):
        raise QuotaInputError(InputProblem.WORD_NO_LETTERS)
    return cleaned


def validate_regex(pattern: str) -> re.Pattern[str]:
    """Compile a moderator's pattern, refusing ones that are too long, broken or catastrophic."""
    if not pattern.strip():
        raise QuotaInputError(InputProblem.REGEX_EMPTY)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QuotaInputError(InputProblem.REGEX_TOO_LONG, limit=MAX_REGEX_LENGTH)
    try:
        compiled = _compile(pattern)
    except re.error as exc:
        raise QuotaInputError(InputProblem.REGEX_INVALID, detail=exc.msg) from None
    if _has_nested_repeat(pattern):
        raise QuotaInputError(InputProblem.REGEX_TOO_SLOW)
    if compiled.search(""):
        raise QuotaInputError(InputProblem.REGEX_MATCHES_ALL)
    return compiled


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    # Accents are stripped from the pattern too, so "café" blocks "cafe" and "CAFÉ". Casefolding
    # the pattern would corrupt escapes like \S, so case is left to IGNORECASE.
    decomposed = unicodedata.normalize("NFKD", pattern)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.compile(stripped, re.IGNORECASE)


_UNBOUNDED = 100  # a repeat whose maximum exceeds this counts as unbounded-ish


def _has_nested_repeat(pattern: str) -> bool:
    """True when a repeat with a large maximum sits inside another one, at any depth (groups,
    alternatives, lookarounds, atomic groups, conditionals)."""
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own regex parser

    repeats = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")

    def parts(arg: object) -> list[object]:
        if isinstance(arg, _parser.SubPattern):
            return [arg]
        if isinstance(arg, list | tuple):
            return [sub for item in arg for sub in parts(item)]
        return []

    def walk(items: object, inside_repeat: bool) -> bool:
        for op, arg in items:  # type: ignore[attr-defined]
            if str(op) in repeats:
                _low, high, sub = arg
                big = high is _parser.MAXREPEAT or high > _UNBOUNDED
                if big and inside_repeat:
                    return True
                if walk(sub, inside_repeat or big):
                    return True
            elif any(walk(sub, inside_repeat) for sub in parts(arg)):
                return True
        return False

    return walk(_parser.parse(pattern), False)


@dataclass(frozen=True)
class _Word:
    term: BlockedTerm
    plain: str  # folded and squashed
    leet: str  # folded, leet-mapped and squashed


class PromptPolicy:
    """A compiled block list. Build once per server and reuse; `match` is pure CPU."""

    def __init__(self, terms: Iterable[BlockedTerm]) -> None:
        self.terms = tuple(terms)
        self._words: list[_Word] = []
        self._regexes: list[tuple[BlockedTerm, re.Pattern[str]]] = []
        self._longest = 0
        for term in self.terms:
            if term.kind == TermKind.WORD:
                folded = fold(term.pattern)
                self._words.append(_Word(term, squash(folded), squash(leet(folded))))
                self._longest = max(self._longest, len(self._words[-1].plain))
            else:
                try:
                    self._regexes.append((term, validate_regex(term.pattern)))
                except QuotaInputError as error:
                    # Stored before a stricter check: skip it rather than crash, but say so.
                    log.warning("ignoring block-list regex %r: %s", term.pattern, error.problem)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def match(self, prompt: str) -> BlockedTerm | None:
        """The first block-list entry the prompt hits, or None."""
        if not self.terms:
            return None
        folded = fold(prompt[:MAX_PROMPT_CHECKED])
        leeted = leet(folded)
        if self._words:
            plain_runs = _runs(tokens(folded), self._longest)
            leet_runs = _runs(tokens(leeted), self._longest)
            for word in self._words:
                if word.plain in plain_runs or word.leet in leet_runs:
                    return word.term
        for term, regex in self._regexes:
            if regex.search(folded) or regex.search(leeted):
                return term
        return None


def _runs(parts: list[str], longest: int) -> set[str]:
    """Every run of consecutive tokens, joined, up to `longest` characters: a word matches
    when it equals one of them (whole tokens only, so never the inside of a longer word)."""
    found: set[str] = set()
    for start in range(len(parts)):
        joined = ""
        index = start
        while index < len(parts):
            joined += parts[index]
            if len(joined) > longest:
                break
            found.add(joined)
            index += 1
    return found
