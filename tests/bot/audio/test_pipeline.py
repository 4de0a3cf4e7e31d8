"""prepare_audio: the delivered file, the waveform and the measurements; bad input and failures
fall back to the untouched original; a second run reuses what the first made."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from bot.audio import (
    AudioFormat,
    AudioProblem,
    DeliveryReason,
    PreparedAudio,
    PrepareRequest,
    prepare_audio,
)
from bot.audio.encode import write_flac
from bot.audio.riff import TaggedWavPlan
from bot.audio.samples import read_samples
from bot.audio.tags import build_tags
from bot.text.audio import explain
from tests.audio_support import (
    aligned_correlation,
    flac_comments,
    music,
    noise,
    pcm16_wav_bytes,
    provenance,
    write_wav,
)

BIG = 10 * 2**20


def request(source: Path, limit: int = BIG, **kwargs: Any) -> PrepareRequest:
    return PrepareRequest(
        source=source,
        out_dir=source.parent / "out",
        stem="lyria-a1b2c3d4e5f6",
        provenance=provenance(),
        limit_bytes=limit,
        **kwargs,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_temporary_files(out_dir: Path) -> bool:
    return not out_dir.exists() or not [p for p in out_dir.iterdir() if p.name.startswith(".")]


def test_a_lyria_wav_that_fits_is_delivered_tagged_with_waveform_and_measurements(
    tmp_path: Path,
) -> None:
    source = write_wav(tmp_path / "in.wav", music(2.0))
    before = digest(source)

    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.WAV_FITS and result.problems == ()
    assert result.file is not None and result.file.format is AudioFormat.WAV
    assert result.file.tagged and not result.file.original
    assert result.file.download_name == "lyria-a1b2c3d4e5f6.wav"
    assert result.file.path.parent == tmp_path / "out"
    assert result.file.size_bytes == result.file.path.stat().st_size
    assert np.array_equal(
        sf.read(str(result.file.path), dtype="int16")[0], sf.read(str(source), dtype="int16")[0]
    )
    with sf.SoundFile(str(result.file.path)) as f:
        assert "AI-generated with Lyria 2" in f.comment
    assert result.waveform is not None and result.waveform.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.duration_seconds == pytest.approx(2.0)
    samples = sf.read(str(source), dtype="int16")[0].astype(np.int32)
    expected_peak = 20 * np.log10(np.abs(samples).max() / 32768)
    assert result.peak_dbfs == pytest.approx(expected_peak, abs=0.01)
    assert set(result.produced) == {result.file.path, result.waveform}
    assert digest(source) == before  # the provider's file is never touched
    assert no_temporary_files(tmp_path / "out")


def test_flac_when_the_wav_is_too_large(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(2.0))

    result = prepare_audio(request(source, limit=source.stat().st_size - 1))

    assert result.reason is DeliveryReason.WAV_TOO_LARGE
    assert result.file is not None and result.file.format is AudioFormat.FLAC
    assert result.file.content_type == "audio/flac"
    assert flac_comments(result.file.path)["TITLE"].startswith("A calm lo-fi piano")
    assert np.array_equal(
        sf.read(str(result.file.path), dtype="int16")[0], sf.read(str(source), dtype="int16")[0]
    )
    assert "FLAC" in explain(result) and "lossless" in explain(result)


def test_opus_when_lossless_is_too_large(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(2.0))
    write_flac(read_samples(source), tmp_path / "probe.flac", build_tags(provenance()))
    limit = (tmp_path / "probe.flac").stat().st_size - 1

    result = prepare_audio(request(source, limit=limit))

    assert result.reason is DeliveryReason.LOSSLESS_TOO_LARGE
    assert result.file is not None and result.file.format is AudioFormat.OPUS
    assert result.file.download_name == "lyria-a1b2c3d4e5f6.ogg"
    assert result.file.size_bytes <= limit
    assert result.file.bitrate == 192_000
    reference = sf.read(str(source), always_2d=True)[0]
    decoded = sf.read(str(result.file.path), always_2d=True)[0]
    assert aligned_correlation(reference, decoded)[0] > 0.99
    assert explain(result).startswith("Opus at 192 kbps: even lossless FLAC is over the ")


def test_no_file_when_nothing_fits(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(2.0))

    result = prepare_audio(request(source, limit=5_000))

    assert result.reason is DeliveryReason.NOTHING_FITS and result.file is None
    assert result.waveform is not None and result.duration_seconds == pytest.approx(2.0)
    assert "No file attached" in explain(result)


# -- bad input: deliver the original, say why, never raise -------------------------------------


def mp3(path: Path) -> Path:
    sf.write(str(path), music(0.5), 48_000, format="MP3")
    return path


def empty_wav(path: Path) -> Path:
    path.write_bytes(pcm16_wav_bytes(np.zeros((0, 2), dtype=np.int16)))
    return path


def corrupt(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(3).bytes(5000))
    return path


def corrupt_wav_header(path: Path) -> Path:
    path.write_bytes(b"RIFF\x24\x10\0\0WAVEfmt \x10\0\0\0" + b"\xff" * 16 + b"data" + b"\1" * 4000)
    return path


def six_channels(path: Path) -> Path:
    return write_wav(path, music(0.5, channels=6))


def cd_rate(path: Path) -> Path:
    return write_wav(path, music(0.5, rate=44_100), rate=44_100)


@pytest.mark.parametrize(
    ("make", "problem", "content_type", "extension", "measured"),
    [
        (mp3, AudioProblem.NOT_WAV, "audio/mpeg", "mp3", False),
        (corrupt, AudioProblem.UNDECODABLE, "application/octet-stream", "wav", False),
        (corrupt_wav_header, AudioProblem.UNDECODABLE, "audio/wav", "wav", False),
        (empty_wav, AudioProblem.EMPTY, "audio/wav", "wav", False),
        (six_channels, AudioProblem.UNEXPECTED_LAYOUT, "audio/wav", "wav", True),
        (cd_rate, AudioProblem.UNEXPECTED_LAYOUT, "audio/wav", "wav", True),
    ],
)
def test_bad_input_delivers_the_untouched_original_with_a_reason(
    tmp_path: Path,
    make: Any,
    problem: AudioProblem,
    content_type: str,
    extension: str,
    measured: bool,
) -> None:
    source = make(tmp_path / "in.wav")
    before = digest(source)

    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.ORIGINAL_KEPT
    assert result.problems == (problem,)
    assert result.file is not None and result.file.original and not result.file.tagged
    assert result.file.path == source and result.file.size_bytes == source.stat().st_size
    assert result.file.content_type == content_type
    assert result.file.download_name == f"lyria-a1b2c3d4e5f6.{extension}"
    assert (result.measurements is not None) is measured
    assert (result.waveform is not None) is measured  # a picture whenever the samples decode
    assert digest(source) == before
    assert result.produced == ((result.waveform,) if result.waveform else ())
    assert explain(result).startswith("The file as the music service sent it (it ")


def test_a_bad_original_larger_than_the_limit_is_not_attached(tmp_path: Path) -> None:
    source = six_channels(tmp_path / "in.wav")

    result = prepare_audio(request(source, limit=1000))

    assert result.reason is DeliveryReason.ORIGINAL_TOO_LARGE and result.file is None
    assert result.problems == (AudioProblem.UNEXPECTED_LAYOUT,)


@pytest.mark.parametrize("content", [None, b""])
def test_missing_or_zero_byte_file(tmp_path: Path, content: bytes | None) -> None:
    source = tmp_path / "in.wav"
    if content is not None:
        source.write_bytes(content)

    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.NO_ORIGINAL and result.file is None
    assert result.problems == (AudioProblem.MISSING,)
    assert explain(result) == "No file attached: the file from the music service is missing."


def test_truncated_download_keeps_the_samples_that_arrived(tmp_path: Path) -> None:
    frames = (music(1.0) * 20000).astype(np.int16)
    source = tmp_path / "in.wav"
    source.write_bytes(pcm16_wav_bytes(frames)[: 44 + 40_000])  # header states more than this

    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.WAV_FITS
    assert result.file is not None
    assert np.array_equal(sf.read(str(result.file.path), dtype="int16")[0], frames[:10_000])


# -- our own failures fall back to the original -------------------------------------------------


def test_tagging_failure_delivers_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))

    def broken(self: TaggedWavPlan, out: Any) -> None:
        out.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(TaggedWavPlan, "write_to", broken)
    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.ORIGINAL_KEPT
    assert result.problems == (AudioProblem.TAGGING_FAILED,)
    assert result.file is not None and result.file.path == source
    assert result.waveform is not None  # the picture was fine
    assert no_temporary_files(tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.wav"))


def test_encoding_failure_falls_back_to_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))

    def broken(*_args: Any) -> None:
        raise RuntimeError("libsndfile said no")

    monkeypatch.setattr("bot.audio.fit.write_flac", broken)
    result = prepare_audio(request(source, limit=source.stat().st_size - 1))

    assert result.problems == (AudioProblem.ENCODING_FAILED,)
    assert result.reason is DeliveryReason.ORIGINAL_TOO_LARGE  # the original cannot fit either
    assert result.file is None
    assert "over the" in explain(result) and "converting it failed" in explain(result)


def test_waveform_failure_costs_only_the_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))

    def broken(*_args: Any) -> None:
        raise MemoryError

    monkeypatch.setattr("bot.audio.pipeline.render", broken)
    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.WAV_FITS and result.file is not None
    assert result.problems == (AudioProblem.WAVEFORM_FAILED,)
    assert result.waveform is None and result.peak_dbfs is not None


def test_an_unexpected_error_never_escapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))

    def broken(*_args: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr("bot.audio.pipeline.measure", broken)
    result = prepare_audio(request(source))

    assert result.reason is DeliveryReason.ORIGINAL_KEPT
    assert result.problems == (AudioProblem.PROCESSING_FAILED,)
    assert result.file is not None and result.file.path == source


def test_no_waveform_when_not_asked(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    result = prepare_audio(request(source, waveform=None))
    assert result.waveform is None and result.problems == ()


# -- idempotence and records --------------------------------------------------------------------


@pytest.mark.parametrize("limit", [BIG, 200_000, 5_000])
def test_a_second_run_reuses_every_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    source = write_wav(tmp_path / "in.wav", noise(1.0) if limit == 200_000 else music(1.0))
    first = prepare_audio(request(source, limit=limit))
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first.produced}

    def must_not_run(*_args: Any) -> None:
        raise AssertionError("this output should have been reused")

    for name in ("bot.audio.fit.write_opus", "bot.audio.pipeline.render"):
        monkeypatch.setattr(name, must_not_run)
    monkeypatch.setattr(TaggedWavPlan, "write_to", must_not_run)
    second = prepare_audio(request(source, limit=limit))

    assert second == first
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in second.produced} == stamps


def test_a_changed_source_is_not_mistaken_for_the_old_one(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0, seed=1))
    first = prepare_audio(request(source))
    write_wav(source, music(1.0, seed=2) * 0.5)

    second = prepare_audio(request(source))

    assert second.file is not None and first.file is not None
    assert second.file.path != first.file.path
    assert second.peak_dbfs != first.peak_dbfs


def test_a_leftover_temporary_file_from_a_crash_is_not_reused(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(1.0))
    first = prepare_audio(request(source))
    assert first.file is not None
    first.file.path.unlink()
    leftover = first.file.path.with_name(f".{first.file.path.name}.dead.tmp")
    leftover.write_bytes(b"RIFF half")

    again = prepare_audio(request(source))

    assert again == first
    assert np.array_equal(
        sf.read(str(first.file.path), dtype="int16")[0], sf.read(str(source), dtype="int16")[0]
    )


def test_old_temporary_files_of_the_piece_are_swept(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "in.wav", music(0.5))
    out = tmp_path / "out"
    out.mkdir()
    old = out / ".lyria-a1b2c3d4e5f6.0123456789ab.wav.dead.tmp"
    fresh = out / ".lyria-a1b2c3d4e5f6.0123456789ab.flac.busy.tmp"  # a worker may be on it
    other = out / ".lyria-someone-else.0123456789ab.wav.dead.tmp"
    for path in (old, fresh, other):
        path.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(other, (time.time() - 7200, time.time() - 7200))

    prepare_audio(request(source))

    assert not old.exists()
    assert fresh.exists() and other.exists()


@pytest.mark.parametrize("make", [lambda p: write_wav(p, music(0.5)), mp3, empty_wav])
def test_results_survive_a_json_round_trip(tmp_path: Path, make: Any) -> None:
    result = prepare_audio(request(make(tmp_path / "in.wav")))
    stored = json.loads(json.dumps(result.as_record()))
    assert PreparedAudio.from_record(stored) == result
