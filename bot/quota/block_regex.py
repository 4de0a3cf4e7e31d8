"""Moderators' regular expressions, checked by RE2 in a time that stays short for any pattern.

Python's `re` backtracks: `(.|\\s)*nazi` against an ordinary prompt with 33 spaces tries 2**33
ways, holding the interpreter for good. RE2 (Google's engine, through the google-re2 wheel)
runs every pattern in time linear in the text, and releases the GIL while it matches. What it
cannot do in linear time it refuses: look-arounds, back-references, atomic groups, possessive
repeats, conditionals, counts above 1000. Moderators hear which, politely, when they add one.

A pattern is checked when added (`validate_regex`): at most 200 characters, valid RE2, at most
2,000 compiled instructions (the work per text character), at most 20,000 for a server's
patterns together, not matching every prompt, and a probe against worst-case texts of the
longest length ever searched. Patterns stored before these rules that break them are skipped
with a warning (`compile_regex`). Patterns are case-insensitive, see the folded prompt (accents,
look-alikes and case folded, `bot.quota.prompt_fold`) and its leetspeak readings. `\\w`, `\\b`,
`\\d` and `\\s` are ASCII in RE2, which is what folded prompts mostly are; `\\pL` is any letter.

`RegexSet` matches many patterns at once: consecutive patterns are joined into one alternation
of at most 4,000 instructions, so 500 patterns cost a few searches instead of 500.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import re2  # type: ignore[import-untyped]  # google-re2

from bot.quota.models import BlockedTerm, InputProblem, QuotaInputError, TermKind
from bot.quota.prompt_fold import fold

MAX_REGEX_LENGTH = 200
MAX_PROGRAM_SIZE = 2_000
MAX_TOTAL_PROGRAM_SIZE = 20_000
MAX_TEXT_CHECKED = 2_000  # folded characters searched per reading; probes are this long
PROBE_BUDGET_SECONDS = 0.25  # far above what a pattern within the limits takes (a few ms)
_CHUNK_PROGRAM_SIZE: Final = 4_000

# Prompts no sensible block-list entry refuses all of.
ORDINARY_PROMPTS: Final = (
    "lofi hip hop beat to study to",
    "calm piano",
    "epic orchestral trailer music with choir",
    "jazz",
)


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True
    options.log_errors = False  # refusals are explained to the moderator, not logged by RE2
    return options


_OPTIONS: Final = _options()


@dataclass(frozen=True)
class CompiledRegex:
    pattern: str  # as the moderator wrote it (and as it is stored)
    searched: str  # what RE2 runs: non-ASCII characters folded like prompts
    regex: Any  # re2._Regexp
    program_size: int

    def search(self, text: bytes) -> bool:
        return self.regex.search(text) is not None


def validate_regex(pattern: str, alongside: Iterable[BlockedTerm] = ()) -> CompiledRegex:
    """Check a moderator's new pattern (with the server's other entries `alongside`);
    QuotaInputError says politely what is wrong with it."""
    compiled = compile_regex(pattern)
    others = sum(
        found.program_size
        for term in alongside
        if term.kind == TermKind.REGEX and term.pattern != pattern
        if (found := _compile_quietly(term.pattern)) is not None
    )
    if others + compiled.program_size > MAX_TOTAL_PROGRAM_SIZE:
        raise QuotaInputError(
            InputProblem.REGEX_LIST_TOO_COMPLEX,
            limit=MAX_TOTAL_PROGRAM_SIZE,
            value=others + compiled.program_size,
        )
    ordinary = [prompt.encode() for prompt in ORDINARY_PROMPTS]
    if all(compiled.search(prompt) for prompt in ordinary):
        raise QuotaInputError(InputProblem.REGEX_BLOCKS_ORDINARY, detail=ORDINARY_PROMPTS[1])
    _probe(compiled)
    return compiled


def compile_regex(pattern: str) -> CompiledRegex:
    """The checks that need no timing: length, RE2 syntax, size, not matching everything."""
    if not pattern.strip():
        raise QuotaInputError(InputProblem.REGEX_EMPTY)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QuotaInputError(InputProblem.REGEX_TOO_LONG, limit=MAX_REGEX_LENGTH)
    searched = "".join(char if char.isascii() else fold(char) for char in pattern)
    try:
        # Compiled inside a group, as RegexSet joins it: an unclosed \Q would swallow the ")".
        regex = re2.compile(f"(?:{searched})", _OPTIONS)
    except re2.error as error:
        raise _refusal(error) from None
    size = int(regex.programsize)
    if size > MAX_PROGRAM_SIZE:
        raise QuotaInputError(InputProblem.REGEX_TOO_COMPLEX, limit=MAX_PROGRAM_SIZE, value=size)
    compiled = CompiledRegex(pattern, searched, regex, size)
    if compiled.search(b""):
        raise QuotaInputError(InputProblem.REGEX_MATCHES_ALL)
    return compiled


def _compile_quietly(pattern: str) -> CompiledRegex | None:
    try:
        return compile_regex(pattern)
    except QuotaInputError:
        return None


def probe_texts(pattern: str) -> list[bytes]:
    """Texts of the longest searched length that make matching work hardest: one letter
    repeated, an ordinary prompt's words and spaces, all printable ASCII, and the pattern's
    own characters (the alphabet its states are built from)."""
    n = MAX_TEXT_CHECKED
    own = "".join(sorted({c for c in pattern.lower() if c.isascii() and c.isprintable()}))
    shapes = [
        "a",
        "lofi beat with soft piano and warm pads for a rainy evening ",
        "".join(chr(c) for c in range(32, 127)),
        own + " " if own else "a ",
    ]
    return [(shape * (n // len(shape) + 1))[:n].encode() for shape in shapes]


def _probe(compiled: CompiledRegex) -> None:
    started = time.perf_counter()
    for text in probe_texts(compiled.searched):
        compiled.search(text)
    if time.perf_counter() - started > PROBE_BUDGET_SECONDS:
        raise QuotaInputError(InputProblem.REGEX_TOO_SLOW)


class RegexSet:
    """Block-list patterns matched together; `first_match` returns the first entry, in list
    order, that matches any of the texts."""

    def __init__(self, entries: Sequence[tuple[BlockedTerm, CompiledRegex]]) -> None:
        self._chunks: list[tuple[Any, list[tuple[BlockedTerm, CompiledRegex]]]] = []
        chunk: list[tuple[BlockedTerm, CompiledRegex]] = []
        size = 0
        for entry in entries:
            if chunk and size + entry[1].program_size > _CHUNK_PROGRAM_SIZE:
                self._add_chunk(chunk)
                chunk, size = [], 0
            chunk.append(entry)
            size += entry[1].program_size
        if chunk:
            self._add_chunk(chunk)

    def __len__(self) -> int:
        return sum(len(members) for _, members in self._chunks)

    def _add_chunk(self, chunk: list[tuple[BlockedTerm, CompiledRegex]]) -> None:
        if len(chunk) == 1:
            self._chunks.append((chunk[0][1].regex, chunk))
            return
        joined = "|".join(f"(?:{compiled.searched})" for _, compiled in chunk)
        try:
            self._chunks.append((re2.compile(joined, _OPTIONS), chunk))
        except re2.error:  # too large together: each on its own then
            self._chunks.extend((compiled.regex, [(term, compiled)]) for term, compiled in chunk)

    def first_match(self, texts: Sequence[bytes]) -> BlockedTerm | None:
        for regex, members in self._chunks:
            if any(regex.search(text) is not None for text in texts):
                for term, compiled in members:
                    if any(compiled.search(text) for text in texts):
                        return term
        return None


def _refusal(error: Exception) -> QuotaInputError:
    """Which of RE2's refusals this is (from its error code, never the pattern text)."""
    raw = error.args[0] if error.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, fragment = text.partition(": ")
    problem = InputProblem.REGEX_INVALID
    if code == "invalid perl operator":
        problem = InputProblem.REGEX_UNKNOWN_FLAG
        if fragment.startswith(("(?=", "(?!", "(?<=", "(?<!")):
            problem = InputProblem.REGEX_LOOKAROUND
        elif fragment.startswith("(?P"):
            problem = InputProblem.REGEX_BACK_REFERENCE
        elif fragment.startswith("(?>"):
            problem = InputProblem.REGEX_ATOMIC
        elif fragment.startswith("(?("):
            problem = InputProblem.REGEX_CONDITIONAL
    elif code == "invalid escape sequence":
        problem = InputProblem.REGEX_UNKNOWN_ESCAPE
        if fragment[1:2].isdigit() or fragment.startswith(("\\k", "\\g")):
            problem = InputProblem.REGEX_BACK_REFERENCE
        elif fragment.startswith("\\Z"):
            problem = InputProblem.REGEX_END_ANCHOR
    elif code == "bad repetition operator" and fragment.endswith("+"):
        problem = InputProblem.REGEX_ATOMIC
    elif code == "invalid repetition size":
        problem = InputProblem.REGEX_REPEAT_SIZE
    elif code.startswith("pattern too large"):
        return QuotaInputError(InputProblem.REGEX_TOO_COMPLEX, limit=MAX_PROGRAM_SIZE)
    return QuotaInputError(problem, detail=code or None)
