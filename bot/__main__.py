"""`python -m bot [run|compose|check|sync|migrate|copy-db]`: the command line. `run` is the
default."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.config import ConfigError, load_settings

# `--format` values: bot.audio.AudioFormat's, spelled out so `--help` needs no audio libraries.
FORMATS = ("wav", "flac", "opus")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Discord bot (the default)")

    compose = sub.add_parser("compose", help="generate one piece of music in the terminal")
    compose.add_argument("prompt", nargs="?", help="what the music should sound like")
    compose.add_argument("--negative-prompt", default=None, help="what to leave out")
    compose.add_argument("--seed", type=int, default=None, help="a seed >= 0 for repeatability")
    compose.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="the file (or folder) to save the audio in "
        "(default: AUDIO_DIR, named after the prompt and seed)",
    )
    compose.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="wav (the default; lossless), flac (lossless, smaller) or opus (.ogg, small); "
        "tagged with the prompt, seed, model and job either way",
    )
    compose.add_argument(
        "--waveform",
        metavar="PATH",
        default=None,
        help="also save the waveform picture (PNG) the Discord result shows",
    )
    compose.add_argument(
        "--resume",
        metavar="JOB",
        default=None,
        help="finish a job an interruption left behind (no new submission, no new charge)",
    )

    check = sub.add_parser(
        "check", help="validate the settings and the database, and say what is wrong"
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask Discord and the AI/ML API whether the token and key work (costs nothing)",
    )

    sync = sub.add_parser("sync", help="publish the slash commands to Discord")
    sync.add_argument("--guild", type=int, default=None, help="sync to one server only (instant)")
    sync.add_argument(
        "--clear",
        action="store_true",
        help="with --guild: remove that server's own copies (when it shows every command twice)",
    )

    sub.add_parser("migrate", help="apply the database migrations (the bot also does at start)")
    copy = sub.add_parser("copy-db", help="copy every table into another, empty database")
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="copy from")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="copy into")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    if command == "compose" and args.resume is not None:
        from bot.cli.resume import run_resume

        return run_resume(settings, args)
    if command == "compose":
        from bot.cli.compose import run_compose

        return run_compose(settings, args)
    if command == "check":
        from bot.cli.check import run_check

        return run_check(settings, online=args.online)
    if command == "migrate":
        from bot.cli.migrate import run_migrate

        return run_migrate(settings)
    if command == "copy-db":
        from bot.cli.copy_db import run_copy_db

        return run_copy_db(settings, args.source, args.target)
    if command == "sync":
        from bot.cli.sync import run_sync

        return run_sync(settings, guild_id=args.guild, clear=args.clear)
    from bot.cli.run import run_bot

    return run_bot(settings)


if __name__ == "__main__":
    sys.exit(main())
