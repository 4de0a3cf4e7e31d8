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

from bot.quota.models import BlockedTerm, QuotaInputError
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

_NONE = (
    "The block list only takes patterns it can check quickly whatever the prompt (RE2 "
    "syntax), and those can't be: please write it without one."
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
        if term.kind == "regex" and term.pattern != pattern
        if (found := _compile_quietly(term.pattern)) is not None
    )
    if others + compiled.program_size > MAX_TOTAL_PROGRAM_SIZE:
        raise QuotaInputError(
            "The block list's regular expressions would be too much work together "
            f"(at most {MAX_TOTAL_PROGRAM_SIZE:,} steps; they would need "
            f"{others + compiled.program_size:,}). Please simplify or remove some first."
        )
    ordinary = [prompt.encode() for prompt in ORDINARY_PROMPTS]
    if all(compiled.search(prompt) for prompt in ordinary):
        raise QuotaInputError(
            f'That regular expression would block ordinary prompts such as "{ORDINARY_PROMPTS[1]}"'
            "; please narrow it."
        )
    _probe(compiled)
    return compiled


def compile_regex(pattern: str) -> CompiledRegex:
    """The checks that need no timing: length, RE2 syntax, size, not matching everything."""
    if not pattern.strip():
        raise QuotaInputError("Please give a regular expression to block.")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QuotaInputError(
            f"That regular expression is too long; keep it under {MAX_REGEX_LENGTH} characters."
        )
    searched = "".join(char if char.isascii() else fold(char) for char in pattern)
    try:
        # Compiled inside a group, as RegexSet joins it: an unclosed \Q would swallow the ")".
        regex = re2.compile(f"(?:{searched})", _OPTIONS)
    except re2.error as error:
        raise QuotaInputError(_explain(error)) from None
    size = int(regex.programsize)
    if size > MAX_PROGRAM_SIZE:
        raise QuotaInputError(_too_complex(size))
    compiled = CompiledRegex(pattern, searched, regex, size)
    if compiled.search(b""):
        raise QuotaInputError("That regular expression matches every prompt; please narrow it.")
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
        raise QuotaInputError(
            "That regular expression takes too long to check against a long prompt. "
            "Please simplify it (fewer or smaller counted repeats, narrower character classes)."
        )


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


def _explain(error: Exception) -> str:
    """A moderator-facing reason for RE2's refusal (its error code, never the pattern text)."""
    raw = error.args[0] if error.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, fragment = text.partition(": ")
    start = "That regular expression "
    if code == "invalid perl operator":
        if fragment.startswith(("(?=", "(?!", "(?<=", "(?<!")):
            return start + f"uses a look-ahead or look-behind like (?=…) or (?<!…). {_NONE}"
        if fragment.startswith("(?P"):
            return start + _BACK_REFERENCE
        if fragment.startswith("(?>"):
            return start + _ATOMIC
        if fragment.startswith("(?("):
            return start + f"uses a conditional group like (?(1)…|…). {_NONE}"
        return start + (
            "uses a flag or group the block list does not know, like (?x) or (?#…). "
            "It knows (?i), (?m), (?s), (?U), (?:…) and (?P<name>…)."
        )
    if code == "invalid escape sequence":
        if fragment[1:2].isdigit() or fragment.startswith(("\\k", "\\g")):
            return start + _BACK_REFERENCE
        if fragment.startswith("\\Z"):
            return start + 'uses \\Z; please write \\z for "the end of the prompt".'
        return start + (
            "uses an escape the block list does not know (like \\N{…} or \\u…); "
            "please type the character itself."
        )
    if code == "bad repetition operator" and fragment.endswith("+"):
        return start + _ATOMIC
    if code == "invalid repetition size":
        return start + (
            "repeats something more than 1000 times, or nests counted repeats too deeply. "
            "Please use smaller counts, or + and *."
        )
    if code.startswith("pattern too large"):
        return _too_complex(None)
    return start + f"is not valid: {code or 'RE2 refused it'}."


_BACK_REFERENCE = f"refers back to a group, like \\1 or (?P=name). {_NONE}"
_ATOMIC = (
    "uses an atomic group or a possessive repeat, like (?>…) or a++. The block list never "
    "backtracks, so they are not needed: please remove them."
)


def _too_complex(size: int | None) -> str:
    steps = f" ({size:,} steps; the limit is {MAX_PROGRAM_SIZE:,})" if size else ""
    return (
        f"That regular expression is too complex to check quickly{steps}. Please simplify it: "
        "fewer or smaller counted repeats like {1,500}, narrower classes than \\pL."
    )
