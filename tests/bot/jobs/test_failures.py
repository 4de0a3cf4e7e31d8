"""How a provider failure is recorded on a job: a kind for every error, the provider's words."""

from __future__ import annotations

import inspect

from bot.aimlapi import errors
from bot.aimlapi.errors import AimlApiError
from bot.jobs.failures import DETAIL_CHARS, error_detail, error_kind
from bot.jobs.models import ErrorKind


def concrete_errors() -> list[type[AimlApiError]]:
    abstract = {AimlApiError, errors.AccountProblem}
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, AimlApiError) and cls not in abstract
    ]


def test_every_provider_error_has_a_kind_of_its_own_but_a_503_is_a_server_error() -> None:
    kinds = {}
    for cls in concrete_errors():
        exc = cls("x", reason="gone") if cls is errors.DownloadError else cls("x")
        kinds[cls.__name__] = error_kind(exc)
    assert ErrorKind.OTHER not in kinds.values()
    assert kinds["ServiceUnavailable"] is ErrorKind.SERVER_ERROR
    assert kinds["ConnectionFailed"] is ErrorKind.UNREACHABLE  # not its base, ServerError
    others = {name: kind for name, kind in kinds.items() if name != "ServiceUnavailable"}
    assert len(set(others.values())) == len(others)


def test_account_problem_kinds_match_the_account_problem_errors() -> None:
    for cls in concrete_errors():
        if cls is errors.DownloadError:
            continue
        assert error_kind(cls("x")).account_problem == cls.account_problem


def test_kinds_read_back_from_old_rows_and_unknown_ones_are_other() -> None:
    assert ErrorKind("GenerationFailed") is ErrorKind.PROVIDER_FAILED  # as stored before
    assert ErrorKind("Timeout") is ErrorKind.TIMED_OUT
    assert ErrorKind("SomethingNew") is ErrorKind.OTHER


def test_the_detail_is_the_providers_words_on_one_line_and_bounded() -> None:
    failed = errors.GenerationFailed("HTTP 200 error", provider_message="prompt:\n  was flagged")
    assert error_detail(failed) == "prompt: was flagged"
    long = errors.BadRequest("400", provider_message="x" * 1000)
    assert error_detail(long) == "x" * DETAIL_CHARS
    assert error_detail(errors.DownloadError("cdn said 410", reason="gone")) == "gone"
    assert error_detail(errors.ServerError("HTTP 502 with a secret body")) is None
