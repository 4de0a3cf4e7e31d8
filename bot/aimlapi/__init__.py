"""The Lyria 2 client for the AI/ML API: submit, poll, download, typed errors.

Public names are re-exported here; import from `bot.aimlapi`.
"""

from bot.aimlapi.errors import (
    AimlApiError,
    AmbiguousSubmission,
    BadRequest,
    DownloadError,
    GenerationFailed,
    MalformedResponse,
    NotFound,
    OutOfCredits,
    RateLimited,
    ServerError,
    Unauthorized,
    UpstreamTimeout,
)
from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission, Usage

__all__ = [
    "AimlApiError",
    "AmbiguousSubmission",
    "BadRequest",
    "DownloadError",
    "DownloadedAudio",
    "GenerationFailed",
    "GenerationRequest",
    "MalformedResponse",
    "NotFound",
    "OutOfCredits",
    "PollResult",
    "RateLimited",
    "ServerError",
    "Submission",
    "Unauthorized",
    "UpstreamTimeout",
    "Usage",
]
