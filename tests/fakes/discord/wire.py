"""HTTP plumbing shared by the fake's routes: errors, JSON responses, request bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.discord.multipart import MultipartError, parse_multipart

JSON = "application/json"


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Content-Type exactly application/json: discord.py parses nothing else as JSON."""
    response = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, headers=headers
    )
    response.headers["Content-Type"] = JSON
    return response


def error_response(status: int, code: int, message: str) -> web.Response:
    return json_response({"message": message, "code": code}, status)


@dataclass
class RecordedRequest:
    method: str
    path: str
    template: str | None
    status: int = 0
    body: Any = None
    uploads: list[tuple[str, int]] = field(default_factory=list)  # (filename, size)
    authorized: bool = False


RECORD = web.RequestKey("fake_discord_record", RecordedRequest)


@dataclass
class UploadedFile:
    index: int
    filename: str
    content_type: str | None
    data: bytes


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc


async def read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    if not request.can_read_body:
        return None, []
    content_type = request.content_type
    if content_type.startswith("multipart/"):
        payload: Any = None
        files: list[UploadedFile] = []
        try:
            raw = b"".join([chunk async for chunk in request.content.iter_any()])
            parts = parse_multipart(raw, request.headers["Content-Type"])
        except MultipartError as exc:
            raise ApiError(400, 50035, f"Invalid Form Body: {exc}") from exc
        for part in parts:
            if part.name == "payload_json":
                payload = parse_json(part.data)
            elif part.name.startswith("files[") and part.name.endswith("]"):
                index = int(part.name[6:-1])
                name = part.filename or "file"
                files.append(UploadedFile(index, name, part.content_type, part.data))
        return payload, files
    raw_body = await request.read()
    if not raw_body:
        return None, []
    return parse_json(raw_body), []
