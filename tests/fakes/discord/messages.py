"""Message bodies: applying a create/edit body and its uploads to a FakeMessage, and the limits
Discord enforces on them beyond what its OpenAPI spec says."""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING, Any

from tests.fakes.discord.state import FakeAttachment, FakeMessage
from tests.fakes.discord.wire import ApiError, UploadedFile

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord


def apply_body(
    fake: FakeDiscord,
    message: FakeMessage,
    body: dict[str, Any],
    files: list[UploadedFile],
    *,
    creating: bool,
) -> None:
    for key in ("content", "embeds", "components", "allowed_mentions"):
        if key in body:
            value = body[key]
            if key == "content":  # a non-string is a spec error already recorded
                message.content = "" if value is None else str(value)
            elif key == "allowed_mentions":
                message.allowed_mentions = value
            elif key == "components":
                message.components = number_components(value or [])
            else:
                setattr(message, key, value or [])
    if body.get("flags") is not None:
        fixed = FakeMessage.EPHEMERAL | FakeMessage.LOADING | FakeMessage.HAS_THREAD  # Discord's
        message.flags = (message.flags & fixed) | (int(body["flags"]) & ~fixed)
    by_index = {f.index: f for f in files}
    new: list[FakeAttachment] = []
    if "attachments" in body and body["attachments"] is not None:
        kept: list[FakeAttachment] = []
        for item in body["attachments"]:
            ident = str(item.get("id"))
            existing = next((a for a in message.attachments if str(a.id) == ident), None)
            if existing is not None:
                kept.append(existing)
            elif ident.isdigit() and int(ident) in by_index:
                upload = by_index.pop(int(ident))
                new.append(store_attachment(fake, message, upload, item.get("description")))
        message.attachments = kept + new
    elif files:
        new = [store_attachment(fake, message, f, None) for f in files]
        message.attachments = (message.attachments if not creating else []) + new
    message.history.append(body)


def store_attachment(
    fake: FakeDiscord, message: FakeMessage, upload: UploadedFile, description: str | None
) -> FakeAttachment:
    attachment = FakeAttachment(
        id=fake.snowflakes.next(),
        filename=upload.filename,
        data=upload.data,
        content_type=content_type_of(upload),
        description=description,
    )
    attachment.url = (
        f"{fake.base_url}/attachments/{message.channel_id}/{attachment.id}/{upload.filename}"
    )
    fake.attachments[attachment.id] = attachment
    return attachment


def check_uploads(fake: FakeDiscord, files: list[UploadedFile], limit: int, where: str) -> None:
    for upload in files:
        if len(upload.data) > limit:
            fake.upload_rejections.append(
                f"{where}: {upload.filename} {len(upload.data)} > {limit}"
            )
            raise ApiError(413, 40005, "Request entity too large")


def content_type_of(upload: UploadedFile) -> str | None:
    """Discord derives the type from the file name when the client sends a generic one."""
    if upload.content_type and upload.content_type != "application/octet-stream":
        return upload.content_type
    guessed, _ = mimetypes.guess_type(upload.filename)
    return guessed or upload.content_type


def discord_rule_problems(body: Any) -> list[str]:
    """Limits Discord enforces that the spec does not express (answered 400/50035)."""
    if not isinstance(body, dict):
        return []
    data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else body
    problems = []
    content = data.get("content")
    if isinstance(content, str) and len(content) > 2000:
        # The spec allows 4000 (a Nitro user's limit); bots get 2000.
        problems.append(f"content has {len(content)} characters (Discord allows bots 2000)")
    embeds = data.get("embeds") or []
    total = 0
    for embed in embeds if isinstance(embeds, list) else []:
        if not isinstance(embed, dict):
            continue
        total += len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
        total += len(str((embed.get("footer") or {}).get("text") or ""))
        total += len(str((embed.get("author") or {}).get("name") or ""))
        for item in embed.get("fields") or []:
            total += len(str(item.get("name") or "")) + len(str(item.get("value") or ""))
    if total > 6000:
        problems.append(f"embeds total {total} characters (Discord allows 6000)")
    return problems


def number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy with Discord's numeric `id` on every component (sequential, as Discord assigns)."""
    used = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
    counter = iter(n for n in range(1, 10_000) if n not in used)
    copied: list[dict[str, Any]] = json.loads(json.dumps(components))
    for component in _walk_components(copied):
        if not isinstance(component.get("id"), int):
            component["id"] = next(counter)
    return copied


def _walk_components(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in items:
        found.append(item)
        found.extend(_walk_components(list(item.get("components") or [])))
        for key in ("accessory", "component"):
            if isinstance(item.get(key), dict):
                found.extend(_walk_components([item[key]]))
    return found


def require_content(body: dict[str, Any], files: list[UploadedFile]) -> None:
    """Discord refuses a new message with nothing in it (50006)."""
    keys = ("content", "embeds", "components", "sticker_ids", "poll")
    if not files and not any(body.get(key) for key in keys):
        raise ApiError(400, 50006, "Cannot send an empty message")
