from __future__ import annotations

from bot.audio.tags import AI_NOTE, TITLE_CHARS, build_tags, one_line, shorten, software_name
from tests.audio_support import provenance


def test_tags_carry_prompt_negative_prompt_seed_model_job_and_ai_note() -> None:
    tags = build_tags(provenance())

    assert tags.title == "A calm lo-fi piano over rain, warm bass, soft brushed drums"
    assert tags.comment.splitlines() == [
        "Prompt: A calm lo-fi piano over rain, warm bass, soft brushed drums",
        "Negative prompt: vocals",
        "Seed: 42",
        "Model: google/lyria2",
        "Job: a1b2c3d4e5f6",
        AI_NOTE,
    ]
    assert AI_NOTE == "AI-generated with Lyria 2"
    assert tags.date == "2026-11-25"
    assert tags.software == software_name()
    assert tags.software.startswith("lyria-jam-bot ")


def test_random_seed_and_no_negative_prompt() -> None:
    tags = build_tags(provenance(seed=None, negative_prompt="   "))

    assert "Seed: random" in tags.comment
    assert "Negative prompt" not in tags.comment


def test_long_prompt_is_shortened_at_a_word_in_the_title_but_kept_in_the_comment() -> None:
    prompt = "epic orchestral " * 30
    tags = build_tags(provenance(prompt=prompt))

    assert len(tags.title) <= TITLE_CHARS
    assert tags.title.endswith("…")
    assert tags.title[:-1].rstrip() in prompt  # cut between words, not inside one
    assert prompt.strip() in tags.comment


def test_control_characters_from_the_prompt_never_reach_the_tags() -> None:
    tags = build_tags(provenance(prompt="line one\r\nline\x00two\ttab\u202e", job_id="j\n1"))

    assert tags.title == "line one line two tab"
    assert "\x00" not in tags.comment and "\r" not in tags.comment and "\u202e" not in tags.comment
    assert "Job: j 1" in tags.comment.splitlines()


def test_empty_prompt_gets_a_title() -> None:
    assert build_tags(provenance(prompt="\n\n")).title == "Untitled"


def test_shorten_and_one_line() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("abcdefghijkl", 5) == "abcd…"
    assert one_line("  a \n\n b  ") == "a b"
