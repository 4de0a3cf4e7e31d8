"""What a Discord-originated job remembers about its interaction, stored in `Job.context`.

The engine treats the context as opaque JSON. Everything the Discord layer needs to update the
status message and deliver the result — after a restart too — lives here, so no Interaction
object has to survive. The interaction token is a credential: it is kept in the job row (the
bot needs it after a restart) but never logged; `DiscordContext.__repr__` hides it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from bot.discord_reply import InteractionHandle


@dataclass(frozen=True)
class DiscordContext:
    application_id: int
    interaction_token: str
    interaction_id: int
    expires_at: float  # when the interaction token dies (unix seconds)
    channel_id: int | None
    guild_id: int | None
    requester_id: int
    status_message_id: int | None
    filesize_limit: int  # the interaction's per-attachment upload limit, in bytes
    can_attach: bool  # whether the bot may attach files in that channel
    member_remaining: int | None = None
    pool_remaining: int | None = None
    expiry_notice_sent: bool = False

    def __repr__(self) -> str:
        return (
            f"DiscordContext(interaction_id={self.interaction_id}, channel_id={self.channel_id}, "
            f"status_message_id={self.status_message_id})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"discord": asdict(self)}

    @classmethod
    def from_job_context(cls, context: dict[str, Any]) -> DiscordContext | None:
        """The Discord part of a job's context, or None for jobs not from Discord."""
        data = context.get("discord")
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except TypeError:
            return None

    def with_notice_sent(self) -> DiscordContext:
        return replace(self, expiry_notice_sent=True)

    @property
    def handle(self) -> InteractionHandle:
        return InteractionHandle(
            application_id=self.application_id,
            token=self.interaction_token,
            expires_at=self.expires_at,
            channel_id=self.channel_id,
            message_id=self.status_message_id,
        )
