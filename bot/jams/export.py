"""A jam's export: one ZIP with the entries' audio, `jam.json` and an `.m3u` playlist, built
to fit an upload limit. Synchronous and CPU-bound: run it in a worker thread (`export_jam`).

What fits: entries in ranked order (votes, then round and number); among the
`EXPORT_MAX_PIECES` best-ranked with a kept file, as many re-encodable pieces as fit the limit
together (`bot.audio.fit_pieces`: tagged WAV, else FLAC, else Opus at one bitrate for all,
never below the `EXPORT_OPUS` floor), then any other kept file as it came while room is left.
The cap bounds the export's time: Opus runs at ~0.07 s per second of audio on one core here,
so 100 pieces of 30 s take about 3 minutes, well inside an interaction's 15. Every other
entry is a link (its message in the thread, and the provider's link), and `jam.json` says for
each entry which it is and why. The finished ZIP is measured; should it still be over the
limit, the lowest-ranked piece becomes a link and the ZIP is made again.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.audio.fit import AudioWorkError, Piece, fit_pieces, opus_bitrates
from bot.audio.models import AudioFile, AudioPolicy, OpusLimits, Provenance
from bot.audio.probe import inspect_source
from bot.audio.tags import build_tags
from bot.jams.models import Entry, JamSnapshot
from bot.jams.rules import in_the_running, rank_entries, standings

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
# A jam's pieces share one upload: a lower floor than a single delivery's, still good Opus.
EXPORT_OPUS = OpusLimits(min_per_channel=24_000)
EXPORT_MAX_PIECES = 100
ZIP_ENTRY_OVERHEAD = 30 + 46 + 2 * 64 + 24  # local + central headers, two copies of the name
ZIP_END = 22 + 1024  # end of central directory, and a margin
MANIFEST = "jam.json"
PLAYLIST = "playlist.m3u"
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ExportRequest:
    snapshot: JamSnapshot
    limit_bytes: int
    work_dir: Path  # re-encoded pieces are kept here (content-keyed, reused by a later export)
    out_path: Path  # the ZIP to write
    links: dict[str, str]  # job id -> the entry's message in the thread


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    audio: int  # entries with their audio in the ZIP
    linked: int  # entries as links only
    format: str | None  # the re-encoded pieces' format (wav, flac, opus)


class ExportTooLarge(Exception):
    """Not even the manifest and playlist fit the limit."""


def ranked_for_export(snapshot: JamSnapshot) -> list[Entry]:
    """Entries in the running, best first: votes, then round, then number."""
    entries = [e for e in snapshot.entries if in_the_running(e)]
    return sorted(entries, key=lambda e: (-e.votes, e.round, e.number))


def export_jam(request: ExportRequest) -> ExportResult:
    """Build the ZIP at `request.out_path` (replacing it); ExportTooLarge when nothing fits."""
    order = ranked_for_export(request.snapshot)
    with_audio = [e for e in order if e.audio_path]
    kept = {e.job_id: Path(e.audio_path) for e in with_audio[:EXPORT_MAX_PIECES] if e.audio_path}
    names = {e.job_id: _file_stem(position, e) for position, e in enumerate(order, 1)}
    policy = AudioPolicy(opus=EXPORT_OPUS)
    transformable = [
        e
        for e in order
        if e.job_id in kept and inspect_source(kept[e.job_id], policy).transformable
    ]
    others = [e for e in order if e.job_id in kept and e not in transformable]

    skeleton = _manifest(request, order, {}, {})
    fixed = len(json.dumps(skeleton, indent=2).encode()) + len(
        _playlist(order, {}, request).encode()
    )
    fixed += len(order) * 200 + ZIP_END + 2 * ZIP_ENTRY_OVERHEAD  # audio details per entry
    budget = request.limit_bytes - fixed
    if budget < 0:
        raise ExportTooLarge(request.limit_bytes)

    count = _most_that_fit(transformable, kept, budget)
    while True:
        files = _fit(transformable[:count], kept, names, request, budget)
        if files is None:  # Opus overshot at every try: one piece fewer
            count -= 1
            continue
        room = budget - sum(f.size_bytes + ZIP_ENTRY_OVERHEAD for f in files.values())
        for entry in others:  # kept files that cannot be re-encoded go as they came, if room
            size = kept[entry.job_id].stat().st_size + ZIP_ENTRY_OVERHEAD
            if size <= room:
                files[entry.job_id] = _as_is(kept[entry.job_id], names[entry.job_id])
                room -= size
        result = _write_zip(request, order, files)
        if result.size_bytes <= request.limit_bytes or not files:
            if result.size_bytes > request.limit_bytes:
                raise ExportTooLarge(request.limit_bytes)
            return result
        # Our estimate was short: the lowest-ranked piece goes as a link instead.
        lowest = max(files, key=lambda job_id: order.index(_by_id(order, job_id)))
        if _by_id(order, lowest) in others:
            others.remove(_by_id(order, lowest))
        else:
            count = min(count, transformable.index(_by_id(order, lowest)))


def _most_that_fit(pieces: list[Entry], kept: dict[str, Path], budget: int) -> int:
    """The most best-ranked pieces whose Opus rate would stay above the floor (no encoding:
    durations come from the files' headers)."""
    if not pieces:
        return 0
    shapes: list[tuple[float, int]] = []
    for entry in pieces:
        sound = inspect_source(kept[entry.job_id], AudioPolicy()).sound
        assert sound is not None
        shapes.append((sound.duration_seconds, sound.channels))
    low, high = 0, len(pieces)
    while low < high:
        middle = (low + high + 1) // 2
        rates = opus_bitrates(
            shapes[:middle], budget, EXPORT_OPUS, overhead_per_piece=ZIP_ENTRY_OVERHEAD
        )
        if rates is None:
            high = middle - 1
        else:
            low = middle
    return low


def _fit(
    pieces: list[Entry],
    kept: dict[str, Path],
    names: dict[str, str],
    request: ExportRequest,
    budget: int,
) -> dict[str, AudioFile] | None:
    if not pieces:
        return {}
    made = [
        Piece(
            source=kept[e.job_id],
            stem=names[e.job_id],
            tags=build_tags(_provenance(e)),
            out_dir=request.work_dir,
        )
        for e in pieces
    ]
    try:
        fit = fit_pieces(made, budget, limits=EXPORT_OPUS, overhead_per_piece=ZIP_ENTRY_OVERHEAD)
    except AudioWorkError as error:
        log.warning("jam export: piece %d could not be re-encoded: %s", error.piece, error)
        return _fit(pieces[: error.piece] + pieces[error.piece + 1 :], kept, names, request, budget)
    if not fit.files:
        return None
    return {e.job_id: f for e, f in zip(pieces, fit.files, strict=True)}


def _as_is(path: Path, stem: str) -> AudioFile:
    extension = path.suffix.lstrip(".") or "bin"
    return AudioFile(
        path=path,
        format=None,
        content_type="application/octet-stream",
        size_bytes=path.stat().st_size,
        download_name=f"{stem}.{extension}",
        tagged=False,
        original=True,
    )


def _write_zip(
    request: ExportRequest, order: list[Entry], files: dict[str, AudioFile]
) -> ExportResult:
    names = {job_id: f"audio/{f.download_name}" for job_id, f in files.items()}
    manifest = _manifest(request, order, files, names)
    playlist = _playlist(order, names, request)
    out = request.out_path
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(temp, "w") as archive:
        archive.writestr(
            MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False), zipfile.ZIP_DEFLATED
        )
        archive.writestr(PLAYLIST, playlist, zipfile.ZIP_DEFLATED)
        for entry in order:
            audio = files.get(entry.job_id)
            if audio is not None:  # already compressed (or PCM that deflate barely helps)
                archive.write(audio.path, names[entry.job_id], zipfile.ZIP_STORED)
    temp.replace(out)
    formats = {f.format.value for f in files.values() if f.format is not None}
    return ExportResult(
        path=out,
        size_bytes=out.stat().st_size,
        audio=len(files),
        linked=len(order) - len(files),
        format=formats.pop() if len(formats) == 1 else None,
    )


# -- the manifest and the playlist ---------------------------------------------------------------


def _manifest(
    request: ExportRequest,
    order: list[Entry],
    files: dict[str, AudioFile],
    names: dict[str, str],
) -> dict[str, Any]:
    snapshot = request.snapshot
    jam = snapshot.jam
    s = jam.settings
    by_job = {e.job_id: e for e in snapshot.entries}
    round_ranks = {
        r.entry.job_id: r.rank
        for number in {e.round for e in order}
        for r in rank_entries(snapshot.entries_in(number))
    }
    closed = [r.number for r in snapshot.rounds if r.closed_at is not None and r.voting_opened_at]
    with_audio = [e for e in order if e.audio_path]
    beyond = {e.job_id for e in with_audio[EXPORT_MAX_PIECES:]}  # past the cap
    entries = []
    for position, entry in enumerate(order, 1):
        audio = files.get(entry.job_id)
        riff = by_job.get(entry.riff_of or "")
        entries.append(
            {
                "position": position,
                "number": entry.number,
                "round": entry.round,
                "job_id": entry.job_id,
                "requester_id": str(entry.user_id),
                "display_name": entry.display_name,
                "prompt": entry.final_prompt,
                "member_prompt": entry.prompt,
                "negative_prompt": entry.negative_prompt,
                "seed": entry.seed,
                "model": entry.model,
                "votes": entry.votes,
                "rank_in_round": round_ranks.get(entry.job_id),
                "riff_of": None
                if riff is None
                else {
                    "number": riff.number,
                    "job_id": riff.job_id,
                    "requester_id": str(riff.user_id),
                },
                "lineage": _lineage(entry, by_job),
                "created_at": _iso(entry.created_at),
                "delivered_at": _iso(entry.delivered_at),
                "audio": None
                if audio is None
                else {
                    "file": names[entry.job_id],
                    "format": audio.format.value if audio.format else "original",
                    "bytes": audio.size_bytes,
                    "bitrate": audio.bitrate,
                },
                "link": request.links.get(entry.job_id),
                "provider_link": entry.audio_url,
                "audio_note": None if audio is not None else _why_link(entry, beyond),
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "jam": {
            "id": jam.id,
            "theme": s.theme,
            "style": s.style,
            "negative_prompt": s.negative_prompt,
            "host_id": str(jam.host_id),
            "guild_id": str(jam.guild_id),
            "channel_id": str(jam.channel_id),
            "thread_id": str(jam.thread_id) if jam.thread_id else None,
            "rounds": s.rounds,
            "round_minutes": s.round_seconds // 60,
            "vote_minutes": s.vote_seconds // 60,
            "entries_per_round": s.entries_per_round,
            "budget": s.budget,
            "credits_used": snapshot.spent,
            "credits_returned": jam.returned if jam.settled else None,
            "phase": jam.phase.value,
            "end_reason": jam.end_reason.value if jam.end_reason else None,
            "created_at": _iso(jam.created_at),
            "ended_at": _iso(jam.ended_at),
        },
        "rounds": [
            {
                "number": r.number,
                "opened_at": _iso(r.opened_at),
                "submissions_closed_at": _iso(r.voting_opened_at or r.closed_at),
                "voting_closed_at": _iso(r.closed_at) if r.voting_opened_at else None,
                "voters": snapshot.voters.get(r.number, 0),
            }
            for r in snapshot.rounds
        ],
        "entries": entries,
        "leaderboard": [
            {
                "rank": row.rank,
                "requester_id": str(row.user_id),
                "display_name": row.display_name,
                "votes": row.votes,
                "entries": row.entries,
                "rounds_won": row.wins,
            }
            for row in standings(snapshot.entries, closed)
        ],
        "playlist": PLAYLIST,
        "exported_at": _iso(datetime.now(UTC).timestamp()),
    }


def _why_link(entry: Entry, beyond: set[str]) -> str:
    if entry.audio_path is None:
        return "no audio file was kept for this entry"
    if entry.job_id in beyond:
        return f"an export carries the audio of the {EXPORT_MAX_PIECES} best-ranked entries"
    return "did not fit the upload limit"


def _lineage(entry: Entry, by_job: dict[str, Entry]) -> list[int]:
    """The entry numbers this one descends from, nearest first (riff of a riff of …)."""
    chain: list[int] = []
    seen = {entry.job_id}
    current = by_job.get(entry.riff_of or "")
    while current is not None and current.job_id not in seen:
        chain.append(current.number)
        seen.add(current.job_id)
        current = by_job.get(current.riff_of or "")
    return chain


def _playlist(order: list[Entry], names: dict[str, str], request: ExportRequest) -> str:
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(request.snapshot.jam.settings.theme)}"]
    for entry in order:
        where = names.get(entry.job_id) or request.links.get(entry.job_id) or entry.audio_url
        if where is None:
            continue
        seconds = round(entry.duration_seconds) if entry.duration_seconds else -1
        title = f"#{entry.number} {_one_line(entry.display_name)} — {_one_line(entry.prompt)[:80]}"
        lines += [f"#EXTINF:{seconds},{title}", where]
    return "\n".join(lines) + "\n"


def _provenance(entry: Entry) -> Provenance:
    return Provenance(
        prompt=entry.final_prompt,
        job_id=entry.job_id,
        model=entry.model or "google/lyria2",
        created_at=datetime.fromtimestamp(entry.created_at, UTC),
        negative_prompt=entry.negative_prompt,
        seed=entry.seed,
    )


def _file_stem(position: int, entry: Entry) -> str:
    slug = _SLUG.sub("-", entry.display_name.lower()).strip("-")[:24] or "member"
    return f"{position:03d}-entry{entry.number}-{slug}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _iso(unix_seconds: float | None) -> str | None:
    if unix_seconds is None:
        return None
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat()


def _by_id(order: list[Entry], job_id: str) -> Entry:
    return next(e for e in order if e.job_id == job_id)
