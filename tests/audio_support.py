"""Audio for tests and independent ways to check it. Test audio is made on the spot (a few
seconds, so tests stay fast); delivered audio is checked the way a listener would, by decoded
samples and the tags a player shows, not bytes (the bot tags the provider's file and leaves its
samples untouched). The tags we write are also parsed here from the bytes (RIFF chunks, FLAC's
VORBIS_COMMENT block, Ogg Opus's OpusTags packet), not with the code under test."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from bot.audio import Provenance

RATE = 48_000


def music(
    seconds: float = 2.0, *, channels: int = 2, rate: int = RATE, seed: int = 7
) -> npt.NDArray[np.float64]:
    """Something music-like: two detuned tones with harmonics, a slow swell, a little noise."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    swell = 0.55 + 0.45 * np.sin(2 * np.pi * 0.5 * t)
    columns = []
    for ch in range(channels):
        f = 220.0 * (1 + 0.01 * ch)
        tone = (
            np.sin(2 * np.pi * f * t)
            + 0.4 * np.sin(2 * np.pi * 2 * f * t)
            + 0.2 * np.sin(2 * np.pi * 3.01 * f * t)
        )
        columns.append(0.45 * swell * tone + 0.01 * rng.standard_normal(n))
    return np.stack(columns, axis=1)


def noise(seconds: float, *, channels: int = 2, rate: int = RATE) -> npt.NDArray[np.float64]:
    """Loud white noise: FLAC cannot shrink it, so the fit chain has to go to Opus."""
    rng = np.random.default_rng(1)
    return 0.5 * rng.standard_normal((int(seconds * rate), channels)).clip(-1.9, 1.9) / 2


def write_wav(
    path: Path,
    data: npt.NDArray[np.float64],
    *,
    rate: int = RATE,
    subtype: str = "PCM_16",
) -> Path:
    sf.write(str(path), data, rate, subtype=subtype, format="WAV")
    return path


def pcm16_wav_bytes(
    frames: npt.NDArray[np.int16],
    *,
    rate: int = RATE,
    extra_before: bytes = b"",
    extra_after: bytes = b"",
    data_size: int | None = None,
) -> bytes:
    """A hand-made 16-bit PCM WAV with chunks of our choosing around `data`."""
    channels = frames.shape[1]
    payload = frames.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_before
    size = len(payload) if data_size is None else data_size
    body += b"data" + struct.pack("<I", size) + payload + (b"\0" if len(payload) & 1 else b"")
    body += extra_after
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(chunk_id: bytes, payload: bytes) -> bytes:
    return (
        chunk_id + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")
    )


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(id, payload) of every top-level chunk of a RIFF/WAVE file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8, "RIFF size must match the file"
    out = []
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        out.append((cid, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    assert pos == len(data), "chunks must end exactly at the end of the file"
    return out


def info_fields(data: bytes) -> dict[bytes, str]:
    for cid, payload in riff_chunks(data):
        if cid == b"LIST" and payload[:4] == b"INFO":
            fields = {}
            pos = 4
            while pos + 8 <= len(payload):
                fid, size = (
                    payload[pos : pos + 4],
                    int.from_bytes(payload[pos + 4 : pos + 8], "little"),
                )
                fields[fid] = payload[pos + 8 : pos + 8 + size].rstrip(b"\0").decode("utf-8")
                pos += 8 + size + (size & 1)
            return fields
    return {}


def _vorbis_comments(block: bytes) -> dict[str, str]:
    vendor_len = int.from_bytes(block[:4], "little")
    pos = 4 + vendor_len
    count = int.from_bytes(block[pos : pos + 4], "little")
    pos += 4
    comments: dict[str, str] = {}
    for _ in range(count):
        size = int.from_bytes(block[pos : pos + 4], "little")
        key, _, value = block[pos + 4 : pos + 4 + size].decode("utf-8").partition("=")
        comments[key.upper()] = value
        pos += 4 + size
    return comments


def flac_comments(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    assert data[:4] == b"fLaC"
    pos = 4
    while True:
        header = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if header & 0x7F == 4:
            return _vorbis_comments(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
        if header & 0x80:
            return {}


def ogg_packets(path: Path, count: int) -> list[bytes]:
    """The first `count` packets of an Ogg stream (pages reassembled by their lacing)."""
    data = path.read_bytes()
    packets: list[bytes] = []
    current = b""
    pos = 0
    while pos < len(data) and len(packets) < count:
        assert data[pos : pos + 4] == b"OggS"
        segments = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + segments]
        pos += 27 + segments
        for size in lacing:
            current += data[pos : pos + size]
            pos += size
            if size < 255:
                packets.append(current)
                current = b""
    return packets


def opus_comments(path: Path) -> dict[str, str]:
    head, tags = ogg_packets(path, 2)
    assert head[:8] == b"OpusHead"
    assert tags[:8] == b"OpusTags"
    return _vorbis_comments(tags[8:])


def opus_preskip(path: Path) -> int:
    head = ogg_packets(path, 1)[0]
    return int.from_bytes(head[10:12], "little")


def provenance(**overrides: object) -> Provenance:
    values: dict[str, object] = {
        "prompt": "A calm lo-fi piano over rain, warm bass, soft brushed drums",
        "job_id": "a1b2c3d4e5f6",
        "model": "google/lyria2",
        "created_at": datetime(2026, 11, 25, 14, 30, tzinfo=UTC),
        "negative_prompt": "vocals",
        "seed": 42,
    }
    values.update(overrides)
    return Provenance(**values)  # type: ignore[arg-type]


def aligned_correlation(
    reference: npt.NDArray[np.float64], decoded: npt.NDArray[np.float64], max_lag: int = 4000
) -> tuple[float, int]:
    """Pearson correlation of `decoded` with `reference` (channels mixed) at the shift of up
    to `max_lag` frames that lines them up best (found by FFT cross-correlation), and that
    shift: positive when `decoded` lags behind."""
    ref = reference.mean(axis=1)
    dec = decoded.mean(axis=1)
    n = len(ref) + len(dec)
    cross = np.fft.irfft(np.fft.rfft(dec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    lag = int(lags[int(np.argmax(cross[lags % n]))])
    a = ref[max(0, -lag) :]
    b = dec[max(0, lag) :]
    size = min(len(a), len(b))
    return float(np.corrcoef(a[:size], b[:size])[0, 1]), lag


def samples(data: bytes) -> np.ndarray:
    with sf.SoundFile(io.BytesIO(data)) as audio:
        return audio.read(dtype="int32", always_2d=True)


def same_audio(delivered: bytes, original: bytes) -> bool:
    """The same samples (exactly: WAV and FLAC are lossless)."""
    return bool(np.array_equal(samples(delivered), samples(original)))


def tags(data: bytes) -> dict[str, str]:
    with sf.SoundFile(io.BytesIO(data)) as audio:
        return {key: str(value) for key, value in audio.copy_metadata().items()}


def audio_format(data: bytes) -> str:
    """'WAV', 'FLAC' or 'OGG' (Opus lives in Ogg) as libsndfile reads it."""
    with sf.SoundFile(io.BytesIO(data)) as audio:
        return str(audio.format)
