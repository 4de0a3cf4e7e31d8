"""A small multipart/form-data parser over the whole body (much faster than streaming parts)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

_PARAM = re.compile(r';\s*([\w*]+)=(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


class MultipartError(ValueError):
    pass


def parse_multipart(body: bytes, content_type_header: str) -> list[Part]:
    match = re.search(r'boundary="?([^";]+)"?', content_type_header)
    if match is None:
        raise MultipartError("multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise MultipartError("multipart body without parts")
    parts: list[Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep or not data.endswith(b"\r\n"):
            raise MultipartError("malformed multipart part")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        params = {
            key.lower(): (quoted if quoted is not None else bare or "").replace('\\"', '"')
            for key, quoted, bare in _PARAM.findall(headers.get("content-disposition", ""))
        }
        filename = params.get("filename")
        if "filename*" in params:
            _, _, encoded = params["filename*"].partition("''")
            filename = urllib.parse.unquote(encoded)
        parts.append(Part(params.get("name", ""), filename, headers.get("content-type"), data[:-2]))
    return parts
