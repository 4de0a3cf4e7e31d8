"""Output files that are never half-written, and names that say what went into them.

Every output is written to a hidden temporary name in the same folder, flushed to disk, then
renamed into place, so a file under its final name is complete. The final name carries a short
content key (a hash of the source bytes and every setting that shapes the output): a file that
already exists under its key is exactly what would be made again, so a re-run reuses it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

# Bump when a change to this package changes what an output file contains.
OUTPUT_VERSION = "1"
KEY_CHARS = 12
_HASH_BLOCK = 1 << 20


def source_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (hashlib releases the GIL on large blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def content_key(*parts: str) -> str:
    digest = hashlib.sha256("\x1e".join((OUTPUT_VERSION, *parts)).encode("utf-8"))
    return digest.hexdigest()[:KEY_CHARS]


def output_path(out_dir: Path, stem: str, key: str, extension: str) -> Path:
    return out_dir / f"{stem}.{key}.{extension}"


def existing_output(path: Path) -> bool:
    """A complete output is there (only complete files ever get a final name)."""
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` with a file object on a temporary name, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_beside(path) as temp:
        with temp.open("wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)


def produce_atomically(path: Path, make: Callable[[Path], None]) -> None:
    """Like `write_atomically` for writers that want a path (libsndfile, Pillow)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_beside(path) as temp:
        make(temp)
        with temp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(temp, path)


STALE_TEMPORARY_SECONDS = 3600.0


def remove_stale_temporaries(
    out_dir: Path, stem: str, *, older_than: float = STALE_TEMPORARY_SECONDS
) -> int:
    """Remove temporary files of `stem` left by a crash (old enough that no worker is still
    writing them); returns how many."""
    removed = 0
    try:
        candidates = list(out_dir.glob(f".{glob.escape(stem)}.*.tmp"))
    except OSError:
        return 0
    now = time.time()
    for path in candidates:
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > older_than:
                path.unlink()
                removed += 1
    return removed


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
