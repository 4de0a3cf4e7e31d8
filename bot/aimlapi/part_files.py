"""A download's temporary files: written beside the destination, moved into place when
complete, and never left behind (a killed process's leftovers go at the next download to the
same file, or with retention's sweep of stale ones)."""

from __future__ import annotations

import contextlib
import glob
import os
import uuid
from pathlib import Path
from typing import BinaryIO

from bot.aimlapi.audio import read_duration

PART_SUFFIX = ".part"  # a download in progress: `.NAME.UUID.part` beside its destination


class PartFile:
    """A download's temporary file. Its methods block (call them in a worker thread); each does
    all the file work of its step at once, so a download costs few thread hops."""

    def __init__(self, dest: Path) -> None:
        self.path = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}{PART_SUFFIX}")
        self._dest = dest
        self._fh: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._discard_leftovers()
            self._fh = self.path.open("wb")
        self._fh.write(data)

    def finish(self, data: bytes, content_type: str, dest: Path) -> float | None:
        """Write the rest, close, read the duration and move the file to `dest`."""
        self.write(data)
        assert self._fh is not None
        self._fh.close()
        duration = read_duration(self.path, content_type)
        os.replace(self.path, dest)
        return duration

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._discard_leftovers()

    def _discard_leftovers(self) -> None:
        """Remove what earlier downloads to the same file left (a killed process cannot):
        done in the hop that first writes, or in the one that discards."""
        for stale in self.path.parent.glob(f".{glob.escape(self._dest.name)}.*{PART_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def remove_stale_part_files(folder: Path, *, older_than: float, now: float) -> tuple[int, int]:
    """Delete the partial downloads in `folder` last written more than `older_than` seconds
    before `now` (left by a crash: a live download writes at least every few seconds and
    gives up after its timeout). Blocking: call it in a worker thread. (count, bytes)."""
    removed = freed = 0
    try:
        candidates = list(folder.glob(f".*{PART_SUFFIX}"))
    except OSError:
        return 0, 0
    for path in candidates:
        with contextlib.suppress(OSError):
            info = path.stat()
            if now - info.st_mtime > older_than:
                path.unlink()
                removed += 1
                freed += info.st_size
    return removed, freed
