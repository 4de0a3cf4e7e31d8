"""File-system facts put in words for settings that name a path (DATABASE_PATH, AUDIO_DIR)."""

from __future__ import annotations

from pathlib import Path


def blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` (or `path` itself) when it is not a folder:
    what stops `path.mkdir(parents=True)` with a bare "File exists" / "Not a directory"."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def folder_error(path: Path, error: OSError) -> str:
    """Why the folder `path` cannot be created, in one line."""
    blocker = blocking_file(path)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    return error.strerror or str(error)
