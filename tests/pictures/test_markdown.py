"""Discord markdown as the picture renderer reads it, and the scene that resolves its ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.pictures.emoji import split_emoji
from tests.pictures.markdown import Span, parse
from tests.pictures.scene import Scene, command_line, relative

POSTED = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
SCENE = Scene(
    author="Lyria Jam",
    author_id=1,
    posted=POSTED,
    users={42: "alice"},
    roles={7: "DJ"},
    channels={9: "music"},
)


def kinds(content: str) -> list[list[tuple[str, str]]]:
    return [[(s.kind, s.text) for s in block.spans] for block in parse(content, SCENE)]


def test_inline_styles_nest_and_escapes_stay_literal() -> None:
    (block,) = parse("**bold _both_** and \\*not\\* ~~gone~~ __under__", SCENE)
    assert block.spans[0] == Span("bold ", bold=True)
    assert block.spans[1] == Span("both", bold=True, italic=True)
    assert "".join(s.text for s in block.spans) == "bold both and *not* gone under"
    assert not any(s.italic for s in block.spans[2:])
    assert Span("gone", strike=True) in block.spans
    assert Span("under", underline=True) in block.spans


def test_mentions_channels_and_roles_use_the_names_the_scene_knows() -> None:
    assert kinds("<@42> in <#9> for <@&7>, <@!42> and <@5>") == [
        [
            ("mention", "@alice"),
            ("text", " in "),
            ("mention", "#music"),
            ("text", " for "),
            ("mention", "@DJ"),
            ("text", ", "),
            ("mention", "@alice"),
            ("text", " and "),
            ("mention", "@unknown-user"),
        ]
    ]


def test_timestamps_are_worded_from_the_time_the_message_was_posted() -> None:
    in_three_hours = int((POSTED + timedelta(hours=3)).timestamp())
    posted = int(POSTED.timestamp())
    assert kinds(f"<t:{in_three_hours}:R> <t:{posted}:t> <t:{posted}:D> <t:{posted}>") == [
        [
            ("timestamp", "in 3 hours"),
            ("text", " "),
            ("timestamp", "14:30"),
            ("text", " "),
            ("timestamp", "30 November 2026"),
            ("text", " "),
            ("timestamp", "30 November 2026 14:30"),
        ]
    ]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (10, "in a few seconds"),
        (-60, "a minute ago"),
        (30 * 60, "in 30 minutes"),
        (80 * 60, "in an hour"),
        (17 * 3600 + 100, "in 17 hours"),
        (-30 * 3600, "a day ago"),
        (5 * 86400, "in 5 days"),
        (400 * 86400, "in a year"),
        (3 * 365 * 86400, "in 3 years"),
    ],
)
def test_relative_times_read_as_discord_words_them(seconds: int, words: str) -> None:
    assert relative(POSTED + timedelta(seconds=seconds), POSTED) == words


def test_blocks_subtext_headings_bullets_quotes_and_code() -> None:
    blocks = parse(
        "# Title\n-# small print\n- item\n> quoted\nplain\n>>> all\nthe rest\n```py\nx = 1\n```",
        SCENE,
    )
    assert [(b.kind, b.quote, b.bullet) for b in blocks] == [
        ("h1", False, False),
        ("subtext", False, False),
        ("text", False, True),
        ("text", True, False),
        ("text", False, False),
        ("text", True, False),
        ("text", True, False),
        ("code", True, False),
    ]
    assert blocks[-1].spans == (Span("x = 1", "code"),)
    assert [s.text for s in blocks[1].spans] == ["small print"]


def test_links_code_and_custom_emoji() -> None:
    assert kinds("see <https://a.example/x> or https://b.example/y. `a **b**` <:jam:123>") == [
        [
            ("text", "see "),
            ("link", "https://a.example/x"),
            ("text", " or "),
            ("link", "https://b.example/y"),
            ("text", ". "),
            ("code", "a **b**"),
            ("text", " "),
            ("text", ":jam:"),
        ]
    ]
    assert kinds("[the file](https://c.example/f.wav)") == [[("link", "the file")]]


def test_emoji_are_cut_out_with_their_selectors_tones_and_joins() -> None:
    assert split_emoji("🎟️ You can → go ✏️!") == [
        ("🎟️", True),
        (" You can → go ", False),
        ("✏️", True),
        ("!", False),
    ]
    assert split_emoji("👍🏽👩‍👩‍👧") == [("👍🏽", True), ("👩‍👩‍👧", True)]
    assert kinds("⚠️ **Careful**") == [[("emoji", "⚠️"), ("text", " "), ("text", "Careful")]]


def test_the_command_line_names_the_subcommands_chosen() -> None:
    data = {
        "name": "quota",
        "options": [
            {"type": 2, "name": "block", "options": [{"type": 1, "name": "add", "options": []}]}
        ],
    }
    assert command_line(data) == "quota block add"
    assert command_line({"name": "compose", "options": [{"type": 3, "name": "prompt"}]}) == (
        "compose"
    )
