"""The prompt block list: folding, look-alikes, leetspeak, spacing tricks, RE2 patterns."""

from __future__ import annotations

import logging
import multiprocessing
import re

import pytest

from bot.quota import block_regex
from bot.quota.block_regex import (
    MAX_PROGRAM_SIZE,
    MAX_TOTAL_PROGRAM_SIZE,
    compile_regex,
    probe_texts,
    validate_regex,
)
from bot.quota.models import BlockedTerm, QuotaInputError
from bot.quota.prompt_fold import fold, leet_readings
from bot.quota.prompt_policy import PromptPolicy, validate_word
from bot.text.quota import input_problem_text
from tests.bot.quota.support import refused_with

WORD = BlockedTerm("word", "badword")
PHRASE = BlockedTerm("word", "Crème Brûlée")
REGEX = BlockedTerm("regex", r"sp[a4]m+y")
VIOLENCE = BlockedTerm("word", "violence")
KILL = BlockedTerm("word", "kill")
LOVE = BlockedTerm("word", "love")
SHIT = BlockedTerm("word", "shit")


@pytest.fixture
def policy() -> PromptPolicy:
    return PromptPolicy([WORD, PHRASE, REGEX, VIOLENCE, KILL, LOVE, SHIT])


@pytest.mark.parametrize(
    ("prompt", "hit"),
    [
        ("a BADWORD song", WORD),
        ("b a d w o r d in a jazz tune", WORD),
        ("lofi b.a.d-w0rd beat", WORD),
        ("B4DW0RD", WORD),
        ("ｂａｄｗｏｒｄ", WORD),  # full-width letters
        ("bad\u200bword", WORD),  # zero-width space
        ("BÀDWÖRD", WORD),
        ("créme   BRULEE with violins", PHRASE),
        ("CRÈMEBRÛLÉE", PHRASE),
        ("spammmy synths", REGEX),
        ("SP4MY", REGEX),
        ("SPÄMMY", REGEX),
        ("ѕраmmу", REGEX),  # Cyrillic dze, er, a, u
    ],
)
def test_blocked_prompts_match_despite_tricks(
    policy: PromptPolicy, prompt: str, hit: BlockedTerm
) -> None:
    assert policy.match(prompt) == hit


@pytest.mark.parametrize(
    "prompt",
    [
        "epic vіоlеnсе",  # Cyrillic і о е с (issue 8, item 8)
        "ᴠɪᴏʟᴇɴᴄᴇ in the streets",  # small capitals
        "ＶＩＯＬＥＮＣＥ",  # full-width
        "v!olence and drums",  # a symbol standing for a letter inside a word
        "V!OLENCE",
        "𝐯𝐢𝐨𝐥𝐞𝐧𝐜𝐞",  # mathematical bold
        "ⓥⓘⓞⓛⓔⓝⓒⓔ",  # circled
        "🅥🅘🅞🅛🅔🅝🅒🅔",  # negative circled
        "🇻🇮🇴🇱🇪🇳🇨🇪",  # regional indicators
        "v i o l е n c e",  # spaced out, one Cyrillic е
        "VІОLЕNСЕ",  # Cyrillic capitals
        "v\u3164i\u3164o\u3164l\u3164e\u3164n\u3164c\u3164e",  # Hangul fillers as spaces
    ],
)
def test_look_alike_spellings_of_a_word_are_caught(policy: PromptPolicy, prompt: str) -> None:
    assert policy.match(prompt) == VIOLENCE


@pytest.mark.parametrize(
    ("prompt", "hit"),
    [("k1ll them all", KILL), ("1ove song", LOVE), ("sh|t happens", SHIT), ("sh!t", SHIT)],
)
def test_one_and_bar_read_as_i_or_l(policy: PromptPolicy, prompt: str, hit: BlockedTerm) -> None:
    assert policy.match(prompt) == hit


@pytest.mark.parametrize(
    "prompt",
    [
        "a calm piano piece",
        "badwords are not the same word",
        "abadword",
        "crème caramel",
        "spy",
        "nonviolence anthem",
        "skill issue",
        "killer queen",
    ],
)
def test_innocent_prompts_pass(policy: PromptPolicy, prompt: str) -> None:
    assert policy.match(prompt) is None


COMMON_SHORT_WORDS = [BlockedTerm("word", w) for w in ("ass", "heil", "tit", "cum", "sex", "hi")]


@pytest.mark.parametrize(
    "prompt",
    [
        "wow! a smooth jazz tune",
        "a-ha style synth pop",
        "hell yeah, highway rock!",
        "highway to hell",
        "title track: cumulus clouds",
        "classical bass and brass",
        "sussex folk song, essex garage",
        "rock'n'roll, 1950s",
        "yes!!! party time!",
        "C|D|E chord loop",
        "petition for peace",
        "Ambient: Satie-like, 3am",
        "Hey!Ho! let's go",
        "C++ coding music, 120 bpm",
        "¡Hola! latin jazz",
        "chill!",
        "this!",
    ],
)
def test_punctuation_in_ordinary_prompts_does_not_trip_common_words(prompt: str) -> None:
    assert PromptPolicy(COMMON_SHORT_WORDS).match(prompt) is None


def test_a_short_word_does_not_trip_inside_longer_words() -> None:
    policy = PromptPolicy([BlockedTerm("word", "ass")])
    assert policy.match("classical bass with brass") is None
    assert policy.match("cl\u200bass") is None  # an invisible character does not split a word
    assert policy.match("a s s") == BlockedTerm("word", "ass")
    assert policy.match("@$$") == BlockedTerm("word", "ass")
    assert policy.match("a\u3164s\u3164s") == BlockedTerm("word", "ass")  # fillers look blank
    assert policy.match("аѕѕ") == BlockedTerm("word", "ass")  # all Cyrillic


def test_the_first_word_in_list_order_wins_and_words_come_before_patterns() -> None:
    words = [BlockedTerm("word", w) for w in ("zeta", "alpha", "beta gamma")]
    pattern = BlockedTerm("regex", "alpha")
    policy = PromptPolicy([pattern, *words])
    assert policy.match("alpha then zeta") == words[0]
    assert policy.match("beta-gamma and alpha") == words[1]
    assert policy.match("b e t a g a m m a") == words[2]
    assert policy.match("alphabet") == pattern  # words need whole tokens; patterns do not


def test_empty_policy_is_falsy_and_matches_nothing() -> None:
    empty = PromptPolicy([])
    assert not empty
    assert empty.match("anything at all") is None


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Ça Ÿ ÉTÉ ß", "ca y ete ss"),
        ("vіоlеnсе", "violence"),
        ("ᴠɪᴏʟᴇɴᴄᴇ", "violence"),
        ("ＶＩＯＬＥＮＣＥ", "violence"),
        ("КILL МОМ", "kill mom"),  # Cyrillic capitals whose small forms look different
        ("ℓove", "love"),
        ("bad\u200b\u2060word\ufe0f", "badword"),
        ("jazz\u3000piano\u2800trio", "jazz piano trio"),
        ("m1l|0I rn", "m1l|0i rn"),  # ASCII is only lower-cased: never m -> rn or 1 -> l
        ("v!olence wow!", "v!olence wow!"),  # symbols stay symbols in the folded text
        ("日本語の音楽", "日本語の音楽"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("folded", "readings"),
    [
        ("v!olence", ["violence"]),
        ("wow! a-ha", ["wow! a-ha"]),
        ("!wow", ["!wow"]),
        ("b4dw0rd $5", ["badword ss"]),
        ("k1ll", ["kill", "klll"]),
        ("sh|t", ["shit", "shlt"]),
        ("c++ a+b", ["c++ atb"]),
        ("hey!ho", ["heyiho"]),
        ("¡hola! sh∪t", ["¡hola! shut"]),  # ∪ looks like u (the skeleton says so); ¡ not i
    ],
)
def test_leet_reads_symbols_as_letters_only_inside_words(folded: str, readings: list[str]) -> None:
    assert leet_readings(folded) == readings


# -- regular expressions --------------------------------------------------------------------

# An ordinary prompt of 176 characters with 33 spaces (issue 8, item 1).
ISSUE_PROMPT = (
    "dreamy lofi hip-hop with soft rhodes piano, warm vinyl crackle, soft rain on the "
    "roof, slow boom bap drums, deep sub bass, a lazy sunday noon vibe and a sleepy "
    "cat in the sun!!"
)
# `\w*…\w*!`: Python's re needs about 9 s for it with 10 `\w*\s*` and minutes with 12.
ISSUE_PATTERNS = [r"(.|\s)*nazi", r"(a|a)*b", r"\w*\s*" * 12 + r"\w*!"]


def test_the_issue_prompt_is_the_one_described() -> None:
    assert len(ISSUE_PROMPT) == 176 and ISSUE_PROMPT.count(" ") == 33


def _match_all(cases: list[tuple[list[BlockedTerm], str]]) -> list[BlockedTerm | None]:
    return [PromptPolicy(terms).match(prompt) for terms, prompt in cases]


def _run_in_child(cases: list[tuple[list[BlockedTerm], str]], results: object) -> None:
    results.put(_match_all(cases))  # type: ignore[attr-defined]


def match_with_deadline(
    cases: list[tuple[list[BlockedTerm], str]], seconds: float
) -> list[BlockedTerm | None]:
    """Match in a child process and kill it after `seconds`: a backtracking matcher would
    hold the GIL, so a thread could not be waited for."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_run_in_child, args=(cases, results), daemon=True)
    child.start()
    child.join(seconds)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"matching did not finish within {seconds} s")
    assert child.exitcode == 0
    return results.get(timeout=5)  # type: ignore[no-any-return]


def test_the_issue_patterns_are_accepted_and_checked_in_bounded_time() -> None:
    for pattern in ISSUE_PATTERNS:
        validate_regex(pattern)  # RE2 takes them: they cannot be slow
    nazi, aab, bang = (BlockedTerm("regex", pattern) for pattern in ISSUE_PATTERNS)
    cases = [
        ([nazi], ISSUE_PROMPT),
        ([nazi], ISSUE_PROMPT.replace("sun!!", "nazi")),
        ([aab], "a" * 600),
        ([aab], "a" * 599 + "b"),
        ([bang], ISSUE_PROMPT.replace("!", ".")),
        ([bang], ISSUE_PROMPT),
        ([nazi, aab, bang], (ISSUE_PROMPT + " ") * 6),  # past the longest prompt checked
    ]
    # Each takes well under a millisecond; the deadline only catches a hang.
    assert match_with_deadline(cases, seconds=30) == [None, nazi, None, aab, None, bang, aab]


def test_the_issue_pattern_really_hangs_a_backtracking_engine() -> None:
    """The case above is not vacuous: Python's re does not finish it."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=re.search, args=(ISSUE_PATTERNS[0], ISSUE_PROMPT), daemon=True)
    child.start()
    child.join(2)
    still_running = child.is_alive()
    child.kill()
    child.join()
    assert still_running


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(?=x)y", "look-ahead or look-behind"),
        (r"(?!x)y", "look-ahead or look-behind"),
        (r"(?<=a)b", "look-ahead or look-behind"),
        (r"(?<!a)b", "look-ahead or look-behind"),
        (r"(a)\1", "refers back to a group"),
        (r"(?P<x>a)(?P=x)", "refers back to a group"),
        (r"(?>a+)b", "atomic group or a possessive repeat"),
        (r"a++b", "atomic group or a possessive repeat"),
        (r"(a)?(?(1)b|c)", "conditional group"),
        (r"end\Z", r"please write \z"),
        (r"(?x) a b", "flag or group the block list does not know"),
        (r"\N{BULLET}", "escape the block list does not know"),
        (r"x{1001}", "more than 1000 times"),
        (r".{1,1000}x", "too complex to check quickly"),
        ("[unclosed", "not valid: missing ]"),
        ("(oops", "not valid: missing )"),
        ("a" * 201, "too long"),
        (".*", "matches every prompt"),
        ("a|", "matches every prompt"),
        (r"\w", "would block ordinary prompts"),
        ("   ", "give a regular expression"),
    ],
)
def test_bad_regexes_are_refused_with_a_clear_message(pattern: str, message: str) -> None:
    with refused_with(message):
        validate_regex(pattern)


def test_refusals_never_echo_the_pattern() -> None:
    with pytest.raises(QuotaInputError) as refused:
        validate_regex("(?=@everyone)x")
    assert "@everyone" not in input_problem_text(refused.value)
    assert "@everyone" not in str(refused.value)


def test_reasonable_regexes_are_accepted() -> None:
    assert validate_regex(r"(?:ab|cd){2,5}x").search(b"ABCDx")
    assert validate_regex(r"\bdrill\b").search(b"uk drill beat")
    assert validate_regex(r"caf[eé]").search(fold("CAFÉ").encode())
    # Nested repeats were refused when matching backtracked; RE2 checks them in linear time.
    assert validate_regex(r"(a+)+$").search(b"a" * 2000)
    assert not validate_regex(r"(a+)+$").search(b"a" * 1999 + b"!")


def test_a_pattern_sees_the_folded_prompt() -> None:
    policy = PromptPolicy([BlockedTerm("regex", r"\bnaz[i1]s?\b")])
    hit = BlockedTerm("regex", r"\bnaz[i1]s?\b")
    assert policy.match("NAZІ punk") == hit  # Cyrillic І
    assert policy.match("ɴᴀᴢɪs") == hit
    assert policy.match("naz1") == hit
    assert policy.match("nazism") is None


def test_a_non_ascii_pattern_is_folded_like_prompts() -> None:
    assert compile_regex("crème").searched == "creme"
    assert compile_regex("vіоlеnсе").searched == "violence"  # Cyrillic in the pattern too
    policy = PromptPolicy([BlockedTerm("regex", "crème")])
    assert policy.match("CREME brulee") == BlockedTerm("regex", "crème")


def test_the_program_size_limit_is_what_refuses_too_complex_patterns() -> None:
    assert compile_regex(r"\pL+").program_size <= MAX_PROGRAM_SIZE
    assert compile_regex(r"x{1,300}").program_size <= MAX_PROGRAM_SIZE
    with refused_with("too complex"):
        compile_regex(r"\pL{1,10}\pN{1,10}")


def test_a_list_of_patterns_has_a_total_budget() -> None:
    heavy = r"[a-z]{1,150}x"
    size = compile_regex(heavy).program_size
    fits = MAX_TOTAL_PROGRAM_SIZE // size
    alongside = [BlockedTerm("regex", f"{heavy[:-1]}{i}") for i in range(fits)]
    with refused_with("too much work together"):
        validate_regex(r"[a-z]{1,150}y", alongside)
    validate_regex(r"[a-z]{1,150}y", alongside[:-1])
    validate_regex(f"{heavy[:-1]}0", alongside)  # already there: not counted twice


def test_a_pattern_slower_than_the_probe_budget_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(block_regex, "PROBE_BUDGET_SECONDS", 0.0)
    with refused_with("takes too long"):
        validate_regex(r"\bdrill\b")


def test_probe_texts_are_the_longest_ever_searched_and_use_the_patterns_alphabet() -> None:
    texts = probe_texts(r"[ab]*a[ab]{20}")
    assert all(len(text) == block_regex.MAX_TEXT_CHECKED for text in texts)
    assert any(set(text) <= set(b"[]*{}0123456789ab ") for text in texts)


def test_a_stored_regex_that_is_no_longer_allowed_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        policy = PromptPolicy([BlockedTerm("regex", "(?=a)a"), BlockedTerm("word", "nope")])
    assert policy.match("aaaa") is None  # the refused pattern is not run
    assert policy.match("nope nope") == BlockedTerm("word", "nope")  # the rest still works
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "(?=a)a" in warnings[0].getMessage()


def test_stored_regexes_past_the_total_budget_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heavy = [BlockedTerm("regex", rf"[a-z]{{1,150}}q{i}q") for i in range(40)]
    with caplog.at_level(logging.WARNING):
        policy = PromptPolicy(heavy)
    size = compile_regex(heavy[0].pattern).program_size
    kept = MAX_TOTAL_PROGRAM_SIZE // size
    assert policy.match("abcq0q") == heavy[0]
    assert policy.match(f"abcq{kept - 1}q") == heavy[kept - 1]
    assert policy.match(f"abcq{kept}q") is None
    assert len([r for r in caplog.records if "steps together" in r.getMessage()]) == 40 - kept


def test_many_patterns_are_matched_together_and_the_first_in_list_order_wins() -> None:
    terms = [BlockedTerm("regex", rf"\btoken{i}x\b") for i in range(300)]
    terms.append(BlockedTerm("regex", r"token(?:17|250)x"))
    policy = PromptPolicy(terms)
    assert policy.match("a token250x beat") == terms[250]
    assert policy.match("token17x and token250x") == terms[17]
    assert policy.match("token300x") is None
    assert policy.match("mytoken250x") == terms[300]  # only the last one has no \b


def test_words_are_validated() -> None:
    assert validate_word("  bad   word ") == "bad word"
    with pytest.raises(QuotaInputError):
        validate_word("   ")
    with pytest.raises(QuotaInputError):
        validate_word("!!!")
    with pytest.raises(QuotaInputError):
        validate_word("\u200b\u3164")
    with pytest.raises(QuotaInputError):
        validate_word("x" * 101)
