"""A track bigger than the upload limit: the same sound in a smaller format where one fits
(WAV, then lossless FLAC, then Opus), else the link; always said in the embed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio_support import (
    aligned_correlation,
    audio_format,
    music,
    noise,
    pcm16_wav_bytes,
    same_audio,
    samples,
)
from tests.conftest import Harness
from tests.fakes.aimlapi import make_wav
from tests.fakes.discord import FakeMessage

MIB = 1024 * 1024
LONG_TONE = make_wav(60.0, rate=48000, channels=2)  # 11.5 MB of WAV, tiny as FLAC
MUSIC = pcm16_wav_bytes((music(20.0) * 32767).astype(np.int16))  # 3.8 MB; 2.6 MB as FLAC
NOISE = pcm16_wav_bytes((noise(20.0) * 32767).astype(np.int16))  # FLAC saves little on noise
ODD_AND_BIG = make_wav(660.0)  # 8 kHz mono, 10.6 MB: not Lyria's layout, so kept as sent


def formats(result: FakeMessage) -> str:
    return {f["name"]: f["value"] for f in result.embeds[0]["fields"]}["Format"]


@pytest.mark.harness(api={"audio": LONG_TONE})
async def test_a_wav_over_the_limit_arrives_as_lossless_flac(harness: Harness) -> None:
    interaction = await harness.compose("an epic orchestral suite")
    result = await harness.result_of(interaction)
    audio, waveform = result.attachments
    assert audio.filename.endswith(".flac") and audio_format(audio.data) == "FLAC"
    assert len(audio.data) < 10 * MIB
    assert same_audio(audio.data, LONG_TONE)  # lossless: every sample the same
    assert formats(result) == (
        "FLAC, lossless (same sound as the WAV): the WAV is over the 10 MiB limit."
    )
    assert waveform.filename == "waveform.png"
    assert harness.fake_discord.upload_rejections == []  # decided before uploading


@pytest.mark.harness(api={"audio": MUSIC})
async def test_when_even_flac_is_too_big_the_track_arrives_as_opus(harness: Harness) -> None:
    harness.guild.upload_limit_override = 1 * MIB
    interaction = await harness.compose("two detuned tones")
    result = await harness.result_of(interaction)
    audio = result.attachments[0]
    assert audio.filename.endswith(".ogg") and audio_format(audio.data) == "OGG"
    assert len(audio.data) <= 1 * MIB
    decoded, original = samples(audio.data), samples(MUSIC)
    assert decoded.shape[1] == 2 and abs(decoded.shape[0] / 48000 - 20.0) < 0.1
    assert aligned_correlation(original.astype(float), decoded.astype(float))[0] > 0.99
    assert formats(result).startswith("Opus at ")
    assert formats(result).endswith("even lossless FLAC is over the 1 MiB limit.")
    assert harness.fake_discord.upload_rejections == []


@pytest.mark.harness(api={"audio": NOISE})
async def test_when_nothing_fits_the_track_arrives_as_its_link(harness: Harness) -> None:
    harness.guild.upload_limit_override = 20_000
    interaction = await harness.compose("a wall of noise")
    result = await harness.result_of(interaction)
    assert result.attachments == []
    assert "over this server's 19.5 KiB upload limit even as compressed Opus" in result.content
    assert "<http://127.0.0.1:" in result.content  # the CDN link, without an embed preview
    embed = result.embeds[0]
    assert "image" not in embed  # no waveform without its attachment
    assert "Format" not in {f["name"] for f in embed["fields"]}  # the line above says why


@pytest.mark.harness(api={"audio": ODD_AND_BIG})
async def test_an_unexpected_file_too_big_to_attach_goes_as_its_link(harness: Harness) -> None:
    interaction = await harness.compose("an epic orchestral suite")
    result = await harness.result_of(interaction)
    assert result.attachments == []
    assert "(it is over this server's 10 MiB upload limit)" in result.content
    assert "<http://127.0.0.1:" in result.content
    assert harness.fake_discord.upload_rejections == []


BROKEN_WAV = b"RIFF\x24\x00\x00\x00WAVE" + b"\x00garbled" * 8  # a WAV header, no WAV


@pytest.mark.harness(api={"audio": BROKEN_WAV})
async def test_a_wav_that_cannot_be_decoded_is_passed_on_as_sent_and_said_so(
    harness: Harness,
) -> None:
    interaction = await harness.compose("calm piano")
    result = await harness.result_of(interaction)
    [audio] = result.attachments  # and no waveform: there is nothing to draw
    assert audio.data == BROKEN_WAV
    assert "image" not in result.embeds[0]
    assert formats(result) == "The file as the music service sent it (it could not be decoded)."


# edit_interval=0: the throttle never holds the "uploading" edit back, so whether it is sent
# depends only on the file's size, not on when the last progress edit happened to land.
@pytest.mark.harness(api={"audio": LONG_TONE}, premium_tier=2, delivery={"edit_interval": 0.0})
async def test_a_boosted_server_gets_the_big_wav_attached(harness: Harness) -> None:
    interaction = await harness.compose("an epic orchestral suite")
    result = await harness.result_of(interaction)
    audio = result.attachments[0]
    assert audio.filename.endswith(".wav") and same_audio(audio.data, LONG_TONE)
    assert formats(result) == "WAV, lossless, as generated."
    assert harness.fake_discord.upload_rejections == []
    status = await harness.status_of(interaction, lambda m: m.deleted)
    # A multi-megabyte upload is announced before it starts (the edit goes first on the token).
    contents = [body.get("content") or "" for body in status.history]
    assert any("Uploading to Discord" in text for text in contents), contents
    patches = [r for r in harness.fake_discord.requests if r.method == "PATCH"]
    posts = [r for r in harness.fake_discord.requests if r.uploads]
    announce = next(r for r in patches if "Uploading" in ((r.body or {}).get("content") or ""))
    requests = harness.fake_discord.requests
    assert requests.index(announce) < requests.index(posts[0])
