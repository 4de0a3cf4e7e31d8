"""Block-list matching cost: what `reserve` pays per /compose, and the worst a list can cost.

A 600-character prompt (the longest Lyria takes) against a 500-entry list: all words, all
patterns, and a mix; ASCII prompts and prompts full of look-alikes. Then a list of heavy
patterns up to the per-server budget against prompts built to defeat RE2's DFA, the issue's
catastrophic patterns, the cost of building a policy and of checking a new pattern.

    .venv/bin/python bench/prompt_policy.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.quota.block_regex import MAX_TOTAL_PROGRAM_SIZE, compile_regex, validate_regex
from bot.quota.models import BlockedTerm
from bot.quota.prompt_fold import fold
from bot.quota.prompt_policy import PromptPolicy

WORDS = [
    "lofi",
    "jazz",
    "piano",
    "synth",
    "bass",
    "drums",
    "chill",
    "epic",
    "orchestral",
    "ambient",
    "rain",
    "warm",
    "vinyl",
]


def prompt_of(rng: random.Random, length: int, alphabet: list[str]) -> str:
    text = ""
    while len(text) < length:
        text += rng.choice(alphabet) + rng.choice([" ", " ", ", ", "! ", "-"])
    return text[:length]


def blocked_words(rng: random.Random, count: int) -> list[BlockedTerm]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [
        BlockedTerm("word", "".join(rng.choice(letters) for _ in range(rng.randint(3, 12))))
        for _ in range(count)
    ]


def blocked_patterns(rng: random.Random, count: int) -> list[BlockedTerm]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    shapes = [r"\b{w}s?\b", r"{a}[a4@]{b}+", r"{w}(?:ing|ed)?", r"(?:{a}|{b})\s*{w}"]
    terms = []
    for i in range(count):
        w = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
        a, b = w[:2], w[2:]
        terms.append(BlockedTerm("regex", shapes[i % len(shapes)].format(w=w, a=a, b=b)))
    return terms


def timed(call: Callable[[], object], rounds: int) -> tuple[float, float, float]:
    """(median, p99, max) in microseconds."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1], samples[-1]


def row(name: str, figures: tuple[float, float, float]) -> None:
    median, p99, worst = figures
    print(f"  {name:<58} median {median:8.0f} µs   p99 {p99:8.0f} µs   max {worst:8.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    rng = random.Random(2026)

    ascii_prompt = prompt_of(rng, 600, WORDS)
    lookalike_words = ["vіоlеnсе", "ᴠɪᴏʟᴇɴᴄᴇ", "ＶＩＯＬＥＮＣＥ", "v!olence", "k1ll", "ｂａｄ"]
    mixed_prompt = prompt_of(rng, 600, WORDS + lookalike_words)
    digits_prompt = prompt_of(rng, 600, [*WORDS, "120bpm", "1990s", "b4d", "sh|t", "3am"])

    lists = {
        "500 words": blocked_words(rng, 500),
        "500 patterns": blocked_patterns(rng, 500),
        "250 words + 250 patterns": blocked_words(rng, 250) + blocked_patterns(rng, 250),
    }
    print(f"fold, 600 characters ({rounds} rounds)")
    row("ASCII prompt", timed(lambda: fold(ascii_prompt), rounds))
    row("prompt with look-alikes (cache warm)", timed(lambda: fold(mixed_prompt), rounds))

    print("\nmatch, 600-character prompt, nothing blocked (the common case: every entry is tried)")
    for name, terms in lists.items():
        policy = PromptPolicy(terms)
        for label, prompt in [
            ("ASCII", ascii_prompt),
            ("look-alikes", mixed_prompt),
            ("digits, | and !", digits_prompt),
        ]:
            assert policy.match(prompt) is None
            row(f"{name}, {label} prompt", timed(lambda p=policy, q=prompt: p.match(q), rounds))

    print("\nbuilding a policy (once per server and block-list change, in a worker thread)")
    for name, terms in lists.items():
        row(name, timed(lambda t=terms: PromptPolicy(t), max(5, rounds // 30)))

    print("\nchecking a new pattern when a moderator adds it (compile + probes)")
    row(r"\bdrill\b", timed(lambda: validate_regex(r"\bdrill\b"), 30))
    row(r"[a-z]{1,150}x", timed(lambda: validate_regex(r"[a-z]{1,150}x"), 30))

    print("\nworst cases (each bounded; run off the event loop with the GIL released)")
    issue = [
        BlockedTerm("regex", r"(.|\s)*nazi"),
        BlockedTerm("regex", r"(a|a)*b"),
        BlockedTerm("regex", r"\w*\s*" * 12 + r"\w*!"),
    ]
    issue_prompt = prompt_of(rng, 176, WORDS).replace("b", "p").replace("!", ".")
    issue_policy = PromptPolicy(issue)
    row(
        "the issue's three patterns, 176-character prompt",
        timed(lambda: issue_policy.match(issue_prompt), rounds),
    )
    # Patterns whose DFA explodes on their own alphabet, up to the server's budget (or the
    # 500-entry cap): RE2 falls back to its slower linear-time path. Fresh text every round.
    for pattern in [r".{1,150}x%d", r"(?:.|\s){1,100}q%d", r"[ab]*a[ab]{25}%d"]:
        size = compile_regex(pattern % 0).program_size
        count = min(500, MAX_TOTAL_PROGRAM_SIZE // size)
        heavy_policy = PromptPolicy([BlockedTerm("regex", pattern % i) for i in range(count)])
        texts = iter(["".join(rng.choice("ab") for _ in range(600)) for _ in range(20)])
        row(
            f"{count} x {pattern % 0} ({size} steps each), random a/b",
            timed(lambda p=heavy_policy, t=texts: p.match(next(t)), 20),
        )
    long_words = PromptPolicy([BlockedTerm("word", "x" * 99 + str(i)) for i in range(500)])
    row(
        "500 words of 100 letters, 600 one-letter tokens",
        timed(lambda: long_words.match("x " * 300), max(10, rounds // 10)),
    )


if __name__ == "__main__":
    main()
