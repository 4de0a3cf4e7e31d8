"""Plain-English words for a `PreparedAudio`: which format, and why. For the terminal and as a
default for the Discord layer (which may word it its own way from the typed reason)."""

from __future__ import annotations

from bot.audio.models import AudioProblem, DeliveryReason, PreparedAudio

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


def size_text(size: int) -> str:
    """'512 B', '3.4 KiB', '10 MiB' (whole numbers without decimals)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    units = iter(("KiB", "MiB", "GiB"))
    unit = next(units)
    value /= 1024
    while value >= 1024 and unit != "GiB":
        unit = next(units)
        value /= 1024
    return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"


def problem_text(problem: AudioProblem, content_type: str | None = None) -> str:
    kind = _KINDS.get(content_type or "", "another format")
    return _PROBLEM_WORDS[problem].format(kind=kind)


def explain(prepared: PreparedAudio) -> str:
    """One sentence: the format delivered and why, or why there is no file."""
    limit = size_text(prepared.limit_bytes)
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
