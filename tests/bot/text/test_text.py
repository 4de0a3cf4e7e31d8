"""The texts and embeds members read, checked without Discord."""

from __future__ import annotations

import time

import pytest

from bot.jobs.models import ErrorKind, Job, JobState, Phase, Progress
from bot.jobs.request import NEGATIVE_PROMPT_MAX_CHARS, validate_request
from bot.quota.models import Limit, Refusal
from bot.text.failures import failure_text
from bot.text.format import fit_message, format_bytes, format_seconds, safe_text, truncate
from bot.text.refusals import refusal_text
from bot.text.requests import invalid_request_text
from bot.text.result import audio_filename, result_content, result_embed
from bot.text.status import EMPTY, progress_bar, status_text


def make_job(**overrides: object) -> Job:
    now = time.time()
    values: dict[str, object] = {
        "id": "abcdef012345",
        "state": JobState.COMPLETED,
        "prompt": "calm lo-fi piano",
        "negative_prompt": None,
        "seed": 42,
        "model": "google/lyria2",
        "requester_id": "123456789012345678",
        "guild_id": "1",
        "channel_id": "2",
        "origin": "discord",
        "context": {},
        "created_at": now - 40,
        "updated_at": now,
        "deadline_at": now + 600,
        "audio_size_bytes": 5_300_000,
        "audio_duration_seconds": 32.8,
        "audio_content_type": "audio/wav",
    }
    values.update(overrides)
    return Job(**values)  # type: ignore[arg-type]


def test_safe_text_defuses_mentions_markdown_and_newlines() -> None:
    raw = "hey @everyone and @here **loud**\n\n# Heading `code` <@&123456789012345678>"
    text = safe_text(raw, 200)
    assert "@everyone" not in text and "@here" not in text
    assert "\n" not in text
    assert "\\*\\*loud\\*\\*" in text
    assert "\\`code\\`" in text
    assert safe_text("# Heading", 50).startswith("\\#")
    assert safe_text("-# small", 50).startswith("\\-")
    assert "<@&123456789012345678>" not in text


@pytest.mark.parametrize("limit", [1, 2, 5, 17, 100])
def test_safe_text_respects_limit_even_when_escaping_lengthens(limit: int) -> None:
    text = safe_text("*_~`|>" * 40, limit)
    assert len(text) <= limit
    assert not text.rstrip("…").endswith("\\") or text.rstrip("…").endswith("\\\\")


def test_truncate_marks_the_cut() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 4) == "abc"


def test_formatting_helpers() -> None:
    assert format_seconds(45) == "45 s"
    assert format_seconds(185) == "3 min 5 s"
    assert format_seconds(3720) == "1 h 2 min"
    assert format_bytes(512) == "512 B"
    assert format_bytes(5_300_000) == "5.1 MiB"


def test_status_text_shows_phase_position_seed_and_the_pool_only() -> None:
    progress = Progress(
        job_id="j", phase=Phase.QUEUED, elapsed=12.3, queue_position=3, estimate_remaining=44
    )
    text = status_text(
        prompt="calm piano", phase=progress.phase, progress=progress, seed=42, pool_remaining=49
    )
    assert text.startswith("⏳ **Queued (position 3)**")
    assert "seed 42" in text and "server pool: 49 tracks left today" in text
    assert "You have" not in text  # the member's own numbers are never public
    assert len(text) < 2000


def test_queued_without_a_line_says_starting_and_the_cancel_window_counts_down() -> None:
    straight = Progress(job_id="j", phase=Phase.QUEUED, elapsed=0.0)
    assert status_text(prompt="p", phase=Phase.QUEUED, progress=straight).startswith(
        "⏳ **Starting**\n"
    )
    held = Progress(job_id="j", phase=Phase.QUEUED, elapsed=0.0, starts_at=1_700_000_004.6)
    text = status_text(prompt="p", phase=Phase.QUEUED, progress=held)
    assert "<t:1700000004:R>" in text and "Cancel" in text


def test_the_progress_bar_fills_against_the_estimate_and_rounds_the_time_left() -> None:
    def at(elapsed: float, remaining: float | None) -> str:
        progress = Progress(
            job_id="j",
            phase=Phase.GENERATING,
            elapsed=elapsed,
            provider_status="generating",
            estimate_remaining=remaining,
        )
        return status_text(prompt="p", phase=progress.phase, progress=progress).split("\n")[1]

    assert at(10.0, 30.0) == "▰▰▱▱▱▱▱▱ ~30 s left"
    assert at(30.0, 10.0) == "▰▰▰▰▰▰▱▱ ~10 s left"
    assert at(31.0, 9.0) == at(30.0, 10.0)  # a second later: the same text, no edit
    assert at(20.0, 150.0) == "▱▱▱▱▱▱▱▱ ~3 min left"
    assert at(80.0, None) == "▰▰▰▰▰▰▰▱ any moment now"  # past every known time
    assert progress_bar(1.0).count(EMPTY) == 1  # never full before the track is there


def test_result_embed_fields_and_escaping() -> None:
    job = make_job(prompt="**bold** @everyone", negative_prompt="drums")
    embed = result_embed(job)
    fields = {field.name: field.value for field in embed.fields}
    assert embed.description is not None and "@everyone" not in embed.description
    assert "\\*\\*bold\\*\\*" in embed.description
    # Plain words: no model, job id or size; a short reference in the footer.
    assert fields == {"Leaving out": "drums", "Seed": "`42`", "Length": "33 s"}
    assert embed.footer.text == "ref abcdef · made with Lyria 2"
    assert len(embed) <= 6000


def test_result_embed_fits_limits_with_huge_prompts() -> None:
    job = make_job(prompt="<" * 600, negative_prompt="*" * 300)
    embed = result_embed(job)
    assert embed.description is not None and len(embed.description) <= 4096
    assert all(len(str(field.value)) <= 1024 for field in embed.fields)


def test_result_content_pings_and_explains_links() -> None:
    assert result_content(7).startswith("<@7> ")
    text = result_content(7, link="https://cdn.example/a.wav", reason="it is 12.0 MiB")
    assert "<https://cdn.example/a.wav>" in text and "it is 12.0 MiB" in text


def test_result_link_cannot_break_out_of_its_brackets_or_the_message() -> None:
    odd = "https://cdn.example/a b>c\n`x`.wav?sig=1&t=2"
    text = result_content(7, link=odd, reason="over the limit")
    link = text.split("<", 2)[2].split(">", 1)[0]
    assert link == "https://cdn.example/a%20b%3Ec%0A%60x%60.wav?sig=1&t=2"
    assert text.count("\n") == 2  # the ping line, the link line, the expiry note
    huge = result_content(7, link="https://cdn.example/" + "a" * 3000)
    assert len(huge) <= 2000 and "too long to post" in huge and "aaaa" not in huge


def test_fit_message_keeps_content_within_a_bots_2000_characters() -> None:
    assert fit_message("short") == "short"
    cut = fit_message("y" * 2500)
    assert len(cut) == 2000 and cut.endswith("…")


def test_failure_texts_are_polite_and_specific() -> None:
    failed = make_job(
        state=JobState.FAILED,
        error_kind=ErrorKind.PROVIDER_FAILED,
        error_detail="prompt blocked by *policy* @everyone",
        submitted_at=time.time() - 30,
    )
    text = failure_text(failed)
    assert "could not make this track" in text and "\\*policy\\*" in text
    assert "@everyone" not in text
    assert "> calm lo-fi piano" in text and "used one track of your allowance" in text
    account = make_job(
        state=JobState.FAILED, error_kind=ErrorKind.OUT_OF_CREDITS, error_detail="403 xyz"
    )
    assert "API account has a problem" in failure_text(account)
    assert "403" not in failure_text(account)
    assert "in time" in failure_text(make_job(state=JobState.TIMED_OUT))
    cancelled = make_job(state=JobState.CANCELLED, cancelled_by="99")
    assert "Cancelled** by <@99>" in failure_text(cancelled)
    assert "Nothing was used" in failure_text(cancelled)
    refused = make_job(state=JobState.FAILED, error_kind=ErrorKind.BAD_REQUEST, submitted_at=None)
    assert "Nothing was used" in failure_text(refused)
    assert "owner has been told" in failure_text(account)
    assert "let the bot's owner know" in failure_text(account, owners_told=False)


def test_validation_messages() -> None:
    def said(prompt: str, negative: str | None, seed: int | None) -> str | None:
        invalid = validate_request(prompt, negative, seed)
        return None if invalid is None else invalid_request_text(invalid)

    assert "cannot be empty" in (said("  ", None, None) or "")
    assert "601 characters" in (said("x" * 601, None, None) or "")
    longest = NEGATIVE_PROMPT_MAX_CHARS
    assert said("x" * 600, "y" * longest, 2**32 - 1) is None
    assert f"at most {longest}" in (said("x", "y" * (longest + 1), None) or "")
    assert "from 0 to 4294967295" in (said("x", None, -1) or "")


def test_refusal_text_includes_live_timestamp() -> None:
    window = Refusal(Limit.MEMBER_WINDOW, 1700000000.4, allowance=5, window_seconds=3600)
    assert refusal_text(window).endswith("<t:1700000000:R>.")
    assert "5 tracks per hour" in refusal_text(window)
    assert refusal_text(Refusal(Limit.PAUSED)).endswith("Please try again later.")


def test_every_refusal_has_its_own_words() -> None:
    texts = {refusal_text(Refusal(limit, allowance=2)) for limit in Limit}
    assert len(texts) == len(Limit) and all(text.endswith(".") for text in texts)


def test_every_failure_kind_reads_as_a_sentence_without_internals() -> None:
    for kind in ErrorKind:
        text = failure_text(make_job(state=JobState.FAILED, error_kind=kind, error_detail=None))
        assert text[0] in "❌⚠️" and text.endswith(".") and kind.value not in text


def test_files_are_named_after_the_prompt_and_the_seed() -> None:
    named = make_job(prompt="Warm analog Synthwave! (night drive)", seed=42)
    assert audio_filename(named) == "warm-analog-synthwave-night-drive-seed42.wav"
    assert audio_filename(make_job(prompt="Café — 夜", seed=1)) == "cafe-seed1.wav"
    assert audio_filename(make_job(prompt="!!!", seed=None)) == "track.wav"
    long = make_job(prompt="word " * 40, seed=3)
    assert audio_filename(long) == "word-word-word-word-word-word-seed3.wav"


def test_help_names_the_commands_gives_examples_and_the_limits_in_numbers() -> None:
    from bot.jobs.request import PROMPT_MAX_CHARS
    from bot.quota.models import Remaining
    from bot.text.help import help_text

    text = help_text()
    assert "/compose" in text and "/quota me" in text and "/history" in text
    assert f"up to {PROMPT_MAX_CHARS} characters" in text and "Cancel" in text
    assert text.count("`/compose prompt:") >= 3  # examples to copy
    mine = help_text(Remaining(member_remaining=4, pool_remaining=46, next_reset_at=1.7e9))
    assert "4 more tracks right now" in mine and "46 tracks left today" in mine
    assert len(mine) <= 2000
