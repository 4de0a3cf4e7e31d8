"""Days and pool periods in UTC. All times are unix seconds; no local time zones anywhere."""

from __future__ import annotations

import math

DAY = 86400


def utc_day(now: float) -> int:
    """The UTC day number (days since 1970-01-01) containing `now`."""
    return math.floor(now / DAY)


def next_utc_midnight(now: float) -> float:
    return float((utc_day(now) + 1) * DAY)


def pool_period(now: float, reset_minute: int) -> int:
    """The number of the daily pool period containing `now` for a reset at `reset_minute` UTC.

    Period n runs from day n at the reset time to day n+1 at the reset time.
    """
    return math.floor((now - reset_minute * 60) / DAY)


def pool_period_start(period: int, reset_minute: int) -> float:
    return float(period * DAY + reset_minute * 60)


def pool_key(now: float, reset_minute: int) -> int:
    """The unix second the pool period containing `now` began: the key its usage is counted
    under. Changing a server's reset time therefore starts a fresh period instead of landing
    in yesterday's (possibly full) one."""
    return int(pool_period_start(pool_period(now, reset_minute), reset_minute))


def next_pool_reset(now: float, reset_minute: int) -> float:
    return pool_period_start(pool_period(now, reset_minute) + 1, reset_minute)


def parse_hhmm(text: str) -> int:
    """ "HH:MM" (24-hour, UTC) -> minutes after midnight. Raises ValueError when malformed."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(text)
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(text)
    return h * 60 + m


def format_hhmm(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
