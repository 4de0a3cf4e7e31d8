"""The Lyria 2 client for the AI/ML API: submit, poll, download, typed errors.

Public names are re-exported here; import from `bot.aimlapi`.
"""

from bot.aimlapi.audio import read_duration, sniff_audio
from bot.aimlapi.client import USER_AGENT, LyriaClient
from bot.aimlapi.errors import (
    ACCOUNT_PROBLEM_KINDS,
    ACCOUNT_PROBLEM_MESSAGE,
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
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UpstreamTimeout,
    user_message_for,
)
from bot.aimlapi.models import DownloadedAudio, GenerationRequest, PollResult, Submission, Usage

__all__ = [
    "ACCOUNT_PROBLEM_KINDS",
    "ACCOUNT_PROBLEM_MESSAGE",
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
    "ServerError",
    "ServiceUnavailable",
    "Submission",
    "Unauthorized",
    "UpstreamTimeout",
    "Usage",
    "read_duration",
    "sniff_audio",
    "user_message_for",
]
