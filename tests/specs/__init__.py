"""Copies of the official API descriptions the fakes validate against.

They are vendored so that a clean clone tests itself with nothing beside it: `api/` holds the
AI/ML API's OpenAPI files for Lyria 2, `discord-api-spec/` Discord's (each folder's SOURCES.md says
where they come from). `LYRIA_SHARED_DIR` points the fakes at another copy with the same layout,
e.g. a newer snapshot; tests/test_specs.py says when the copy here drifts from the shared one.
"""

from __future__ import annotations

import os
from pathlib import Path

VENDORED_DIR = Path(__file__).resolve().parent


def spec_dir() -> Path:
    """The folder holding `api/` and `discord-api-spec/`."""
    override = os.environ.get("LYRIA_SHARED_DIR")
    return Path(override) if override else VENDORED_DIR
