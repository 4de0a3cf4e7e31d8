"""Load: N concurrent /compose through the fake Discord and the fake AI/ML API, bot in a child.

The parent process runs the fakes (FakeDiscord with Discord's rate limits, FakeAimlApi) and
fires N slash commands at once from `--members` members across `--channels` channels. The bot
runs as a separate process (`python -m bot`'s own JamBot, started by this script in `--child`
mode so it can measure itself): a probe task records event-loop lag (sleep overshoot), and at
SIGTERM it reports its peak RSS. Figures printed:

  delivered            results posted / N (and how: interaction webhook, channel, DM)
  overhead             provider completion noticed by the engine → result message posted
                       (p50/p95; the bot's own cost: download, upload, Discord calls)
  end-to-end           provider job ready → result posted (adds the poll lag of the schedule)
  loop lag p99         in the bot process
  database             operations the bot ran (all parts: jobs, quota, delivery) and the
                       thread hops they needed
  peak RSS             of the bot process
  429s                 rate-limited answers Discord (the fake) gave the bot
  late acks            interactions not acknowledged within 3 s

Targets: overhead p95 <= 1.5 s, loop lag p99 <= 100 ms, peak RSS <= 300 MB, zero 429s.
The fakes share one process (and, on a small machine, the CPU) with the load generator, so
their own latency is part of "overhead"; OpenAPI validation is off unless `--spec` is given.

Every result goes through the audio craft (tags, waveform, a format that fits): the fake API
serves `--audio-seconds` of 48 kHz stereo WAV (Lyria's 30 s by default; 5.8 MB, under the
10 MiB limit, so WAV), and generations take `--gen-min`..`--gen-max` seconds (the spread of
completions decides how many pieces the audio worker must prepare at once).

    .venv/bin/python bench/compose_load.py [--n 500] [--members 100] [--channels 10]
        [--audio-seconds 30] [--gen-min 3] [--gen-max 9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(__file__).resolve())
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.jobs.poll_schedule import PollSchedule  # noqa: E402


def edit_kinds(fake_discord: Any) -> str:
    """How many status edits showed each kind of text (the first line's first words)."""
    kinds: dict[str, int] = {}
    for message in fake_discord.messages.values():
        if message.attachments:
            continue
        for body in message.history:
            first = (body.get("content") or "").split("\n", 1)[0]
            kind = " ".join(first.replace("*", "").split()[:2])
            kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items()))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


GENERATION_RANGE = "BENCH_GENERATION_SECONDS"  # "min:max", handed to the bot process


def bench_schedule(history: Any) -> PollSchedule:
    """The adaptive schedule, warmed with the bench's own generation-time distribution."""
    low, high = (float(x) for x in os.environ[GENERATION_RANGE].split(":"))
    rng = random.Random(7)
    return PollSchedule.from_history([rng.uniform(low, high) for _ in range(200)])


async def drain(stream: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while chunk := await stream.read(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def lag_probe(lags: list[float], interval: float = 0.02) -> None:
    """Record how late each `sleep(interval)` wakes up: the event loop's lag."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        lags.append(max(0.0, loop.time() - before - interval))


# -- the bot process ------------------------------------------------------------------------


async def child_main() -> None:
    from bot.bot import JamBot
    from bot.endpoints import apply_discord_endpoints
    from bot.jobs.engine import EngineTuning
    from bot.logs import setup_logging
    from bot.store.sqlite import SqliteStore
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
    probe_task = asyncio.create_task(lag_probe(lags))
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord_token.reveal()))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        probe_task.cancel()
        delivery = bot.get_cog("Compose").delivery  # type: ignore[union-attr]
        store = bot.services.store
        assert isinstance(store, SqliteStore)
        report = {
            "lag_p50_ms": percentile(lags, 50) * 1000,
            "lag_p99_ms": percentile(lags, 99) * 1000,
            "lag_max_ms": max(lags, default=0.0) * 1000,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_seconds": time.process_time(),
            "deliveries": delivery.deliveries,
            "status_edits": delivery.status.edits,
            "db_operations": store.database.batched_operations,
            "db_batches": store.database.batches,
        }
        await bot.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    print("REPORT " + json.dumps(report), flush=True)


# -- the load generator -----------------------------------------------------------------------


async def parent_main(args: argparse.Namespace) -> int:
    from tests.audio_support import music, pcm16_wav_bytes
    from tests.conftest import job_id_of
    from tests.fakes.aimlapi import FakeAimlApi
    from tests.fakes.discord import FakeDiscord

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="compose-load-"))

    def generation_seconds(body: dict[str, Any]) -> float:
        return rng.uniform(args.gen_min, args.gen_max)

    audio = pcm16_wav_bytes((music(args.audio_seconds) * 32767).astype("int16"))
    async with (
        FakeDiscord(validate_spec=args.spec) as fake_discord,
        FakeAimlApi(generation_seconds=generation_seconds, audio=audio) as fake_api,
    ):
        guild = fake_discord.add_guild("Load Test")
        channels = [guild.add_text_channel(f"music-{i}") for i in range(args.channels)]
        members = [guild.add_member(f"member{i}") for i in range(args.members)]
        per_member = -(-args.n // args.members)
        env = {
            **os.environ,
            "DISCORD_TOKEN": fake_discord.bot_token,
            "AIMLAPI_KEY": fake_api.api_key,
            "AIMLAPI_BASE_URL": fake_api.base_url,
            "DISCORD_API_BASE_URL": fake_discord.api_base_url,
            "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
            "DATABASE_PATH": str(tmp / "bot.sqlite3"),
            "AUDIO_DIR": str(tmp / "audio"),
            "DEV_GUILD_ID": str(guild.id),
            "LOG_LEVEL": "WARNING",
            GENERATION_RANGE: f"{args.gen_min}:{args.gen_max}",
            "MAX_CONCURRENT_GENERATIONS": str(min(1000, args.max_concurrent or args.n)),
            "MEMBER_MAX_IN_FLIGHT": str(per_member),
            "MEMBER_LIMIT_PER_WINDOW": str(per_member * 2),
            "GUILD_DAILY_POOL": str(args.n * 2),
            "BOT_DAILY_CAP": str(args.n * 2),
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            SCRIPT,
            "--child",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Read the pipes all along: a bot that logs more than a pipe buffer (64 KiB) would
        # otherwise block in write() with its event loop until this script read them at the end.
        assert child.stdout is not None and child.stderr is not None
        out_reader = asyncio.create_task(drain(child.stdout))
        err_reader = asyncio.create_task(drain(child.stderr))
        try:
            await fake_discord.wait_ready(timeout=30)
            await fake_discord.notifier.wait_until(
                lambda: fake_discord.guild_commands.get(guild.id), timeout=30
            )
            fake_lags: list[float] = []
            fake_probe = asyncio.create_task(lag_probe(fake_lags))
            started = time.time()
            interactions = await asyncio.gather(
                *(
                    fake_discord.invoke(
                        "compose",
                        {"prompt": f"load test piece {i}: lo-fi piano, rain"},
                        user=members[i % len(members)],
                        channel=channels[i % len(channels)],
                    )
                    for i in range(args.n)
                )
            )
            fired = time.time() - started

            def delivered() -> int:
                return sum(1 for m in fake_discord.messages.values() if m.embeds and m.attachments)

            def all_delivered() -> bool:
                # Every upload lands in `attachments`: counting those is O(1), so the full
                # rescan of thousands of messages runs only at the end, not after every change
                # the fake makes (that cost the measuring side time, seen as bot overhead).
                return bool(len(fake_discord.attachments) >= args.n and delivered() >= args.n)

            try:
                await fake_discord.notifier.wait_until(all_delivered, timeout=args.timeout)
            except TimeoutError:
                print(f"timed out: {delivered()} of {args.n} delivered", file=sys.stderr)
            wall = time.time() - started
            fake_probe.cancel()
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
            await asyncio.wait_for(child.wait(), 60)
            out, err = await out_reader, await err_reader

        report_line = next(
            (line for line in out.decode().splitlines() if line.startswith("REPORT ")), None
        )
        child_report = json.loads(report_line[7:]) if report_line else {}
        if args.child_log:
            await asyncio.to_thread(Path(args.child_log).write_bytes, err)
        logged_errors = sum(1 for line in err.decode().splitlines() if " ERROR " in line)
        if not report_line:
            print(err.decode()[-3000:], file=sys.stderr)

        # Result messages and when they were posted, by job id.
        posted: dict[str, tuple[float, str]] = {}
        for message in fake_discord.messages.values():
            if message.embeds and message.attachments:
                posted[job_id_of(message)] = (message.created_at, message.via)
        db = sqlite3.connect(tmp / "bot.sqlite3")
        rows = db.execute(
            "SELECT id, generation_id, provider_completed_at, completed_at FROM jobs"
        ).fetchall()
        db.close()
        overhead: list[float] = []
        end_to_end: list[float] = []
        delivery: list[float] = []
        for job_id, generation_id, noticed, downloaded in rows:
            if job_id not in posted:
                continue
            at = posted[job_id][0]
            if noticed:
                overhead.append(at - noticed)
            if downloaded:
                delivery.append(at - downloaded)
            fake_job = fake_api.jobs.get(generation_id or "")
            if fake_job is not None:
                end_to_end.append(at - fake_job.ready_at)
        vias: dict[str, int] = {}
        for _at, via in posted.values():
            vias[via] = vias.get(via, 0) + 1

        n429 = fake_discord.ratelimited_count
        late = len(fake_discord.late_acks)
        print(
            f"compose_load: N={args.n} members={args.members} channels={args.channels} "
            f"audio {args.audio_seconds:g} s ({len(audio):,} bytes) "
            f"generations {args.gen_min:g}-{args.gen_max:g} s"
        )
        print(f"  fired all interactions in {fired:.2f} s; wall time {wall:.1f} s")
        print(f"  delivered            {len(posted)}/{args.n}  {vias}")
        print(
            f"  overhead (noticed→posted)  p50 {percentile(overhead, 50):.3f} s  "
            f"p95 {percentile(overhead, 95):.3f} s  max {max(overhead, default=0):.3f} s"
            "   target p95 <= 1.5 s"
        )
        print(
            f"  of which delivery (downloaded→posted)  p50 {percentile(delivery, 50):.3f} s  "
            f"p95 {percentile(delivery, 95):.3f} s"
        )
        print(
            f"  end-to-end (ready→posted)  p50 {percentile(end_to_end, 50):.3f} s  "
            f"p95 {percentile(end_to_end, 95):.3f} s"
        )
        if child_report:
            print(
                f"  loop lag (bot)       p50 {child_report['lag_p50_ms']:.1f} ms  "
                f"p99 {child_report['lag_p99_ms']:.1f} ms  max {child_report['lag_max_ms']:.1f} ms"
                "   target p99 <= 100 ms"
            )
            print(f"  peak RSS (bot)       {child_report['maxrss_mb']:.0f} MB   target <= 300 MB")
            cpu = child_report["cpu_seconds"]
            print(f"  CPU time (bot)       {cpu:.1f} s ({cpu / args.n * 1000:.1f} ms per job)")
            edits = child_report["status_edits"]
            print(f"  status edits         {edits}  ({edit_kinds(fake_discord)})")
            operations, batches = child_report["db_operations"], child_report["db_batches"]
            print(
                f"  database (bot)       {operations} operations ({operations / args.n:.1f} per "
                f"job) in {batches} thread hops ({operations / max(1, batches):.1f} per hop)"
            )
        print(
            f"  loop lag (fakes)     p50 {percentile(fake_lags, 50) * 1000:.1f} ms  "
            f"p99 {percentile(fake_lags, 99) * 1000:.1f} ms  "
            f"max {max(fake_lags, default=0) * 1000:.0f} ms"
            "   (the measuring side; high values "
            "inflate overhead)"
        )
        print(f"  HTTP connections     {len(fake_discord.http_peers)} opened to the fake Discord")
        print(f"  429s from Discord    {n429}   target 0")
        print(f"  late acks (>3 s)     {late}")
        print(f"  spec errors          {len(fake_discord.spec_errors)}")
        print(f"  errors logged (bot)  {logged_errors}")
        print(f"  child exit code      {child.returncode}")
        missed = [
            name
            for name, met in (
                ("overhead p95", percentile(overhead, 95) <= 1.5),
                ("loop lag p99", child_report.get("lag_p99_ms", 1e9) <= 100),
                ("peak RSS", child_report.get("maxrss_mb", 1e9) <= 300),
                ("zero 429s", n429 == 0),
                ("acks within 3 s", late == 0),
            )
            if not met
        ]
        print("  verdict              " + (f"missed: {missed}" if missed else "all targets met"))
        del interactions
        # Timing depends on the machine; only a correctness failure fails the run.
        correct = len(posted) == args.n and child.returncode == 0
        return 0 if correct else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--audio-seconds", type=float, default=30.0)
    parser.add_argument("--gen-min", type=float, default=3.0)
    parser.add_argument("--gen-max", type=float, default=9.0)
    parser.add_argument("--max-concurrent", type=int, default=0, help="default: N")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--spec",
        action="store_true",
        help="validate every request against Discord's OpenAPI spec (costs the fake CPU that "
        "then shows up as bot latency; the end-to-end tests already validate)",
    )
    parser.add_argument("--profile", default=None, help="write a cProfile of the bot here")
    parser.add_argument(
        "--child-log",
        default=None,
        help="write the bot's stderr here (with PYTHONASYNCIODEBUG=1: its slow callbacks)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        profile_to = os.environ.get("COMPOSE_LOAD_PROFILE")
        if profile_to:  # `--profile FILE`: cProfile the bot process
            import cProfile

            cProfile.runctx("asyncio.run(child_main())", globals(), {}, profile_to)
        else:
            asyncio.run(child_main())
        return 0
    if args.profile:
        os.environ["COMPOSE_LOAD_PROFILE"] = str(Path(args.profile).resolve())
    return asyncio.run(parent_main(args))


if __name__ == "__main__":
    sys.exit(main())
