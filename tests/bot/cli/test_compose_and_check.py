"""`python -m bot compose` and `python -m bot check`, end to end against the fake AI/ML API.

The commands run as real subprocesses (settings from the environment) while the fake serves
the API and the CDN on loopback from this test's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path

import pytest

from bot.cli.compose import TerminalProgress, compose, describe
from bot.config import load_settings
from bot.jobs.models import Job, JobRequest, JobState, Origin, Phase, Progress
from bot.jobs.request import NEGATIVE_PROMPT_MAX_CHARS, validate_request
from bot.store.sqlite import SqliteStore
from tests.audio_support import info_fields, same_audio
from tests.bot.cli.compose_support import (
    environment,
    interrupt_while_generating,
    learn_fast_generations,
    resume_command,
    run_bot,
)
from tests.fakes.aimlapi import FakeAimlApi


async def test_compose_saves_the_audio_and_names_path_duration_and_size(tmp_path: Path) -> None:
    async with FakeAimlApi(generation_seconds=0.3) as api:
        await learn_fast_generations(tmp_path)
        out = tmp_path / "songs" / "rain.wav"
        code, stdout, stderr = await run_bot(
            environment(tmp_path, api),
            "compose",
            "lofi rain on a tin roof",
            "--negative-prompt",
            "vocals",
            "--seed",
            "42",
            "--out",
            str(out),
        )
        assert code == 0, stderr
        saved = await asyncio.to_thread(out.read_bytes)
        assert same_audio(saved, api.audio)  # the provider's samples, with tags added
        assert info_fields(saved)[b"INAM"] == "lofi rain on a tin roof"
        assert f"Saved: {out.resolve()}" in stdout
        assert "Format: WAV, lossless, with provenance tags" in stdout
        assert "Duration: 1.0 s" in stdout
        assert f"({len(saved):,} bytes)" in stdout
        # Plain progress lines when stderr is not a terminal, in the words Discord shows.
        assert "Waiting for Lyria 2 to start" in stderr or "Composing" in stderr
        assert "provider:" not in stderr
        assert api.submissions == [
            {
                "model": "google/lyria2",
                "prompt": "lofi rain on a tin roof",
                "negative_prompt": "vocals",
                "seed": 42,
            }
        ]
        assert api.schema_errors == []
        assert "test-key" not in stdout + stderr

    db = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        counts = await db.jobs.count_by_state()
    finally:
        await db.close()
    assert counts == {JobState.DELIVERED: 1}


async def test_compose_without_out_names_the_file_in_the_audio_dir_like_discord(
    tmp_path: Path,
) -> None:
    async with FakeAimlApi(generation_seconds=0.2) as api:
        await learn_fast_generations(tmp_path, 0.2)
        code, stdout, stderr = await run_bot(environment(tmp_path, api), "compose", "jazz")
    assert code == 0, stderr
    saved = Path(stdout.split("Saved: ", 1)[1].splitlines()[0])
    assert saved == tmp_path / "audio" / "jazz.wav"
    assert same_audio(await asyncio.to_thread(saved.read_bytes), api.audio)
    # The provider's download was replaced by the tagged file, not kept beside it.
    assert sorted(p.name for p in (tmp_path / "audio").iterdir()) == ["jazz.wav"]


async def test_compose_needs_an_api_key(tmp_path: Path) -> None:
    async with FakeAimlApi() as api:
        code, _, stderr = await run_bot(
            environment(tmp_path, api, AIMLAPI_KEY=""), "compose", "jazz"
        )
        assert code == 2
        assert stderr.strip().count("\n") == 0 and "AIMLAPI_KEY" in stderr
        assert api.requests == []


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["   "], "empty"),
        (["x" * 601], "601 characters"),
        (["jazz", "--seed", "-1"], "seed"),
        (["jazz", "--seed", str(2**32)], "seed"),
    ],
)
async def test_compose_refuses_bad_input_before_any_network(
    tmp_path: Path, args: list[str], complaint: str
) -> None:
    async with FakeAimlApi() as api:
        code, _, stderr = await run_bot(environment(tmp_path, api), "compose", *args)
        assert code == 2
        assert complaint in stderr
        assert api.requests == []


async def test_a_failed_generation_exits_1_with_the_reason(tmp_path: Path) -> None:
    async with FakeAimlApi(generation_seconds=0.2) as api:
        await learn_fast_generations(tmp_path, 0.2)
        api.fail_generation(shape="detail", message="prompt rejected by the safety filter")
        code, stdout, stderr = await run_bot(environment(tmp_path, api), "compose", "jazz")
    assert code == 1
    assert "Failed:" in stderr and "safety filter" in stderr
    assert stdout == ""


async def test_an_ambiguous_submission_exits_4_and_is_not_retried(tmp_path: Path) -> None:
    async with FakeAimlApi() as api:
        api.script_submit(0, accept=True)  # the job is created, then the connection drops
        code, _, stderr = await run_bot(environment(tmp_path, api), "compose", "jazz")
        assert code == 4
        assert "did not send it again" in stderr
        assert len([r for r in api.requests if r.method == "POST"]) == 1


async def test_a_refused_submission_exits_1(tmp_path: Path) -> None:
    async with FakeAimlApi() as api:
        code, _, stderr = await run_bot(
            environment(tmp_path, api, AIMLAPI_KEY="wrong-key"), "compose", "jazz"
        )
    assert code == 1
    # At the terminal the reader is the owner: name the setting, the answer and the fix.
    assert "owner has been told" not in stderr
    assert "AIMLAPI_KEY" in stderr and "HTTP 401" in stderr
    assert "Invalid or missing API key" in stderr  # what the provider said
    assert "https://aimlapi.com/app/keys" in stderr
    assert "wrong-key" not in stderr


async def test_an_account_out_of_credit_says_so_at_the_terminal(tmp_path: Path) -> None:
    async with FakeAimlApi() as api:
        api.script_submit(403, body={"message": "Insufficient credits", "statusCode": 403})
        code, _, stderr = await run_bot(environment(tmp_path, api), "compose", "jazz")
    assert code == 1
    assert "owner has been told" not in stderr
    assert "HTTP 403" in stderr and "Insufficient credits" in stderr
    assert "AIMLAPI_KEY" in stderr and "credit" in stderr


async def test_a_generation_that_outlives_the_timeout_exits_3(tmp_path: Path) -> None:
    async with FakeAimlApi(generation_seconds=30) as api:
        await learn_fast_generations(tmp_path, 0.2)
        settings = dataclasses.replace(
            load_settings(environment(tmp_path, api), dotenv_path=tmp_path / "none.env"),
            generation_timeout_seconds=1.0,
        )
        err = io.StringIO()
        code = await compose(
            settings,
            JobRequest(prompt="endless drone", requester_id="terminal"),
            stdout=io.StringIO(),
            stderr=err,
        )
    assert code == 3
    assert "Timed out" in err.getvalue()


async def test_check_reports_what_is_missing(tmp_path: Path) -> None:
    code, stdout, _ = await run_bot(environment(tmp_path, None, AIMLAPI_KEY=""), "check")
    assert code == 1
    assert "problem: DISCORD_TOKEN is not set" in stdout
    assert "problem: AIMLAPI_KEY is not set" in stdout
    assert "schema version" in stdout and "0 unfinished job(s)" in stdout


async def test_check_passes_with_everything_in_place(tmp_path: Path) -> None:
    code, stdout, _ = await run_bot(
        environment(tmp_path, None, DISCORD_TOKEN="token-value", AIMLAPI_KEY="key-value"), "check"
    )
    assert code == 0, stdout
    assert "token-value" not in stdout and "key-value" not in stdout
    assert "problem" not in stdout


def test_the_terminal_takes_what_discord_takes() -> None:
    assert validate_request("ok", None, 0) is None
    assert validate_request("ok", None, 2**32 - 1) is None
    assert validate_request("ok", "n" * NEGATIVE_PROMPT_MAX_CHARS, None) is None
    assert validate_request("ok", "n" * (NEGATIVE_PROMPT_MAX_CHARS + 1), None) is not None


async def test_progress_is_rewritten_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=True)
    job = Job(
        id="j",
        state=JobState.SUBMITTED,
        prompt="p",
        negative_prompt=None,
        seed=None,
        model="m",
        requester_id="r",
        guild_id=None,
        channel_id=None,
        origin=Origin.TERMINAL,
        context={},
        created_at=0,
        updated_at=0,
        deadline_at=0,
    )
    await display.on_progress(job, Progress("j", Phase.QUEUED, 1.0, queue_position=2))
    await display.on_progress(
        job, Progress("j", Phase.GENERATING, 12.4, provider_status="waiting", estimate_remaining=9)
    )
    await display.on_finished(job)
    text = stream.getvalue()
    assert text.startswith("\rQueued (position 2) · 1 s")
    assert "\rComposing · ▰▰▰▰▱▱▱▱ ~10 s left · 12 s" in text
    assert text.endswith("\n") and text.count("\n") == 1
    assert describe(Progress("j", Phase.DOWNLOADING, 3.0)) == "Fetching the audio · 3 s"


async def test_ctrl_c_while_generating_stops_politely_and_says_what_happens(
    tmp_path: Path,
) -> None:
    async with FakeAimlApi(generation_seconds=60) as api:
        stderr = await interrupt_while_generating(tmp_path, api)
    generation_id = next(iter(api.jobs))
    assert "Stopped waiting" in stderr and generation_id in stderr
    db = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        counts = await db.jobs.count_by_state()
    finally:
        await db.close()
    assert counts == {JobState.SUBMITTED: 1}  # the row tells the truth: the provider has it


async def test_check_reports_an_unusable_database(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, stdout, _ = await run_bot(
        environment(
            tmp_path, None, DISCORD_TOKEN="t", AIMLAPI_KEY="k", DATABASE_URL=f"sqlite:///{folder}"
        ),
        "check",
    )
    assert code == 1
    assert "problem: database:" in stdout and str(folder) in stdout


async def test_check_says_when_a_folder_on_the_way_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where a folder should be")
    code, stdout, stderr = await run_bot(
        environment(
            tmp_path,
            None,
            DISCORD_TOKEN="t",
            AIMLAPI_KEY="k",
            DATABASE_URL=f"sqlite:///{blocker / 'db' / 'bot.sqlite3'}",
            AUDIO_DIR=str(blocker / "audio"),
        ),
        "check",
    )
    assert code == 1, stderr
    assert stderr == ""
    assert f"problem: database: cannot open database {blocker}/db/bot.sqlite3: " in stdout
    assert stdout.count(f"{blocker} is a file, not a folder") == 2  # the database and AUDIO_DIR


async def test_check_says_when_the_database_path_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    _, stdout, _ = await run_bot(
        environment(
            tmp_path, None, DISCORD_TOKEN="t", AIMLAPI_KEY="k", DATABASE_URL=f"sqlite:///{folder}"
        ),
        "check",
    )
    assert f"cannot open database {folder}: it is a folder, not a file" in stdout


async def test_resume_finishes_a_job_interrupted_after_submission(tmp_path: Path) -> None:
    async with FakeAimlApi(generation_seconds=60) as api:
        await learn_fast_generations(tmp_path, 0.2)
        stderr = await interrupt_while_generating(tmp_path, api)
        job_id = resume_command(stderr)
        api.finish_now(next(iter(api.jobs)))
        out = tmp_path / "drone.wav"
        code, stdout, stderr = await run_bot(
            environment(tmp_path, api), "compose", "--resume", job_id, "--out", str(out)
        )
        assert code == 0, stderr
        assert f"Saved: {out.resolve()}" in stdout
        assert same_audio(await asyncio.to_thread(out.read_bytes), api.audio)
        assert len(api.posts) == 1  # polled and downloaded, never submitted again
        # Resuming it again says where it went, and changes nothing.
        code, stdout, stderr = await run_bot(
            environment(tmp_path, api), "compose", "--resume", job_id
        )
        assert code == 0, stderr
        assert f"already saved: {out.resolve()}" in stdout.lower()
        assert len(api.posts) == 1 and api.cdn_downloads == 1
    db = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        counts = await db.jobs.count_by_state()
    finally:
        await db.close()
    assert counts == {JobState.DELIVERED: 1}


async def test_resume_refuses_unknown_and_discord_jobs_in_one_line(tmp_path: Path) -> None:
    db = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        now = 1_000.0
        await db.jobs.insert(
            Job(
                id="0123456789ab",
                state=JobState.SUBMITTED,
                prompt="p",
                negative_prompt=None,
                seed=None,
                model="google/lyria2",
                requester_id="42",
                guild_id="1",
                channel_id="2",
                origin=Origin.DISCORD,
                context={},
                created_at=now,
                updated_at=now,
                deadline_at=now + 600,
                generation_id="gen-1",
            )
        )
    finally:
        await db.close()
    async with FakeAimlApi() as api:
        env = environment(tmp_path, api)
        for job_id, complaint in (("ffffffffffff", "no job"), ("0123456789ab", "Discord")):
            code, _, stderr = await run_bot(env, "compose", "--resume", job_id)
            assert code == 2, stderr
            assert stderr.strip().count("\n") == 0 and complaint in stderr and job_id in stderr
        code, _, stderr = await run_bot(env, "compose", "jazz", "--resume", "ffffffffffff")
        assert code == 2 and "not both" in stderr
        code, _, stderr = await run_bot(env, "compose")
        assert code == 2 and "--resume" in stderr
        assert api.requests == []


async def test_check_reports_the_disk_audio_dir_uses_and_the_retention(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "a.wav").write_bytes(b"a" * 1_000_000)
    (audio / "b.wav").write_bytes(b"b" * 500_000)
    code, stdout, _ = await run_bot(
        environment(
            tmp_path, None, DISCORD_TOKEN="t", AIMLAPI_KEY="k", JOB_ROW_RETENTION_DAYS="90"
        ),
        "check",
    )
    assert code == 0, stdout
    assert "disk: AUDIO_DIR holds 2 file(s), 1.5 MB" in stdout
    assert "audio kept 168 h after delivery, job rows kept 90 day(s)" in stdout
