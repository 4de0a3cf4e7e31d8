"""`python -m bot compose --format wav|flac|opus --waveform PATH`, end to end against the fake
AI/ML API: the saved file is checked as a listener's player would read it (decoded samples and
the tags it shows, parsed independently in tests/audio_support), the picture as an image."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.__main__ import FORMATS
from bot.audio import AudioFormat
from bot.jobs.models import Job, JobState
from bot.store.sqlite import SqliteStore
from tests.audio_support import (
    aligned_correlation,
    audio_format,
    flac_comments,
    info_fields,
    music,
    opus_comments,
    pcm16_wav_bytes,
    same_audio,
    samples,
)
from tests.bot.cli.compose_support import (
    environment,
    interrupt_while_generating,
    learn_fast_generations,
    resume_command,
    run_bot,
)
from tests.fakes.aimlapi import FakeAimlApi

PROMPT = "Warm analog synthwave, gated drums"
NEGATIVE = "vocals"
CORRUPT_WAV = b"RIFF\x24\x10\0\0WAVEfmt \x10\0\0\0" + b"\xff" * 16 + b"data" + b"\1" * 4000


def provider_wav(seconds: float = 2.0) -> bytes:
    """What Lyria 2 sends: 48 kHz stereo 16-bit PCM."""
    return pcm16_wav_bytes((music(seconds) * 32767).round().astype(np.int16))


async def the_job(tmp_path: Path) -> Job:
    db = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        jobs = await db.jobs.history("terminal", None, limit=5)  # delivered ones
    finally:
        await db.close()
    assert len(jobs) == 1
    return jobs[0]


def player_tags(data: bytes, fmt: AudioFormat, path: Path) -> dict[str, str]:
    """Title, comment, software and date as the file's own tag block holds them."""
    if fmt is AudioFormat.WAV:
        fields = info_fields(data)
        return {
            "title": fields[b"INAM"],
            "comment": fields[b"ICMT"],
            "software": fields[b"ISFT"],
            "date": fields[b"ICRD"],
        }
    comments = flac_comments(path) if fmt is AudioFormat.FLAC else opus_comments(path)
    return {
        "title": comments["TITLE"],
        "comment": comments["COMMENT"],
        "software": comments.get("ENCODER") or comments["SOFTWARE"],
        "date": comments["DATE"],
    }


@pytest.mark.parametrize(
    ("fmt", "args", "where"),
    [
        # The default folder (AUDIO_DIR) and name (prompt and seed, like Discord's attachment).
        (AudioFormat.WAV, [], "audio/warm-analog-synthwave-gated-drums-seed42.wav"),
        # --out FILE ending in .flac says the format.
        (AudioFormat.FLAC, ["--out", "{tmp}/songs/night.flac"], "songs/night.flac"),
        # --out FOLDER: Discord's name in it, with Ogg Opus's extension.
        (
            AudioFormat.OPUS,
            ["--format", "opus", "--out", "{tmp}"],
            "warm-analog-synthwave-gated-drums-seed42.ogg",
        ),
    ],
)
async def test_each_format_keeps_the_providers_sound_and_carries_the_provenance(
    tmp_path: Path, fmt: AudioFormat, args: list[str], where: str
) -> None:
    audio = provider_wav()
    async with FakeAimlApi(generation_seconds=0.2, audio=audio) as api:
        await learn_fast_generations(tmp_path, 0.2)
        picture = tmp_path / "pictures" / "wave.png"
        code, stdout, stderr = await run_bot(
            environment(tmp_path, api),
            "compose",
            PROMPT,
            "--negative-prompt",
            NEGATIVE,
            "--seed",
            "42",
            "--waveform",
            str(picture),
            *[arg.format(tmp=tmp_path) for arg in args],
        )
    assert code == 0, stderr
    saved = tmp_path / where
    assert f"Saved: {saved}" in stdout and f"Waveform: {picture}" in stdout
    assert stderr.count("Could not") == 0
    data = await asyncio.to_thread(saved.read_bytes)
    assert f"({len(data):,} bytes)" in stdout

    # The sound: exactly the provider's samples when lossless, the same music as Opus.
    assert audio_format(data) == {"wav": "WAV", "flac": "FLAC", "opus": "OGG"}[fmt.value]
    if fmt.lossless:
        assert same_audio(data, audio)
        assert "lossless" in stdout
    else:
        reference, decoded = samples(audio), samples(data)
        assert abs(len(decoded) - len(reference)) < 48_000 // 10
        correlation, _lag = aligned_correlation(reference.astype(float), decoded.astype(float))
        assert correlation > 0.99

    # The provenance, as a music player shows it.
    job = await the_job(tmp_path)
    tags = player_tags(data, fmt, saved)
    assert tags["title"] == PROMPT
    for line in (
        f"Prompt: {PROMPT}",
        f"Negative prompt: {NEGATIVE}",
        "Seed: 42",
        "Model: google/lyria2",
        f"Job: {job.id}",
        "AI-generated with Lyria 2",
    ):
        assert line in tags["comment"].splitlines()
    assert tags["software"].startswith("lyria-jam-bot ")
    assert tags["date"] == datetime.fromtimestamp(job.created_at, UTC).date().isoformat()

    # The picture the Discord embed shows.
    with Image.open(picture) as image:
        image.load()
        assert image.format == "PNG" and image.size == (800, 160)
        assert len(set(np.asarray(image.convert("L")).flatten().tolist())) > 1  # not blank

    # Recorded where it went; the provider's download did not stay behind in AUDIO_DIR.
    assert job.state is JobState.DELIVERED and job.delivery is not None
    assert job.delivery.saved_to == str(saved)
    assert set(job.delivery.files) == {str(saved), str(picture)}
    assert job.audio_path is not None
    assert not await asyncio.to_thread(Path(job.audio_path).exists)


async def test_a_corrupt_provider_file_is_saved_untouched_with_one_line_saying_so(
    tmp_path: Path,
) -> None:
    async with FakeAimlApi(generation_seconds=0.2, audio=CORRUPT_WAV) as api:
        await learn_fast_generations(tmp_path, 0.2)
        picture = tmp_path / "wave.png"
        code, stdout, stderr = await run_bot(
            environment(tmp_path, api),
            "compose",
            "jazz",
            "--seed",
            "7",
            "--format",
            "flac",
            "--waveform",
            str(picture),
        )
    assert code == 0, stderr  # the music was made and is saved: the result is not lost
    # Named for what it is (a .wav as it came), not for the FLAC that could not be made.
    saved = tmp_path / "audio" / "jazz-seed7.wav"
    assert await asyncio.to_thread(saved.read_bytes) == CORRUPT_WAV
    assert f"Saved: {saved}" in stdout
    assert "Format: as the music service sent it, untouched" in stdout
    lines = stderr.splitlines()
    made = [line for line in lines if line.startswith("Could not make")]
    assert made == [
        "Could not make the FLAC file (it could not be decoded); saved the original as the "
        "music service sent it, untouched and without tags."
    ]
    drawn = [line for line in lines if "waveform" in line]
    assert len(drawn) == 1 and "Could not draw the waveform" in drawn[0]
    assert "it could not be decoded" in drawn[0]
    assert "Traceback" not in stderr
    assert not picture.exists() and "Waveform:" not in stdout
    job = await the_job(tmp_path)
    assert job.state is JobState.DELIVERED and job.delivery is not None
    assert job.delivery.saved_to == str(saved) and job.delivery.files == ()


async def test_a_second_piece_with_the_same_name_does_not_replace_the_first(
    tmp_path: Path,
) -> None:
    async with FakeAimlApi(generation_seconds=0.2, audio=provider_wav(0.5)) as api:
        await learn_fast_generations(tmp_path, 0.2)
        for _ in range(2):
            code, _, stderr = await run_bot(
                environment(tmp_path, api), "compose", "jazz", "--format", "flac"
            )
            assert code == 0, stderr
    names = sorted(p.name for p in (tmp_path / "audio").iterdir())
    assert names == ["jazz-2.flac", "jazz.flac"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--format", "mp3"], "argument --format: invalid choice: 'mp3' (choose from"),
        (["--format", "opus", "--out", "song.flac"], "ends in .flac, but --format is opus"),
    ],
)
async def test_bad_format_options_are_refused_before_any_network(
    tmp_path: Path, args: list[str], complaint: str
) -> None:
    async with FakeAimlApi() as api:
        code, stdout, stderr = await run_bot(environment(tmp_path, api), "compose", "jazz", *args)
        assert code == 2
        assert complaint in stderr and stdout == ""
        assert api.requests == []


def test_the_command_line_offers_every_format_the_audio_craft_makes() -> None:
    assert tuple(fmt.value for fmt in AudioFormat) == FORMATS


async def test_resume_takes_the_same_options(tmp_path: Path) -> None:
    audio = provider_wav(1.0)
    async with FakeAimlApi(generation_seconds=60, audio=audio) as api:
        await learn_fast_generations(tmp_path, 0.2)
        stderr = await interrupt_while_generating(tmp_path, api, "--seed", "3")
        job_id = resume_command(stderr)
        api.finish_now(next(iter(api.jobs)))
        picture = tmp_path / "drone.png"
        code, stdout, stderr = await run_bot(
            environment(tmp_path, api),
            "compose",
            "--resume",
            job_id,
            "--format",
            "flac",
            "--waveform",
            str(picture),
        )
        assert code == 0, stderr
        assert len(api.posts) == 1  # never submitted again
    saved = tmp_path / "audio" / "a-long-drone-seed3.flac"
    assert f"Saved: {saved}" in stdout
    data = await asyncio.to_thread(saved.read_bytes)
    assert same_audio(data, audio)
    assert flac_comments(saved)["TITLE"] == "a long drone"
    assert f"Job: {job_id}" in flac_comments(saved)["COMMENT"]
    with Image.open(picture) as image:
        assert image.size == (800, 160)
