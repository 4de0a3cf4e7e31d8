"""Settings: defaults, validation messages, secrets kept out of reprs, .env.example in step."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from bot.config import (
    PROJECT_ROOT,
    ConfigError,
    Secret,
    env_file_path,
    load_settings,
    setting_names,
)

EMPTY_DOTENV = Path("/nonexistent/.env")


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = load_settings({}, dotenv_path=EMPTY_DOTENV)
    assert settings.aimlapi_base_url == "https://api.aimlapi.com"
    assert settings.aimlapi_model == "google/lyria2"
    assert settings.database_url.backend == "sqlite"
    assert settings.database_url.path == PROJECT_ROOT / "data" / "lyria-jam-bot.sqlite3"
    assert settings.metrics_port is None and settings.metrics_host == "127.0.0.1"
    assert settings.deprecated == ()
    assert settings.discord_token is None
    assert settings.guild_reset_time == time(0, 0)
    assert settings.dev_guild_id is None
    assert settings.owner_ids == frozenset()


def test_values_are_parsed_and_normalised() -> None:
    settings = load_settings(
        {
            "AIMLAPI_BASE_URL": "http://127.0.0.1:8080/",
            "LOG_LEVEL": "debug",
            "MAX_CONCURRENT_GENERATIONS": "8",
            "GUILD_RESET_TIME": "18:30",
            "OWNER_IDS": "1, 2,3",
            "DATABASE_URL": "sqlite:////tmp/x.sqlite3",
            "METRICS_PORT": "9108",
        },
        dotenv_path=EMPTY_DOTENV,
    )
    assert settings.aimlapi_base_url == "http://127.0.0.1:8080"
    assert settings.log_level == "DEBUG"
    assert settings.max_concurrent_generations == 8
    assert settings.guild_reset_time == time(18, 30)
    assert settings.owner_ids == frozenset({1, 2, 3})
    assert settings.database_url.path == Path("/tmp/x.sqlite3")
    assert settings.metrics_port == 9108


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AIMLAPI_BASE_URL", "api.aimlapi.com"),
        ("DISCORD_GATEWAY_URL", "https://gateway.discord.gg"),
        ("MAX_CONCURRENT_GENERATIONS", "0"),
        ("MAX_CONCURRENT_GENERATIONS", "many"),
        ("GENERATION_TIMEOUT_SECONDS", "nan"),
        ("LOG_LEVEL", "LOUD"),
        ("GUILD_RESET_TIME", "25:00"),
        ("DM_POLICY", "sometimes"),
        ("DEV_GUILD_ID", "-5"),
        ("AUDIO_URL_ALLOW", "cdn.internal, not a host"),
        ("DATABASE_URL", "mysql://db/bot"),
        ("DATABASE_URL", "sqlite://relative.sqlite3"),
        ("DATABASE_URL", "postgresql://u:pw@host:port/db"),
        ("METRICS_PORT", "70000"),
    ],
)
def test_malformed_value_names_the_variable_in_one_line(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value}, dotenv_path=EMPTY_DOTENV)
    message = str(caught.value)
    assert message.startswith(f"{variable}: expected ")
    assert "\n" not in message
    assert caught.value.variable == variable


def test_require_reports_the_missing_secret() -> None:
    settings = load_settings({"AIMLAPI_KEY": "k-123"}, dotenv_path=EMPTY_DOTENV)
    settings.require("AIMLAPI_KEY")
    with pytest.raises(ConfigError, match=r"^DISCORD_TOKEN: expected "):
        settings.require("AIMLAPI_KEY", "DISCORD_TOKEN")


def test_secrets_never_appear_in_reprs_or_errors() -> None:
    settings = load_settings(
        {"DISCORD_TOKEN": "discord-secret-value", "AIMLAPI_KEY": "aiml-secret-value"},
        dotenv_path=EMPTY_DOTENV,
    )
    assert settings.aimlapi_key == Secret("aiml-secret-value")
    assert settings.aimlapi_key is not None
    assert settings.aimlapi_key.reveal() == "aiml-secret-value"
    for text in (
        repr(settings),
        str(settings),
        repr(settings.aimlapi_key),
        f"{settings.discord_token}",
    ):
        assert "secret-value" not in text


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("AIMLAPI_MODEL=from-dotenv\nLOG_LEVEL=WARNING\n", encoding="utf-8")
    settings = load_settings({"LOG_LEVEL": "ERROR"}, dotenv_path=dotenv)
    assert settings.aimlapi_model == "from-dotenv"
    assert settings.log_level == "ERROR"


def test_env_example_documents_exactly_the_settings_read() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    documented = re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(setting_names())
    assert len(documented) == len(set(documented))
    # And every documented default is itself a valid value.
    example = dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z]", line))
    load_settings(example, dotenv_path=EMPTY_DOTENV)


def test_secrets_compare_by_value_and_never_show_it() -> None:
    key = Secret("aiml-secret-value")
    assert (
        key == Secret("aiml-secret-value") and key != Secret("other") and key != "aiml-secret-value"
    )
    assert "aiml-secret-value" not in f"{key} {key!r} {[key]}"


def test_env_file_names_another_settings_file_and_empty_reads_none(tmp_path: Path) -> None:
    other = tmp_path / "prod.env"
    other.write_text("LOG_LEVEL=ERROR\nGUILD_DAILY_POOL=7\n", encoding="utf-8")
    settings = load_settings({"ENV_FILE": str(other), "GUILD_DAILY_POOL": "9"})
    assert settings.log_level == "ERROR"
    assert settings.guild_daily_pool == 9  # the process environment still wins

    assert env_file_path({"ENV_FILE": ""}) is None
    assert env_file_path({"ENV_FILE": "  "}) is None
    assert env_file_path({}) == PROJECT_ROOT / ".env"
    assert env_file_path({"ENV_FILE": "conf/bot.env"}) == PROJECT_ROOT / "conf" / "bot.env"


@pytest.mark.parametrize("value", ["inf", "Infinity", "-inf", "1e999", "86401"])
def test_the_generation_timeout_must_be_finite_and_at_most_a_day(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^GENERATION_TIMEOUT_SECONDS: expected "):
        load_settings({"GENERATION_TIMEOUT_SECONDS": value}, dotenv_path=EMPTY_DOTENV)
    settings = load_settings({"GENERATION_TIMEOUT_SECONDS": "86400"}, dotenv_path=EMPTY_DOTENV)
    assert settings.generation_timeout_seconds == 86400.0


def test_env_file_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "prod.env"
    with pytest.raises(ConfigError) as caught:
        load_settings({"ENV_FILE": str(missing)})
    assert caught.value.variable == "ENV_FILE"
    assert str(missing) in str(caught.value) and "\n" not in str(caught.value)
    # The default .env may be absent (a deployment that passes every variable itself).
    assert load_settings({}, dotenv_path=tmp_path / "absent.env").dm_policy == "personal"


def test_require_names_every_missing_setting_at_once() -> None:
    settings = load_settings({}, dotenv_path=EMPTY_DOTENV)
    with pytest.raises(ConfigError) as caught:
        settings.require("DISCORD_TOKEN", "AIMLAPI_KEY")
    message = str(caught.value)
    assert message == (
        "DISCORD_TOKEN: expected the bot token from the Developer Portal; "
        "AIMLAPI_KEY: expected an AI/ML API key"
    )
    assert caught.value.variables == ("DISCORD_TOKEN", "AIMLAPI_KEY")


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:9000/gateway", "ws://127.0.0.1:9000/gateway/", "wss://gw.example"]
)
def test_the_gateway_url_is_kept_as_given(url: str) -> None:
    settings = load_settings({"DISCORD_GATEWAY_URL": url}, dotenv_path=EMPTY_DOTENV)
    assert settings.discord_gateway_url == url


def test_a_gateway_url_with_a_query_is_refused() -> None:
    # discord.py replaces the query with its own (v, encoding, compress): it would be lost.
    with pytest.raises(ConfigError, match=r"^DISCORD_GATEWAY_URL: expected .*query"):
        load_settings({"DISCORD_GATEWAY_URL": "wss://gw.example/?v=9"}, dotenv_path=EMPTY_DOTENV)


def test_audio_url_allow_lists_hosts_and_networks() -> None:
    assert load_settings({}, dotenv_path=EMPTY_DOTENV).audio_url_allow == ()
    settings = load_settings(
        {"AUDIO_URL_ALLOW": " CDN.internal., 10.0.0.0/8,,fd00::/8 "}, dotenv_path=EMPTY_DOTENV
    )
    assert settings.audio_url_allow == ("cdn.internal", "10.0.0.0/8", "fd00::/8")


def test_retention_settings() -> None:
    defaults = load_settings({}, dotenv_path=EMPTY_DOTENV)
    assert defaults.audio_retention_hours == 168.0 and defaults.job_row_retention_days is None
    settings = load_settings(
        {"AUDIO_RETENTION_HOURS": "0", "JOB_ROW_RETENTION_DAYS": "30"}, dotenv_path=EMPTY_DOTENV
    )
    assert settings.audio_retention_hours == 0.0 and settings.job_row_retention_days == 30
    for variable, value in (("AUDIO_RETENTION_HOURS", "-1"), ("JOB_ROW_RETENTION_DAYS", "0")):
        with pytest.raises(ConfigError, match=f"^{variable}: expected "):
            load_settings({variable: value}, dotenv_path=EMPTY_DOTENV)


def test_database_urls_pick_the_backend_and_never_show_the_password() -> None:
    relative = load_settings(
        {"DATABASE_URL": "sqlite:///var/bot.sqlite3"}, dotenv_path=EMPTY_DOTENV
    )
    assert relative.database_url.path == PROJECT_ROOT / "var" / "bot.sqlite3"
    raw = "postgresql://bot:s3cr%40t-pw@db.internal:5432/jams?password=other-pw&sslmode=require"
    settings = load_settings({"DATABASE_URL": raw}, dotenv_path=EMPTY_DOTENV)
    url = settings.database_url
    assert url.backend == "postgresql" and url.path is None and url.reveal() == raw
    assert url.masked == ("postgresql://bot:***@db.internal:5432/jams?password=***&sslmode=require")
    assert url.passwords() == ["other-pw", "s3cr%40t-pw", "s3cr@t-pw"]
    for text in (repr(settings), str(settings), repr(url), str(url), f"{url}"):
        assert "s3cr" not in text and "other-pw" not in text
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {"DATABASE_URL": "postgresql://bot:s3cret@host:notaport/db"}, dotenv_path=EMPTY_DOTENV
        )
    assert "s3cret" not in str(caught.value) and "bot:***@host" in str(caught.value)


def test_database_path_still_works_and_is_reported_as_deprecated(tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_PATH": "old.sqlite3"}, dotenv_path=EMPTY_DOTENV)
    assert settings.database_url.path == PROJECT_ROOT / "old.sqlite3"
    assert settings.deprecated == ("DATABASE_PATH",)
    # One source naming either name overrides the other name from the source below it.
    dotenv = tmp_path / ".env"
    dotenv.write_text("DATABASE_URL=sqlite:///from-dotenv.sqlite3\n", encoding="utf-8")
    from_env = load_settings({"DATABASE_PATH": "/srv/env.sqlite3"}, dotenv_path=dotenv)
    assert from_env.database_url.path == Path("/srv/env.sqlite3")
    dotenv.write_text("DATABASE_PATH=/srv/dotenv.sqlite3\n", encoding="utf-8")
    url_wins = load_settings({"DATABASE_URL": "sqlite:////srv/url.sqlite3"}, dotenv_path=dotenv)
    assert url_wins.database_url.path == Path("/srv/url.sqlite3") and url_wins.deprecated == ()


def test_shards_default_to_discords_advice_in_one_process() -> None:
    settings = load_settings({}, dotenv_path=EMPTY_DOTENV)
    assert (settings.shard_count, settings.shard_ids) == (None, None)
    assert settings.runs_shard_zero


def test_a_process_runs_the_shards_it_is_given() -> None:
    every = load_settings({"SHARD_COUNT": "4"}, dotenv_path=EMPTY_DOTENV)
    assert (every.shard_count, every.shard_ids, every.runs_shard_zero) == (4, None, True)
    some = load_settings({"SHARD_COUNT": "4", "SHARD_IDS": " 3, 1 "}, dotenv_path=EMPTY_DOTENV)
    assert (some.shard_count, some.shard_ids, some.runs_shard_zero) == (4, (3, 1), False)
    zero = load_settings({"SHARD_COUNT": "2", "SHARD_IDS": "0"}, dotenv_path=EMPTY_DOTENV)
    assert zero.runs_shard_zero


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT: expected the total number of shards"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT: expected"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,0"}, "every shard) (got '0,0')"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS: expected comma-separated"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,x"}, "SHARD_IDS: expected comma-separated"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": ","}, "SHARD_IDS: expected comma-separated"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "1,2"},
            "SHARD_IDS: expected shard ids from 0 to 1 (SHARD_COUNT is 2) (got '1,2')",
        ),
        (
            {"SHARD_IDS": "0"},
            "SHARD_IDS: expected SHARD_COUNT as well (the total number of shards across all "
            "processes)",
        ),
    ],
)
def test_malformed_shard_settings_are_refused_in_one_line(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ, dotenv_path=EMPTY_DOTENV)
    assert message in str(error.value) and "\n" not in str(error.value)
