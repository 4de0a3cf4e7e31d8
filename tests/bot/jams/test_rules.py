"""The jam's pure rules: settings, ranking with ties, standings, steps at deadlines, who may do
what, and how the style shares the prompt's room."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.jams.models import (
    EndReason,
    Entry,
    EntryState,
    Jam,
    JamPhase,
    JamSettings,
    PostKind,
)
from bot.jams.rules import (
    JamRules,
    SettingsProblem,
    final_prompt,
    may_close,
    may_export,
    may_host,
    rank_entries,
    standings,
    style_room,
    validate_settings,
    winners,
)
from bot.jobs.request import PROMPT_MAX_CHARS


def entry(number: int, user: int, votes: int, *, round_: int = 1, **changes: object) -> Entry:
    made = Entry(
        job_id=f"job{number}",
        jam_id="j",
        round=round_,
        number=number,
        user_id=user,
        display_name=f"m{user}",
        prompt="p",
        final_prompt="p",
        negative_prompt=None,
        seed=None,
        riff_of=None,
        state=EntryState.READY,
        audio_path=None,
        created_at=0.0,
        votes=votes,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def jam(**changes: object) -> Jam:
    made = Jam(
        id="j",
        guild_id=1,
        channel_id=2,
        thread_id=3,
        card_message_id=3,
        host_id=9,
        settings=JamSettings("t", rounds=2),
        pool_period=0,
        phase=JamPhase.SUBMITTING,
        round=1,
        phase_ends_at=100.0,
        settled=False,
        returned=0,
        end_reason=None,
        created_at=0.0,
        updated_at=0.0,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_ties_share_a_rank_and_keep_entry_order() -> None:
    ranked = rank_entries([entry(1, 10, 2), entry(2, 11, 5), entry(3, 12, 2), entry(4, 13, 0)])
    assert [(r.entry.number, r.rank) for r in ranked] == [(2, 1), (1, 2), (3, 2), (4, 4)]
    tied = rank_entries([entry(1, 10, 3), entry(2, 11, 3)])
    assert [w.entry.number for w in winners(tied)] == [1, 2]
    assert winners(rank_entries([entry(1, 10, 0)])) == []  # no votes, no winner


def test_failed_and_refunded_entries_are_not_ranked() -> None:
    ranked = rank_entries(
        [entry(1, 10, 4, state=EntryState.FAILED), entry(2, 11, 1), entry(3, 12, 9, counted=False)]
    )
    assert [r.entry.number for r in ranked] == [2]


def test_standings_add_votes_over_rounds_then_rounds_won() -> None:
    entries = [
        entry(1, 10, 3),
        entry(2, 11, 1),
        entry(3, 10, 0, round_=2),
        entry(4, 11, 2, round_=2),
        entry(5, 12, 0, round_=2),
    ]
    table = standings(entries, [1, 2])
    assert [(s.user_id, s.votes, s.entries, s.wins, s.rank) for s in table] == [
        (10, 3, 2, 1, 1),
        (11, 3, 2, 1, 1),
        (12, 0, 1, 0, 3),
    ]


def test_settings_bounds() -> None:
    assert validate_settings(JamSettings("night drive")) is None
    cases = [
        (JamSettings("\u200b "), SettingsProblem.THEME_EMPTY),
        (JamSettings("t" * 201), SettingsProblem.THEME_TOO_LONG),
        (JamSettings("t", rounds=11), SettingsProblem.ROUNDS),
        (JamSettings("t", round_seconds=30), SettingsProblem.ROUND_MINUTES),
        (JamSettings("t", vote_seconds=25 * 3600), SettingsProblem.VOTE_MINUTES),
        (JamSettings("t", entries_per_round=0), SettingsProblem.ENTRIES),
        (JamSettings("t", budget=0), SettingsProblem.BUDGET),
        (JamSettings("t", style="s" * 201), SettingsProblem.STYLE_TOO_LONG),
    ]
    for settings, problem in cases:
        refused = validate_settings(settings)
        assert refused is not None and refused.problem is problem


def test_the_style_takes_its_room_from_the_prompt() -> None:
    assert final_prompt("rain", "lo-fi") == "rain, lo-fi"
    assert final_prompt("rain", None) == "rain"
    assert style_room(None) == PROMPT_MAX_CHARS
    room = style_room("lo-fi")
    assert len(final_prompt("x" * room, "lo-fi")) == PROMPT_MAX_CHARS


@pytest.mark.parametrize(
    ("phase", "round_", "entries", "expected"),
    [
        (JamPhase.SUBMITTING, 1, 3, (JamPhase.VOTING, 1, (PostKind.BALLOT,))),
        (JamPhase.SUBMITTING, 1, 0, (JamPhase.SUBMITTING, 2, (PostKind.RESULTS, PostKind.OPEN))),
        (JamPhase.VOTING, 1, 3, (JamPhase.SUBMITTING, 2, (PostKind.RESULTS, PostKind.OPEN))),
        (
            JamPhase.VOTING,
            2,
            3,
            (
                JamPhase.ENDED,
                2,
                (PostKind.RESULTS, PostKind.SUMMARY, PostKind.ANNOUNCE, PostKind.ARCHIVE),
            ),
        ),
    ],
)
def test_what_a_deadline_does(
    phase: JamPhase, round_: int, entries: int, expected: tuple[JamPhase, int, tuple[PostKind, ...]]
) -> None:
    step = JamRules().step_after_deadline(jam(phase=phase, round=round_), entries, now=500.0)
    assert step is not None and (step.phase, step.round, step.posts) == expected
    if step.phase is not JamPhase.ENDED:
        assert step.ends_at is not None and step.ends_at > 500.0
    assert JamRules().step_after_deadline(jam(phase=JamPhase.ENDED), 0, now=1.0) is None


def test_endings() -> None:
    rules = JamRules()
    submitting = rules.step_to_end(jam(), EndReason.ENDED, 1.0)
    assert submitting.posts == (PostKind.SUMMARY, PostKind.ANNOUNCE, PostKind.ARCHIVE)
    voting = rules.step_to_end(jam(phase=JamPhase.VOTING), EndReason.ENDED, 1.0)
    assert voting.posts[0] is PostKind.RESULTS and voting.phase is JamPhase.ENDED
    cancelled = rules.step_to_end(jam(), EndReason.CANCELLED, 1.0)
    assert cancelled.phase is JamPhase.CANCELLED and PostKind.SUMMARY not in cancelled.posts
    assert rules.step_to_end(jam(), EndReason.START_FAILED, 1.0).posts == ()


def test_who_may_do_what() -> None:
    assert may_host(is_moderator=True, role_ids=[], host_role_id=None)
    assert may_host(is_moderator=False, role_ids=[5], host_role_id=5)
    assert not may_host(is_moderator=False, role_ids=[5], host_role_id=None)
    running = jam()
    assert may_close(running, 9, is_moderator=False) and not may_close(
        running, 8, is_moderator=False
    )
    assert may_close(running, 8, is_moderator=True)
    assert not may_export(running, 8, is_moderator=False)
    assert may_export(jam(phase=JamPhase.ENDED), 8, is_moderator=False)
