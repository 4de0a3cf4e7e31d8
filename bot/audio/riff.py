"""Tag a WAV at the byte level: a RIFF LIST/INFO chunk goes in before `data`, and every other
chunk, the `data` chunk above all, is copied byte for byte. The samples cannot change, so
Lyria's SynthID watermark is untouched.

An existing LIST/INFO chunk is replaced (ours describes the piece); other chunks stay in order.
A `data` size of 0 or 0xFFFFFFFF (a streamed WAV) or one past the end of the file is taken as
"up to the end of the file", as readers do; the copy then states the real size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.audio.tags import TagSet

MAX_CHUNKS = 256
_COPY_BLOCK = 1 << 20


class RiffError(ValueError):
    """The file is not a RIFF/WAVE file we can walk."""


@dataclass(frozen=True)
class Chunk:
    id: bytes
    offset: int  # of the chunk's 8-byte header in the file
    size: int  # payload bytes (without the pad byte)

    @property
    def payload_offset(self) -> int:
        return self.offset + 8

    @property
    def is_info_list(self) -> bool:
        return self.id == b"LIST" and self.size >= 4


def read_chunks(path: Path) -> list[Chunk]:
    """The top-level chunks of a RIFF/WAVE file, up to and including `data` and after it."""
    file_size = path.stat().st_size
    chunks: list[Chunk] = []
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise RiffError("not a RIFF/WAVE file")
        offset = 12
        while offset + 8 <= file_size:
            if len(chunks) >= MAX_CHUNKS:
                raise RiffError("too many chunks")
            fh.seek(offset)
            header = fh.read(8)
            chunk_id, size = header[:4], int.from_bytes(header[4:], "little")
            remaining = file_size - offset - 8
            if chunk_id == b"data" and (size in (0, 0xFFFFFFFF) or size > remaining):
                size = remaining
            elif size > remaining:
                raise RiffError(f"chunk {chunk_id!r} runs past the end of the file")
            chunks.append(Chunk(chunk_id, offset, size))
            offset += 8 + size + (size & 1)
    if not any(c.id == b"fmt " for c in chunks) or not any(c.id == b"data" for c in chunks):
        raise RiffError("no fmt or data chunk")
    return chunks


def _is_info(path_fh: BinaryIO, chunk: Chunk) -> bool:
    if not chunk.is_info_list:
        return False
    path_fh.seek(chunk.payload_offset)
    return path_fh.read(4) == b"INFO"


def info_chunk(tags: TagSet) -> bytes:
    """A LIST/INFO chunk with INAM, ICMT, ISFT, ICRD (UTF-8, NUL-terminated, even-padded)."""
    body = b"INFO"
    for field_id, text in (
        (b"INAM", tags.title),
        (b"ICMT", tags.comment),
        (b"ISFT", tags.software),
        (b"ICRD", tags.date),
    ):
        value = text.encode("utf-8", "replace").replace(b"\x00", b"") + b"\x00"
        body += (
            field_id + struct.pack("<I", len(value)) + value + (b"\x00" if len(value) & 1 else b"")
        )
    return b"LIST" + struct.pack("<I", len(body)) + body


@dataclass(frozen=True)
class TaggedWavPlan:
    """How the tagged copy of `source` is laid out; its size is known before writing."""

    source: Path
    chunks: tuple[Chunk, ...]  # the chunks to keep, in order
    info: bytes

    @property
    def size_bytes(self) -> int:
        total = 12 + len(self.info)
        for chunk in self.chunks:
            total += 8 + chunk.size + (chunk.size & 1)
        return total

    @property
    def data_chunk(self) -> Chunk:
        return next(c for c in self.chunks if c.id == b"data")

    def write_to(self, out: BinaryIO) -> None:
        riff_size = self.size_bytes - 8
        if riff_size > 0xFFFFFFFF:
            raise RiffError("too large for a RIFF file")
        out.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
        with self.source.open("rb") as src:
            for chunk in self.chunks:
                if chunk.id == b"data":
                    out.write(self.info)
                out.write(chunk.id + struct.pack("<I", chunk.size))
                src.seek(chunk.payload_offset)
                _copy_exactly(src, out, chunk.size)
                if chunk.size & 1:
                    out.write(b"\x00")


def plan_tagged_wav(source: Path, tags: TagSet) -> TaggedWavPlan:
    chunks = read_chunks(source)
    with source.open("rb") as fh:
        kept = tuple(c for c in chunks if not _is_info(fh, c))
    return TaggedWavPlan(source=source, chunks=kept, info=info_chunk(tags))


def read_info(path: Path) -> dict[str, str]:
    """The fields of a WAV's LIST/INFO chunk (`{"INAM": ...}`), decoded as UTF-8."""
    fields: dict[str, str] = {}
    with path.open("rb") as fh:
        for chunk in read_chunks(path):
            if not _is_info(fh, chunk):
                continue
            fh.seek(chunk.payload_offset + 4)
            body = fh.read(chunk.size - 4)
            pos = 0
            while pos + 8 <= len(body):
                field_id = body[pos : pos + 4].decode("latin-1")
                size = int.from_bytes(body[pos + 4 : pos + 8], "little")
                value = body[pos + 8 : pos + 8 + size]
                fields[field_id] = value.split(b"\x00", 1)[0].decode("utf-8", "replace")
                pos += 8 + size + (size & 1)
    return fields


def _copy_exactly(src: BinaryIO, out: BinaryIO, size: int) -> None:
    left = size
    while left:
        block = src.read(min(left, _COPY_BLOCK))
        if not block:
            raise RiffError("file shrank while copying")
        out.write(block)
        left -= len(block)
