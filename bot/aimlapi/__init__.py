"""The Lyria 2 client for the AI/ML API: submit, poll, download, typed errors.

Public names are re-exported here; import from `bot.aimlapi`.
"""

from bot.aimlapi.audio import read_duration, sniff_audio
from bot.aimlapi.client import USER_AGENT, LyriaClient
from bot.aimlapi.errors import (
    AccountProblem,
    AimlApiError,
    AmbiguousSubmission,
    BadRequest,
    ConnectionFailed,
    DownloadError,
    GenerationFailed,
    MalformedResponse,
    NotFound,
    OutOfCredits,
    RateLimited,
    RefusedUrl,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UpstreamTimeout,
)
from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission, Usage

__all__ = [
    "USER_AGENT",
    "AccountProblem",
    "AimlApiError",
    "AmbiguousSubmission",
    "BadRequest",
    "ConnectionFailed",
    "DownloadError",
    "DownloadedAudio",
    "GenerationFailed",
    "GenerationRequest",
    "LyriaClient",
    "MalformedResponse",
    "NotFound",
    "OutOfCredits",
    "PollResult",
    "RateLimited",
    "RefusedUrl",
    "ServerError",
    "ServiceUnavailable",
    "Submission",
    "Unauthorized",
    "UpstreamTimeout",
    "Usage",
    "read_duration",
    "sniff_audio",
]
