"""How the delivered format and its reason read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audio import AudioFile, AudioFormat, AudioProblem, DeliveryReason, PreparedAudio
from bot.text.audio import explain
from bot.text.format import format_bytes


def prepared(reason: DeliveryReason, *problems: AudioProblem, **kwargs: object) -> PreparedAudio:
    kwargs.setdefault("file", None)
    return PreparedAudio(
        source=Path("in.wav"),
        reason=reason,
        limit_bytes=10 * 2**20,
        problems=problems,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [(512, "512 B"), (2048, "2 KiB"), (3_500_000, "3.3 MiB"), (25 * 2**20, "25 MiB")],
)
def test_sizes_are_binary_multiples_without_a_needless_decimal(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_each_reason_says_format_and_why() -> None:
    opus = AudioFile(
        Path("x.ogg"), AudioFormat.OPUS, "audio/ogg", 1, "x.ogg", True, bitrate=160_000
    )
    assert explain(prepared(DeliveryReason.WAV_FITS)) == "WAV, lossless, as generated."
    assert explain(prepared(DeliveryReason.WAV_TOO_LARGE)) == (
        "FLAC, lossless (same sound as the WAV): the WAV is over the 10 MiB limit."
    )
    assert explain(prepared(DeliveryReason.LOSSLESS_TOO_LARGE, file=opus)) == (
        "Opus at 160 kbps: even lossless FLAC is over the 10 MiB limit."
    )
    assert explain(prepared(DeliveryReason.NOTHING_FITS)) == (
        "No file attached: it is over the 10 MiB limit even as compressed Opus."
    )


def test_problems_are_named_for_the_original() -> None:
    mp3 = prepared(
        DeliveryReason.ORIGINAL_KEPT, AudioProblem.NOT_WAV, source_content_type="audio/mpeg"
    )
    assert explain(mp3) == "The file as the music service sent it (it is MP3, not WAV)."
    too_large = prepared(
        DeliveryReason.ORIGINAL_TOO_LARGE,
        AudioProblem.WAVEFORM_FAILED,
        AudioProblem.ENCODING_FAILED,
    )
    assert explain(too_large) == (
        "No file attached: the original is over the 10 MiB limit (converting it failed)."
    )
