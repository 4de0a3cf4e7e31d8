"""Load: a whole jam of `--members` members × `--rounds` rounds, bot in a child process.

The parent runs the fakes (FakeDiscord with Discord's rate limits, FakeAimlApi serving a 48 kHz
stereo WAV of `--clip` seconds) and plays the members: a moderator starts the jam; each round
every member enters with /compose in the jam's thread; when submissions close every member
votes at once (a tenth of them vote twice, moving their vote); then voting closes. After the
last round the jam ends by itself (results, summary, announcement) and a member exports it.
Deadlines are moved in the database and the bot told to look (SIGUSR1 wakes its scheduler),
as the passing of time would.

Figures printed:

  votes                each member's last vote, counted from the database and from the
                       export's jam.json: lost or double votes must be 0, none for one's own
  vote handling        click → the bot's ephemeral answer acknowledged (p50/p95/max)
  summary              last vote deadline passed → the summary's last page posted
  export               /jam export invoked → the ZIP attached (its size, pieces, links)
  loop lag p99         in the bot process, over the whole run
  peak RSS             of the bot process
  429s, late acks      from the fake Discord

    .venv/bin/python bench/jam_load.py [--members 200] [--rounds 3] [--clip 4]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import resource
import signal
import sqlite3
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(__file__).resolve())
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import drain, lag_probe, percentile  # noqa: E402

from bot.config import load_settings  # noqa: E402
from bot.jobs.poll_schedule import PollSchedule  # noqa: E402

GEN_MIN, GEN_MAX = 1.0, 4.0  # fake generation times (s)
BALLOT_LINE = re.compile(r"\*\*#(\d+)\*\* by <@(\d+)>")


def bench_schedule(history: Any) -> PollSchedule:
    rng = random.Random(7)
    return PollSchedule.from_history([rng.uniform(GEN_MIN, GEN_MAX) for _ in range(200)])


def wav48(seconds: float) -> bytes:
    import numpy as np
    import soundfile as sf

    rate = 48_000
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(3)
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 331 * t) + 0.05 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, np.stack([left, right], axis=1), rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


# -- the bot process ------------------------------------------------------------------------


async def child_main() -> None:
    from bot.bot import JamBot
    from bot.endpoints import apply_discord_endpoints
    from bot.jobs.engine import EngineTuning
    from bot.logs import setup_logging
    from bot.tuning import Tuning

    settings = load_settings()
    assert settings.discord_token is not None and settings.aimlapi_key is not None
    setup_logging("WARNING", [settings.discord_token.reveal(), settings.aimlapi_key.reveal()])
    apply_discord_endpoints(settings.discord_api_base_url, settings.discord_gateway_url)
    bot = JamBot(settings, tuning=Tuning(engine=EngineTuning(schedule_factory=bench_schedule)))
    lags: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: bot.services.jam_scheduler.wake())
    probe = asyncio.create_task(lag_probe(lags))
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord_token.reveal()))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        probe.cancel()
        report = {
            "lag_p50_ms": percentile(lags, 50) * 1000,
            "lag_p99_ms": percentile(lags, 99) * 1000,
            "lag_max_ms": max(lags, default=0.0) * 1000,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_seconds": time.process_time(),
        }
        await bot.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    print("REPORT " + json.dumps(report), flush=True)


# -- the members ------------------------------------------------------------------------------


def plan_votes(
    voters: list[int], authors: dict[int, int], rng: random.Random
) -> tuple[dict[int, int], dict[int, int]]:
    """Each voter's first vote (by index into `voters`), and the tenth of them who then move
    it; `authors`: entry number -> its author, so nobody votes for their own."""
    numbers = sorted(authors)

    def choice(i: int, shift: int) -> int:
        for step in range(len(numbers)):
            pick = numbers[(i + shift + step) % len(numbers)]
            if authors[pick] != voters[i]:
                return pick
        raise AssertionError("a round with only one author")

    first = {i: choice(i, 1 + rng.randrange(5)) for i in range(len(voters))}
    movers = {i: choice(i, 7) for i in range(len(voters)) if rng.random() < 0.1}
    return first, movers


def marker_of(message: Any) -> str:
    return str(message.content).rsplit("\n", 1)[-1] if message.content else ""


async def parent_main(args: argparse.Namespace) -> int:
    from tests.fakes.aimlapi import FakeAimlApi
    from tests.fakes.discord import FakeDiscord, Perm

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="jam-load-"))
    database = tmp / "bot.sqlite3"

    def generation_seconds(body: dict[str, Any]) -> float:
        return rng.uniform(GEN_MIN, GEN_MAX)

    async with (
        FakeDiscord(validate_spec=args.spec) as fake,
        FakeAimlApi(generation_seconds=generation_seconds, audio=wav48(args.clip)) as api,
    ):
        guild = fake.add_guild("Jam Load")
        channel = guild.add_text_channel("jams")
        host = guild.add_member("host", permissions=Perm.ALL & ~Perm.ADMINISTRATOR)
        members = [guild.add_member(f"member{i}") for i in range(args.members)]
        budget = args.members * args.rounds
        env = {
            **os.environ,
            "DISCORD_TOKEN": fake.bot_token,
            "AIMLAPI_KEY": api.api_key,
            "AIMLAPI_BASE_URL": api.base_url,
            "DISCORD_API_BASE_URL": fake.api_base_url,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "DATABASE_PATH": str(database),
            "AUDIO_DIR": str(tmp / "audio"),
            "DEV_GUILD_ID": str(guild.id),
            "LOG_LEVEL": "WARNING",
            "MAX_CONCURRENT_GENERATIONS": str(args.members),
            "GUILD_DAILY_POOL": str(budget + 10),
            "BOT_DAILY_CAP": str(budget + 10),
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable, SCRIPT, "--child", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None and child.stderr is not None
        out_reader = asyncio.create_task(drain(child.stdout))
        err_reader = asyncio.create_task(drain(child.stderr))
        figures: dict[str, Any] = {}
        vote_latencies: list[float] = []
        expected: dict[int, dict[int, int]] = {}  # round -> entry number -> votes
        try:
            await fake.wait_ready(timeout=30)
            await fake.notifier.wait_until(lambda: fake.guild_commands.get(guild.id), timeout=30)

            def wake_bot() -> None:
                child.send_signal(signal.SIGUSR1)

            def pass_deadline(jam_id: str) -> None:
                with sqlite3.connect(database, timeout=30) as conn:
                    conn.execute(
                        "UPDATE jams SET phase_ends_at = ? WHERE id = ?", (time.time() - 1, jam_id)
                    )
                wake_bot()

            async def wait_post(where: Any, label: str, timeout: float = 120) -> Any:  # noqa: ASYNC109
                return await where.wait_for(lambda m: f"· {label} ·" in marker_of(m), timeout)

            async def last_page(where: Any, label: str, timeout: float = 300) -> Any:  # noqa: ASYNC109
                def done() -> Any:
                    pages = [m for m in where.messages if f"· {label} ·" in marker_of(m)]
                    if not pages:
                        return None
                    page, of = marker_of(pages[-1]).rsplit(" · ", 1)[-1].split("/")
                    return pages[-1] if page == of else None

                return await fake.notifier.wait_until(done, timeout)

            started = time.time()
            start = await fake.invoke(
                "jam start",
                {
                    "theme": "load test", "rounds": args.rounds, "budget": budget,
                    "round_minutes": 60, "vote_minutes": 60, "style": "lo-fi",
                },
                user=host, channel=channel,
            )  # fmt: skip
            await start.wait_for_original(lambda m: "jam is on" in m.content, timeout=30)
            thread = await guild.wait_for_thread(lambda t: t.parent is channel)
            opened = await wait_post(thread, "round 1 open")
            jam_id = marker_of(opened).split()[2]

            for round_number in range(1, args.rounds + 1):
                if round_number > 1:
                    await wait_post(thread, f"round {round_number} open")
                round_started = time.time()
                entries = await asyncio.gather(
                    *(
                        fake.invoke(
                            "compose",
                            {"prompt": f"round {round_number} idea {i}"},
                            user=member,
                            channel=thread,
                        )
                        for i, member in enumerate(members)
                    )
                )
                await asyncio.gather(
                    *(e.wait_for_followup(lambda m: bool(m.embeds), timeout=300) for e in entries)
                )
                figures[f"round {round_number} entries"] = time.time() - round_started
                pass_deadline(jam_id)
                await last_page(thread, f"round {round_number} ballot")
                ballots = [
                    m for m in thread.messages if f"round {round_number} ballot" in marker_of(m)
                ]
                buttons = {
                    int(cid.rsplit(":", 1)[1]): (message, cid)
                    for message in ballots
                    for cid in message.custom_ids()
                }
                authors = {
                    int(number): int(user)
                    for message in ballots
                    for number, user in BALLOT_LINE.findall(message.content)
                }
                assert sorted(authors) == sorted(buttons)
                first, movers = plan_votes([m.id for m in members], authors, rng)

                async def cast(i: int, number: int, ballot: dict[int, Any] = buttons) -> None:
                    message, cid = ballot[number]
                    click = await fake.click(message, cid, user=members[i])
                    await click.wait_for_ack(timeout=10)
                    assert click.acked_at is not None
                    vote_latencies.append(click.acked_at - click.sent_at)

                await asyncio.gather(*(cast(i, n) for i, n in first.items()))
                await asyncio.gather(*(cast(i, n) for i, n in movers.items()))
                final = {**first, **movers}
                counts: dict[int, int] = {}
                for number in final.values():
                    counts[number] = counts.get(number, 0) + 1
                expected[round_number] = counts
                deadline_passed = time.time()
                pass_deadline(jam_id)
                await last_page(thread, f"round {round_number} results")
                figures[f"round {round_number} results"] = time.time() - deadline_passed

            summary = await last_page(thread, "final results")
            figures["summary"] = summary.created_at - deadline_passed
            await wait_post(channel, "over")

            exporter = members[0]
            export_started = time.time()
            export = await fake.invoke("jam export", {}, user=exporter, channel=channel)
            reply = await export.wait_for_original(
                lambda m: bool(m.attachments) or "Sorry" in m.content, timeout=600
            )
            figures["export"] = time.time() - export_started
            figures["wall"] = time.time() - started
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
            await asyncio.wait_for(child.wait(), 120)
            out, err = await out_reader, await err_reader

        report_line = next((x for x in out.decode().splitlines() if x.startswith("REPORT ")), None)
        child_report = json.loads(report_line[7:]) if report_line else {}
        if not report_line:
            print(err.decode()[-3000:], file=sys.stderr)
        logged_errors = sum(1 for line in err.decode().splitlines() if " ERROR " in line)

        # Votes, recounted from the database and from the export, against what was cast.
        conn = sqlite3.connect(database)
        lost = double = own_votes = 0
        for round_number, counts in expected.items():
            rows = dict(
                conn.execute(
                    "SELECT entry, COUNT(*) FROM jam_votes WHERE jam_id = ? AND round = ? "
                    "GROUP BY entry",
                    (jam_id, round_number),
                ).fetchall()
            )
            for number in set(counts) | set(rows):
                diff = rows.get(number, 0) - counts.get(number, 0)
                lost += max(-diff, 0)
                double += max(diff, 0)
        own_votes = conn.execute(
            "SELECT COUNT(*) FROM jam_votes v JOIN jam_entries e ON e.jam_id = v.jam_id "
            "AND e.number = v.entry WHERE v.voter_id = e.user_id"
        ).fetchone()[0]
        spent = conn.execute(
            "SELECT COUNT(*) FROM quota_reservations WHERE jam_id = ? AND state != 'refunded'",
            (jam_id,),
        ).fetchone()[0]
        conn.close()
        manifest_votes = manifest_entries = 0
        audio = linked = 0
        size = 0
        if reply.attachments:
            data = reply.attachments[0].data
            size = len(data)
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                manifest = json.loads(archive.read("jam.json"))
            manifest_entries = len(manifest["entries"])
            manifest_votes = sum(e["votes"] for e in manifest["entries"])
            audio = sum(1 for e in manifest["entries"] if e["audio"])
            linked = manifest_entries - audio
        cast_total = sum(sum(c.values()) for c in expected.values())

        print(
            f"jam_load: {args.members} members × {args.rounds} rounds, clips of {args.clip:.0f} s"
            f" (48 kHz stereo WAV), fake generation {GEN_MIN:.0f}–{GEN_MAX:.0f} s"
        )
        print(f"  wall time            {figures.get('wall', float('nan')):.1f} s")
        for round_number in expected:
            print(
                f"  round {round_number}              entries in "
                f"{figures[f'round {round_number} entries']:.1f} s; results posted "
                f"{figures[f'round {round_number} results']:.2f} s after voting closed"
            )
        print(
            f"  votes                {len(vote_latencies)} clicks, {cast_total} counted votes; "
            f"database: {lost} lost, {double} double; export jam.json: {manifest_votes} votes "
            f"over {manifest_entries} entries; own-entry votes {own_votes}"
        )
        print(
            f"  vote handling        p50 {percentile(vote_latencies, 50) * 1000:.0f} ms  "
            f"p95 {percentile(vote_latencies, 95) * 1000:.0f} ms  "
            f"max {max(vote_latencies, default=0) * 1000:.0f} ms  (click → acknowledged)"
        )
        summary_s = figures.get("summary", float("nan"))
        print(f"  summary              {summary_s:.2f} s after the last vote closed")
        print(
            f"  export               {figures.get('export', float('nan')):.1f} s: "
            f"{size / 1024 / 1024:.2f} MiB ZIP, {audio} pieces, {linked} links"
        )
        print(f"  credits spent        {spent} of {budget}")
        if child_report:
            print(
                f"  loop lag (bot)       p50 {child_report['lag_p50_ms']:.1f} ms  "
                f"p99 {child_report['lag_p99_ms']:.1f} ms  max {child_report['lag_max_ms']:.0f} ms"
            )
            print(f"  peak RSS (bot)       {child_report['maxrss_mb']:.0f} MB")
            print(f"  CPU time (bot)       {child_report['cpu_seconds']:.1f} s")
        print(f"  429s from Discord    {fake.ratelimited_count}")
        print(f"  late acks (>3 s)     {len(fake.late_acks)}")
        print(f"  errors logged (bot)  {logged_errors}")
        correct = (
            lost == 0
            and double == 0
            and own_votes == 0
            and manifest_votes == cast_total
            and manifest_entries == args.members * args.rounds
            and child.returncode == 0
        )
        print("  verdict              " + ("0 lost or double votes" if correct else "WRONG"))
        return 0 if correct else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clip", type=float, default=4.0, help="seconds of audio per entry")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spec", action="store_true", help="validate requests against the spec")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_main())
        return 0
    return asyncio.run(parent_main(args))


if __name__ == "__main__":
    sys.exit(main())
