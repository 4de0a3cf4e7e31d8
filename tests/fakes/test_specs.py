"""The vendored API descriptions stay byte-for-byte copies of the shared originals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.specs import VENDORED_DIR

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
FILES = ["api/Lyria-2.json", "api/universal-audio-fetch.json", "discord-api-spec/openapi.json"]


@pytest.mark.parametrize("name", FILES)
def test_vendored_spec_is_present_and_parses(name: str) -> None:
    data = json.loads((VENDORED_DIR / name).read_text(encoding="utf-8"))
    assert data["openapi"].startswith("3.")
    assert data["paths"]


@pytest.mark.parametrize("name", FILES)
def test_vendored_spec_matches_the_shared_copy(name: str) -> None:
    original = SHARED / name
    if not original.is_file():
        pytest.skip("no shared folder beside this checkout (a clean CI clone)")
    assert (VENDORED_DIR / name).read_bytes() == original.read_bytes()
