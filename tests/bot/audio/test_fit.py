"""The fit chain WAV -> FLAC -> Opus -> nothing, for one piece and for several together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.audio import (
    AudioFormat,
    DeliveryReason,
    OpusLimits,
    Piece,
    fit_pieces,
    opus_bitrates,
)
from bot.audio.encode import write_flac
from bot.audio.riff import plan_tagged_wav
from bot.audio.samples import read_samples
from bot.audio.tags import build_tags
from tests.audio_support import aligned_correlation, music, noise, provenance, write_wav

TAGS = build_tags(provenance())
LIMITS = OpusLimits()


def piece(tmp_path: Path, name: str, data: np.ndarray, **kwargs: object) -> Piece:
    source = write_wav(tmp_path / f"{name}.wav", data, **kwargs)  # type: ignore[arg-type]
    return Piece(source=source, stem=f"lyria-{name}", tags=TAGS, out_dir=tmp_path / "out")


def flac_size(p: Piece, tmp_path: Path) -> int:
    probe = tmp_path / f"probe-{p.stem}.flac"
    write_flac(read_samples(p.source), probe, TAGS)
    return probe.stat().st_size


def out_files(p: Piece) -> list[str]:
    return sorted(f.name for f in p.out_dir.iterdir()) if p.out_dir.exists() else []


# -- the bitrate arithmetic ---------------------------------------------------------------------


def test_bitrate_is_capped_at_the_high_quality_maximum() -> None:
    assert opus_bitrates([(30.0, 2)], 25 * 2**20, LIMITS) == [2 * LIMITS.max_per_channel]


def test_bitrate_follows_duration_and_budget_with_headroom() -> None:
    budget = 1_000_000
    [bitrate] = opus_bitrates([(60.0, 2)], budget, LIMITS)  # type: ignore[misc]
    expected = (budget * LIMITS.headroom - LIMITS.container_overhead) * 8 / 60.0
    assert bitrate == pytest.approx(expected, rel=0.001)
    assert bitrate * 60 / 8 + LIMITS.container_overhead < budget  # leaves the headroom


def test_below_the_floor_nothing_is_offered() -> None:
    # 10 minutes of stereo in 1 MB would be ~13 kbps: poor, so refused.
    assert opus_bitrates([(600.0, 2)], 1_000_000, LIMITS) is None
    assert opus_bitrates([(1.0, 2)], LIMITS.container_overhead // 2, LIMITS) is None


def test_several_pieces_share_one_rate_per_channel() -> None:
    rates = opus_bitrates([(30.0, 2), (60.0, 1), (30.0, 2)], 2_000_000, LIMITS)
    assert rates is not None
    assert rates[0] == rates[2] == 2 * rates[1]
    channel_seconds = 30 * 2 + 60 * 1 + 30 * 2
    payload = 2_000_000 * LIMITS.headroom - 3 * LIMITS.container_overhead
    assert rates[1] == int(payload * 8 / channel_seconds)


def test_zip_overhead_per_piece_lowers_the_rate() -> None:
    without = opus_bitrates([(60.0, 2)] * 4, 3_000_000, LIMITS)
    with_zip = opus_bitrates([(60.0, 2)] * 4, 3_000_000, LIMITS, overhead_per_piece=50_000)
    assert without is not None and with_zip is not None
    assert with_zip[0] < without[0]


# -- the chain, one piece -------------------------------------------------------------------------


def test_chain_with_shrinking_limits(tmp_path: Path) -> None:
    p = piece(tmp_path, "a", music(2.0))
    wav_size = plan_tagged_wav(p.source, TAGS).size_bytes
    flac = flac_size(p, tmp_path)
    assert flac < wav_size * 0.8  # music compresses, so the FLAC step is real

    wav = fit_pieces([p], wav_size)
    assert wav.reason is DeliveryReason.WAV_FITS
    assert wav.format is AudioFormat.WAV and wav.files[0].size_bytes == wav_size

    lossless = fit_pieces([p], wav_size - 1)
    assert lossless.reason is DeliveryReason.WAV_TOO_LARGE
    assert lossless.format is AudioFormat.FLAC and lossless.total_bytes <= wav_size - 1
    original, _ = sf.read(str(p.source), dtype="int16")
    assert np.array_equal(sf.read(str(lossless.files[0].path), dtype="int16")[0], original)

    lossy = fit_pieces([p], flac - 1)
    assert lossy.reason is DeliveryReason.LOSSLESS_TOO_LARGE
    assert lossy.format is AudioFormat.OPUS
    assert lossy.total_bytes <= flac - 1
    assert lossy.files[0].bitrate == 2 * LIMITS.max_per_channel  # plenty of room: the cap
    reference, _ = sf.read(str(p.source), always_2d=True)
    decoded, _ = sf.read(str(lossy.files[0].path), always_2d=True)
    assert aligned_correlation(reference, decoded)[0] > 0.99

    before = out_files(p)
    nothing = fit_pieces([p], 10_000)
    assert nothing.reason is DeliveryReason.NOTHING_FITS
    assert nothing.files == () and nothing.format is None
    # It made and removed its own candidates, and kept the files earlier results named.
    assert out_files(p) == before
    assert all(f.path.exists() for f in (*wav.files, *lossless.files, *lossy.files))


def test_incompressible_audio_skips_to_opus_and_removes_the_useless_flac(tmp_path: Path) -> None:
    p = piece(tmp_path, "n", noise(2.0))
    wav_size = plan_tagged_wav(p.source, TAGS).size_bytes

    result = fit_pieces([p], int(wav_size * 0.9))

    assert result.reason is DeliveryReason.LOSSLESS_TOO_LARGE
    assert result.total_bytes <= wav_size * 0.9
    assert [n.rsplit(".", 1)[1] for n in out_files(p)] == ["ogg"]


def test_a_tight_budget_is_met_even_when_vbr_overshoots(tmp_path: Path) -> None:
    p = piece(tmp_path, "t", noise(2.0))
    limits = OpusLimits(headroom=1.0, container_overhead=0, min_per_channel=8_000)
    budget = 30_000
    first_aim = opus_bitrates([(2.0, 2)], budget, limits)

    result = fit_pieces([p], budget, limits=limits)

    assert result.reason is DeliveryReason.LOSSLESS_TOO_LARGE
    assert result.total_bytes <= budget
    assert first_aim is not None and result.files[0].bitrate is not None
    assert result.files[0].bitrate < first_aim[0]  # aimed lower after the first try missed


def test_an_overshoot_at_the_cap_retries_below_the_cap(tmp_path: Path) -> None:
    p = piece(tmp_path, "c", noise(2.0))
    limits = OpusLimits(headroom=1.0, container_overhead=0)
    cap = 2 * limits.max_per_channel
    budget = cap * 2 // 8 + 200  # the cap's payload fits, its Ogg headers do not

    assert opus_bitrates([(2.0, 2)], budget, limits) == [cap]
    result = fit_pieces([p], budget, limits=limits)

    assert result.reason is DeliveryReason.LOSSLESS_TOO_LARGE
    assert result.total_bytes <= budget
    assert result.files[0].bitrate is not None and result.files[0].bitrate < cap


def test_no_pieces_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        fit_pieces([], 1000)


def test_float_wav_goes_from_wav_straight_to_opus(tmp_path: Path) -> None:
    p = piece(tmp_path, "f", music(1.0), subtype="FLOAT")
    wav_size = plan_tagged_wav(p.source, TAGS).size_bytes

    result = fit_pieces([p], wav_size - 1)

    assert result.reason is DeliveryReason.LOSSLESS_TOO_LARGE


# -- several pieces, one budget -----------------------------------------------------------------


def test_pieces_that_fit_alone_but_not_together_go_flac_together(tmp_path: Path) -> None:
    pieces = [piece(tmp_path, f"p{i}", music(1.0, seed=i)) for i in range(3)]
    wav_sizes = [plan_tagged_wav(p.source, TAGS).size_bytes for p in pieces]
    flac_total = sum(flac_size(p, tmp_path) for p in pieces)
    budget = (flac_total + sum(wav_sizes)) // 2

    result = fit_pieces(pieces, budget)

    assert max(wav_sizes) < budget < sum(wav_sizes)
    assert result.reason is DeliveryReason.WAV_TOO_LARGE
    assert [f.format for f in result.files] == [AudioFormat.FLAC] * 3
    assert [f.download_name for f in result.files] == [
        "lyria-p0.flac",
        "lyria-p1.flac",
        "lyria-p2.flac",
    ]
    assert result.total_bytes <= budget


def test_pieces_share_an_opus_budget_with_zip_overhead(tmp_path: Path) -> None:
    pieces = [
        piece(tmp_path, "s1", noise(1.5)),
        piece(tmp_path, "m", noise(1.5, channels=1)),
        piece(tmp_path, "s2", noise(1.5)),
    ]
    budget, overhead = 60_000, 500

    result = fit_pieces(pieces, budget, overhead_per_piece=overhead)

    assert result.reason is DeliveryReason.LOSSLESS_TOO_LARGE
    assert result.total_bytes + 3 * overhead <= budget
    rates = [f.bitrate for f in result.files]
    assert rates[0] == rates[2] and rates[0] is not None and rates[1] is not None
    assert abs(rates[0] - 2 * rates[1]) <= 2  # the same rate per channel


def test_when_nothing_fits_together_no_piece_gets_a_file(tmp_path: Path) -> None:
    pieces = [piece(tmp_path, f"x{i}", music(2.0, seed=i)) for i in range(4)]

    result = fit_pieces(pieces, 40_000)

    assert result.reason is DeliveryReason.NOTHING_FITS
    assert result.files == ()
