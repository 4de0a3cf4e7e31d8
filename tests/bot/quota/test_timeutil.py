"""UTC days, pool periods around a server's reset time, HH:MM parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.quota.timeutil import (
    format_hhmm,
    next_pool_reset,
    next_utc_midnight,
    parse_hhmm,
    pool_period,
    pool_period_start,
    utc_day,
)

DAY0 = datetime(2026, 11, 25, tzinfo=UTC).timestamp()


def test_pool_periods_turn_over_exactly_at_the_reset_time() -> None:
    reset = 6 * 60 + 30
    before = DAY0 + 6 * 3600 + 29 * 60 + 59
    at = DAY0 + 6 * 3600 + 30 * 60
    assert pool_period(at, reset) == pool_period(before, reset) + 1
    assert pool_period_start(pool_period(at, reset), reset) == at
    assert next_pool_reset(before, reset) == at
    assert next_pool_reset(at, reset) == at + 86400


def test_midnight_reset_matches_the_utc_day() -> None:
    for offset in (0, 1, 43200, 86399):
        assert pool_period(DAY0 + offset, 0) == utc_day(DAY0 + offset)
    assert next_utc_midnight(DAY0) == DAY0 + 86400
    assert next_utc_midnight(DAY0 - 0.5) == DAY0


@pytest.mark.parametrize(("text", "minute"), [("00:00", 0), ("6:30", 390), ("23:59", 1439)])
def test_parse_hhmm(text: str, minute: int) -> None:
    assert parse_hhmm(text) == minute
    assert parse_hhmm(format_hhmm(minute)) == minute


@pytest.mark.parametrize("text", ["24:00", "12:60", "1230", "12:5", "ab:cd", "-1:00", ""])
def test_parse_hhmm_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_hhmm(text)
