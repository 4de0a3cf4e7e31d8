"""What a jam says: nothing a member typed pings or restyles anything, times are Discord
timestamps, and long jams are cut into pages under Discord's limits, each with its marker."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.jams.models import (
    Entry,
    EntryState,
    Jam,
    JamPhase,
    JamSettings,
    JamSnapshot,
    PostKind,
    Round,
)
from bot.text.format import MESSAGE_CHARS
from bot.text.jams import (
    ballot_pages,
    card_text,
    marker,
    results_pages,
    status_text,
    summary_pages,
    thread_name,
)

NASTY = (
    "@everyone <@123456789012345678> <@&456789012345678901> **bold** # heading\nsecond https://x.y"
)


def jam(**changes: object) -> Jam:
    made = Jam(
        id="abcdef0123",
        guild_id=1,
        channel_id=2,
        thread_id=3,
        card_message_id=3,
        host_id=9,
        settings=JamSettings(NASTY, rounds=3, style=NASTY, negative_prompt=NASTY),
        pool_period=0,
        phase=JamPhase.VOTING,
        round=2,
        phase_ends_at=1_800_000_600.0,
        settled=False,
        returned=0,
        end_reason=None,
        created_at=1_800_000_000.0,
        updated_at=1_800_000_000.0,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def entries(count: int, *, round_: int = 1, prompt: str = NASTY) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            job_id=f"job{n:05d}",
            jam_id="abcdef0123",
            round=round_,
            number=n,
            user_id=10_000_000_000 + n,
            display_name=NASTY,
            prompt=prompt * 3,
            final_prompt=prompt,
            negative_prompt=None,
            seed=None,
            riff_of=None,
            state=EntryState.READY,
            audio_path=None,
            created_at=0.0,
            votes=n % 7,
            result_message_id=10_000_000_000 + n,
            result_channel_id=3,
        )
        for n in range(1, count + 1)
    )


def snapshot(count: int, **changes: object) -> JamSnapshot:
    rounds = (Round(1, 1.0, 2.0, 2.0, 3.0, 3.0), Round(2, 3.0, 4.0, 4.0, 1_800_000_600.0))
    return JamSnapshot(jam(**changes), rounds, entries(count), spent=count, voters={1: count})


def assert_harmless(text: str) -> None:
    assert "@everyone" not in text.replace("@\u200beveryone", "")
    assert "<@123456789012345678>" not in text and "<@&456789012345678901>" not in text
    assert "**bold**" not in text and "\n# heading" not in text


def test_the_card_escapes_what_the_host_typed_and_uses_timestamps() -> None:
    text = card_text(snapshot(3))
    assert_harmless(text)
    assert "<t:1800000600:R>" in text and "<t:1800000600:t>" in text
    assert "Round 2 of 3" in text and "<#3>" in text
    assert len(text) <= MESSAGE_CHARS
    assert len(thread_name("x" * 300)) == 100 and "\n" not in thread_name("a\nb")


def test_a_200_member_summary_is_paginated_with_markers() -> None:
    ended = snapshot(200, phase=JamPhase.ENDED, round=1)
    pages = summary_pages(ended)
    assert len(pages) > 1
    for index, page in enumerate(pages, 1):
        assert len(page) <= MESSAGE_CHARS
        assert page.endswith(marker("abcdef0123", PostKind.SUMMARY, 0, index, len(pages)))
        assert_harmless(page)
    listed = [
        line
        for page in pages
        for line in page.splitlines()
        if " votes, " in line or " vote, " in line
    ]
    assert len(listed) == 200


def test_ballots_and_results_fit_discord_for_long_rounds() -> None:
    many = snapshot(45)
    pages = ballot_pages(many, 1, list(many.entries))
    ballots = [text for text, _numbers in pages]
    assert all(len(numbers) <= 20 for _text, numbers in pages)  # Vote buttons per message
    assert [n for _text, numbers in pages for n in numbers] == list(range(1, 46))
    for text, numbers in pages:  # each page lists exactly the entries it has buttons for
        assert [int(n) for n in re.findall(r"\*\*#(\d+)\*\*", text)] == numbers
    results = results_pages(many, 1)
    for page in [*ballots, *results]:
        assert len(page) <= MESSAGE_CHARS
        assert_harmless(page)
    assert "Winner:" in results[0] and "<t:" in ballots[0]
    ranked = [line for page in results for line in page.splitlines() if line[:1].isdigit()]
    assert len(ranked) == 45


def test_status_tells_a_member_their_entries_left() -> None:
    running = replace(snapshot(2), jam=jam(phase=JamPhase.SUBMITTING, round=1))
    text = status_text(running, user_id=10_000_000_001)
    assert "Your entries left this round: 0 of 1" in text
    assert "Budget left: 28 of 30 credits" in text and "submissions open" in text
    assert_harmless(text)
