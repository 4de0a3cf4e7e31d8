"""What the quota tests share: checking that a moderator's input is refused, and why."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from bot.quota.models import QuotaInputError
from bot.text.quota import input_problem_text


@contextlib.contextmanager
def refused_with(words: str) -> Iterator[None]:
    """The block must raise QuotaInputError, whose message for the moderator has `words`."""
    with pytest.raises(QuotaInputError) as refused:
        yield
    assert words in input_problem_text(refused.value)
