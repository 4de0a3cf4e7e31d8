"""The prompt block list: folding, leetspeak, spacing tricks, regex validation."""

from __future__ import annotations

import time

import pytest

from bot.quota.models import BlockedTerm, QuotaInputError
from bot.quota.prompt_policy import PromptPolicy, fold, validate_regex, validate_word
from bot.text.quota import input_problem_text

WORD = BlockedTerm("word", "badword")
PHRASE = BlockedTerm("word", "Crème Brûlée")
REGEX = BlockedTerm("regex", r"sp[a4]m+y")


@pytest.fixture
def policy() -> PromptPolicy:
    return PromptPolicy([WORD, PHRASE, REGEX])


@pytest.mark.parametrize(
    ("prompt", "hit"),
    [
        ("a BADWORD song", WORD),
        ("b a d w o r d in a jazz tune", WORD),
        ("lofi b.a.d-w0rd beat", WORD),
        ("B4DW0RD", WORD),
        ("ｂａｄｗｏｒｄ", WORD),  # fullwidth letters
        ("bad\u200bword", WORD),  # zero-width space
        ("BÀDWÖRD", WORD),
        ("créme   BRULEE with violins", PHRASE),
        ("CRÈMEBRÛLÉE", PHRASE),
        ("spammmy synths", REGEX),
        ("SP4MY", REGEX),
        ("SPÄMMY", REGEX),
    ],
)
def test_blocked_prompts_match_despite_tricks(
    policy: PromptPolicy, prompt: str, hit: BlockedTerm
) -> None:
    assert policy.match(prompt) == hit


@pytest.mark.parametrize(
    "prompt",
    ["a calm piano piece", "badwords are not the same word", "abadword", "crème caramel", "spy"],
)
def test_innocent_prompts_pass(policy: PromptPolicy, prompt: str) -> None:
    assert policy.match(prompt) is None


def test_a_short_word_does_not_trip_inside_longer_words() -> None:
    policy = PromptPolicy([BlockedTerm("word", "ass")])
    assert policy.match("classical bass with brass") is None
    assert policy.match("a s s") == BlockedTerm("word", "ass")
    assert policy.match("@$$") == BlockedTerm("word", "ass")


def test_empty_policy_is_falsy_and_matches_nothing() -> None:
    empty = PromptPolicy([])
    assert not empty
    assert empty.match("anything at all") is None


def test_fold_strips_accents_and_case() -> None:
    assert fold("Ça Ÿ ÉTÉ ß") == "ca y ete ss"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a+)+$", "repeats a repetition"),
        ("(x*)*y", "repeats a repetition"),
        (r"(\w+\s?)+$", "repeats a repetition"),
        (r"(?>(a+)+b)", "repeats a repetition"),
        (r"(?=(x+)+y)z", "repeats a repetition"),
        (r"(?:ab|(c+))*d", "repeats a repetition"),
        (r"(a)?(?(1)(b+)+|c)", "repeats a repetition"),
        ("[unclosed", "not valid"),
        ("a" * 201, "too long"),
        (".*", "matches every prompt"),
        ("   ", "give a regular expression"),
    ],
)
def test_bad_regexes_are_refused_with_a_clear_message(pattern: str, message: str) -> None:
    with pytest.raises(QuotaInputError) as refused:
        validate_regex(pattern)
    assert message in input_problem_text(refused.value)


def test_reasonable_regexes_are_accepted() -> None:
    assert validate_regex(r"(?:ab|cd){2,5}x").search("ABCDx")
    assert validate_regex(r"\bdrill\b").search("uk drill beat")


def test_a_refused_catastrophic_pattern_would_really_have_been_slow() -> None:
    """The guard is not decorative: a small version of the pattern backtracks visibly."""
    start = time.perf_counter()
    import re

    re.search(r"(a+)+$", "a" * 22 + "!")
    assert time.perf_counter() - start > 0.05


def test_words_are_validated() -> None:
    assert validate_word("  bad   word ") == "bad word"
    with pytest.raises(QuotaInputError):
        validate_word("   ")
    with pytest.raises(QuotaInputError):
        validate_word("!!!")
    with pytest.raises(QuotaInputError):
        validate_word("x" * 101)


def test_long_prompts_are_checked_quickly() -> None:
    policy = PromptPolicy(
        [BlockedTerm("word", f"term{i}") for i in range(200)]
        + [BlockedTerm("regex", rf"foo{i}bar") for i in range(50)]
    )
    prompt = "a b c d e f g " * 300
    start = time.perf_counter()
    assert policy.match(prompt) is None
    assert time.perf_counter() - start < 0.5


def test_a_stored_regex_that_is_no_longer_allowed_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = PromptPolicy([BlockedTerm("regex", "(a+)+"), BlockedTerm("word", "nope")])
    assert policy.match("aaaa") is None  # the dangerous pattern is not run
    assert policy.match("nope nope") == BlockedTerm("word", "nope")  # the rest still works
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "(a+)+" in warnings[0].getMessage()
