"""The export ZIP: under the upload limit whatever happens, the best-ranked pieces in it,
the rest as links that the manifest names, lineage and votes in `jam.json`, a ranked playlist."""

from __future__ import annotations

import json
import wave
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from bot.jams import export
from bot.jams.export import ExportRequest, ExportTooLarge, export_jam
from bot.jams.models import (
    Entry,
    EntryState,
    Jam,
    JamPhase,
    JamSettings,
    JamSnapshot,
    Round,
)
from tests.audio_support import music, write_wav


def make_jam() -> Jam:
    return Jam(
        id="abcdef0123",
        guild_id=1,
        channel_id=2,
        thread_id=3,
        card_message_id=3,
        host_id=9,
        settings=JamSettings("Night drive", rounds=1, budget=10, style="synthwave"),
        pool_period=0,
        phase=JamPhase.ENDED,
        round=1,
        phase_ends_at=None,
        settled=True,
        returned=4,
        end_reason=None,
        created_at=1_800_000_000.0,
        updated_at=1_800_000_000.0,
    )


def make_entries(tmp_path: Path, count: int, seconds: float) -> list[Entry]:
    entries = []
    for number in range(1, count + 1):
        path = write_wav(tmp_path / f"e{number}.wav", music(seconds, seed=number))
        entries.append(
            Entry(
                job_id=f"job{number:04d}",
                jam_id="abcdef0123",
                round=1,
                number=number,
                user_id=100 + number,
                display_name=f"Member {number}",
                prompt=f"idea {number}",
                final_prompt=f"idea {number}, synthwave",
                negative_prompt=None,
                seed=number,
                riff_of="job0001" if number == 3 else None,
                state=EntryState.READY,
                audio_path=str(path),
                created_at=1_800_000_100.0 + number,
                votes=number % 4,  # #3 gets 3 votes, #2 and #6 two, ...
                model="google/lyria2",
                result_message_id=5000 + number,
                result_channel_id=3,
            )
        )
    return entries


def snapshot_of(entries: list[Entry]) -> JamSnapshot:
    rounds = (Round(1, 1.0, 2.0, 2.0, 3.0, 3.0),)
    return JamSnapshot(make_jam(), rounds, tuple(entries), spent=len(entries), voters={1: 7})


def request(tmp_path: Path, entries: list[Entry], limit: int) -> ExportRequest:
    return ExportRequest(
        snapshot=snapshot_of(entries),
        limit_bytes=limit,
        work_dir=tmp_path / "work",
        out_path=tmp_path / "out" / "jam.zip",
        links={e.job_id: f"https://discord.com/channels/1/3/{5000 + e.number}" for e in entries},
    )


def read(path: Path) -> tuple[dict[str, object], str, list[str]]:
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("jam.json"))
        playlist = archive.read("playlist.m3u").decode()
        names = [n for n in archive.namelist() if n.startswith("audio/")]
    return manifest, playlist, names


def test_everything_fits_as_tagged_wav_in_ranked_order(tmp_path: Path) -> None:
    entries = make_entries(tmp_path, 4, 1.0)
    result = export_jam(request(tmp_path, entries, 50 * 1024 * 1024))
    assert (result.audio, result.linked, result.format) == (4, 0, "wav")
    manifest, playlist, names = read(result.path)
    order = [e["number"] for e in manifest["entries"]]  # type: ignore[index]
    assert order == [3, 2, 1, 4]  # votes 3, 2, 1, 0
    riff = next(e for e in manifest["entries"] if e["number"] == 3)  # type: ignore[attr-defined]
    assert riff["riff_of"]["number"] == 1 and riff["lineage"] == [1]
    assert riff["prompt"] == "idea 3, synthwave" and riff["member_prompt"] == "idea 3"
    assert riff["requester_id"] == "103" and riff["display_name"] == "Member 3"
    assert riff["audio"]["format"] == "wav" and riff["link"].endswith("/5003")
    assert manifest["jam"]["credits_returned"] == 4  # type: ignore[index]
    assert manifest["rounds"][0]["voters"] == 7  # type: ignore[index]
    assert len(names) == 4 and playlist.splitlines()[0] == "#EXTM3U"
    listed = [line for line in playlist.splitlines() if not line.startswith("#")]
    assert listed == [f"audio/{Path(n).name}" for n in sorted(names)]
    assert listed[0].startswith("audio/001-entry3-member-3")


def test_over_the_limit_the_best_ranked_are_re_encoded_and_the_rest_are_links(
    tmp_path: Path,
) -> None:
    entries = make_entries(tmp_path, 6, 8.0)  # ~1.5 MB of WAV each
    limit = 160 * 1024
    result = export_jam(request(tmp_path, entries, limit))
    assert result.path.stat().st_size <= limit
    assert result.format == "opus" and 0 < result.audio < 6 and result.linked == 6 - result.audio
    manifest, playlist, names = read(result.path)
    shipped = [e for e in manifest["entries"] if e["audio"] is not None]  # type: ignore[attr-defined]
    linked = [e for e in manifest["entries"] if e["audio"] is None]  # type: ignore[attr-defined]
    assert len(names) == len(shipped) == result.audio
    # The best-ranked ones get the audio; every other says why it is a link.
    positions = [e["position"] for e in shipped]
    assert positions == list(range(1, len(shipped) + 1))
    assert all(e["audio_note"] == "did not fit the upload limit" and e["link"] for e in linked)
    assert all(e["audio"]["format"] == "opus" and e["audio"]["bitrate"] for e in shipped)
    assert sum(1 for line in playlist.splitlines() if line.startswith("https://")) == len(linked)


def test_files_it_cannot_re_encode_go_as_they_came_and_missing_ones_as_links(
    tmp_path: Path,
) -> None:
    entries = make_entries(tmp_path, 2, 1.0)
    odd = tmp_path / "odd.wav"
    with wave.open(str(odd), "wb") as wav:  # 8 kHz mono: not what the export re-encodes
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x10\x00" * 8000)
    entries[0] = replace(entries[0], audio_path=str(odd))
    entries[1] = replace(entries[1], audio_path=None)
    result = export_jam(request(tmp_path, entries, 10 * 1024 * 1024))
    manifest, _playlist, names = read(result.path)
    by_number = {e["number"]: e for e in manifest["entries"]}  # type: ignore[attr-defined]
    assert by_number[1]["audio"]["format"] == "original" and len(names) == 1
    assert by_number[2]["audio"] is None
    assert by_number[2]["audio_note"] == "no audio file was kept for this entry"


def test_a_limit_too_small_for_the_manifest_is_refused(tmp_path: Path) -> None:
    entries = make_entries(tmp_path, 2, 1.0)
    with pytest.raises(ExportTooLarge):
        export_jam(request(tmp_path, entries, 1000))


def test_the_audio_of_at_most_the_best_ranked_cap_is_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_MAX_PIECES", 2)
    entries = make_entries(tmp_path, 4, 1.0)
    result = export_jam(request(tmp_path, entries, 50 * 1024 * 1024))
    assert (result.audio, result.linked) == (2, 2)
    manifest, _playlist, _names = read(result.path)
    notes = [e["audio_note"] for e in manifest["entries"]]  # type: ignore[index]
    assert notes[:2] == [None, None]
    assert all("2 best-ranked entries" in note for note in notes[2:])
