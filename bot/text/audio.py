"""Which format a track was delivered in, and why: in plain words, for Discord and the
terminal alike."""

from __future__ import annotations

from bot.audio.models import AudioProblem, DeliveryReason, PreparedAudio
from bot.text.format import format_bytes

_PROBLEM_WORDS = {
    AudioProblem.MISSING: "the file from the music service is missing",
    AudioProblem.NOT_WAV: "it is {kind}, not WAV",
    AudioProblem.UNDECODABLE: "it could not be decoded",
    AudioProblem.EMPTY: "it contains no audio",
    AudioProblem.UNEXPECTED_LAYOUT: "it has an unexpected sample rate or channel count",
    AudioProblem.TAGGING_FAILED: "adding the tags failed",
    AudioProblem.ENCODING_FAILED: "converting it failed",
    AudioProblem.WAVEFORM_FAILED: "the waveform picture could not be drawn",
    AudioProblem.PROCESSING_FAILED: "preparing it failed",
}
_KINDS = {
    "audio/mpeg": "MP3",
    "audio/flac": "FLAC",
    "audio/ogg": "Ogg",
    "audio/mp4": "MP4 audio",
    "audio/aac": "AAC",
}


def problem_text(problem: AudioProblem, content_type: str | None = None) -> str:
    kind = _KINDS.get(content_type or "", "another format")
    return _PROBLEM_WORDS[problem].format(kind=kind)


def explain(prepared: PreparedAudio) -> str:
    """One sentence: the format delivered and why, or why there is no file."""
    limit = format_bytes(prepared.limit_bytes)
    file = prepared.file
    reason = prepared.reason
    if reason is DeliveryReason.WAV_FITS:
        return "WAV, lossless, as generated."
    if reason is DeliveryReason.WAV_TOO_LARGE:
        return f"FLAC, lossless (same sound as the WAV): the WAV is over the {limit} limit."
    if reason is DeliveryReason.LOSSLESS_TOO_LARGE:
        kbps = f" at {round(file.bitrate / 1000)} kbps" if file and file.bitrate else ""
        return f"Opus{kbps}: even lossless FLAC is over the {limit} limit."
    if reason is DeliveryReason.NOTHING_FITS:
        return f"No file attached: it is over the {limit} limit even as compressed Opus."
    audio_problems = [p for p in prepared.problems if p is not AudioProblem.WAVEFORM_FAILED]
    why = problem_text(audio_problems[0], prepared.source_content_type) if audio_problems else ""
    if reason is DeliveryReason.ORIGINAL_KEPT:
        return f"The file as the music service sent it ({why})." if why else "The original file."
    if reason is DeliveryReason.ORIGINAL_TOO_LARGE:
        return f"No file attached: the original is over the {limit} limit ({why})."
    return f"No file attached: {why or 'the file from the music service is missing'}."


def link_reason(prepared: PreparedAudio) -> str:
    """Why a track goes as its link only, as a clause ("it is over ... even as Opus")."""
    limit = format_bytes(prepared.limit_bytes)
    if prepared.reason is DeliveryReason.NOTHING_FITS:
        return f"it is over this server's {limit} upload limit even as compressed Opus"
    if prepared.reason is DeliveryReason.ORIGINAL_TOO_LARGE:
        return f"it is over this server's {limit} upload limit"
    return "the file from the music service could not be kept"


def peak_text(peak_dbfs: float | None) -> str:
    """'−0.8 dBFS' (a true minus sign), or 'silent'."""
    if peak_dbfs is None:
        return "silent"
    return f"{peak_dbfs:.1f} dBFS".replace("-", "−")
