"""Settings from the environment and `.env`, validated once at start and frozen.

Every setting has one name (the environment variable), one parser and, where sensible, one
default. A missing or malformed value raises `ConfigError`, whose message is a single line
naming the variable and what it expects; `python -m bot` prints that line and exits.
Secrets are wrapped in `Secret`, whose repr and str never show the value.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Names the settings file in the process environment (default: .env in the project folder).
ENV_FILE_VARIABLE = "ENV_FILE"


class ConfigError(Exception):
    """A setting is missing or malformed. `str(error)` is one line a person can act on."""

    def __init__(self, variable: str, expected: str, *, got: str | None = None) -> None:
        self.variable = variable
        self.expected = expected
        self.variables: tuple[str, ...] = (variable,)
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"{variable}: expected {expected}{shown}")


class MissingSettings(ConfigError):
    """Required settings are unset: every one of them named, on one line."""

    def __init__(self, missing: Sequence[tuple[str, str]]) -> None:
        (variable, expected), *_ = missing
        super().__init__(variable, expected)
        self.variables = tuple(name for name, _ in missing)
        self.args = ("; ".join(f"{name}: expected {what}" for name, what in missing),)


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        # Constant time: how long a comparison takes says nothing about the value.
        return isinstance(other, Secret) and hmac.compare_digest(
            other._value.encode(), self._value.encode()
        )

    def __hash__(self) -> int:
        return hash(self._value)


Backend = Literal["sqlite", "postgresql"]
_POSTGRES_SCHEMES = ("postgresql", "postgres")
# The password in `scheme://user:password@host` and in a `password=` query parameter.
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@?#]*):([^/?#]*)@")
_QUERY_PASSWORD = re.compile(r"(?<=[?&])(password=)([^&#]*)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with any password replaced by ***, also when the URL is malformed."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:***@", url)
    return _QUERY_PASSWORD.sub(r"\1***", text)


@dataclass(frozen=True)
class DatabaseUrl:
    """Where the store lives: `sqlite:///data/bot.sqlite3` (relative to the project folder;
    `sqlite:////abs/path` for an absolute one) or `postgresql://user:password@host:5432/db`.

    `str()` and `repr()` show it with the password masked; `reveal()` is for the driver only.
    """

    backend: Backend
    path: Path | None = None  # SQLite's file
    _url: Secret = field(default=Secret(""))
    masked: str = ""

    @classmethod
    def sqlite(cls, path: Path) -> DatabaseUrl:
        return cls(
            "sqlite", path=path, _url=Secret(f"sqlite:///{path}"), masked=f"sqlite:///{path}"
        )

    @classmethod
    def parse(cls, raw: str) -> DatabaseUrl:
        """Raise ValueError (never showing a password) when `raw` is neither form."""
        value = raw.strip()
        scheme, sep, rest = value.partition("://")
        scheme = scheme.lower()
        if sep and scheme == "sqlite":
            if not rest.startswith("/") or not rest[1:].strip():
                raise ValueError("sqlite URLs look like sqlite:///path/to/file.sqlite3")
            return cls.sqlite(_parse_path(rest[1:]))
        if sep and scheme in _POSTGRES_SCHEMES and rest:
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - raises ValueError on a malformed port
            except ValueError:
                raise ValueError("malformed PostgreSQL URL") from None
            return cls("postgresql", _url=Secret(value), masked=mask_url(value))
        raise ValueError("expected sqlite:///... or postgresql://...")

    def passwords(self) -> list[str]:
        """Every password in the URL, as written and decoded: what log masking must hide."""
        url = self._url.reveal()
        found = [m.group(2) for m in (_URL_PASSWORD.search(url), _QUERY_PASSWORD.search(url)) if m]
        return sorted({form for raw in found if raw for form in (raw, unquote(raw))})

    def reveal(self) -> str:
        return self._url.reveal()

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.masked!r})"


def _parse_int(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    return parse


def _parse_float(minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not minimum <= value <= maximum or not math.isfinite(value):  # also rejects NaN
            raise ValueError(raw)
        return value

    return parse


def _parse_url(schemes: tuple[str, ...], *, as_given: bool = False) -> Callable[[str], str]:
    """An absolute URL with one of `schemes`; a trailing slash is dropped unless `as_given`
    (a URL that is dialled as it stands, with no query: the gateway's)."""

    def parse(raw: str) -> str:
        value = raw.strip() if as_given else raw.strip().rstrip("/")
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in schemes or not rest.strip("/"):
            raise ValueError(raw)
        if as_given and ("?" in rest or "#" in rest):
            raise ValueError(raw)
        return value

    return parse


def _parse_time_of_day(raw: str) -> time:
    hours, sep, minutes = raw.strip().partition(":")
    if not sep:
        raise ValueError(raw)
    return time(int(hours), int(minutes))


def _parse_snowflake(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError(raw)
    return value


def _parse_snowflakes(raw: str) -> frozenset[int]:
    return frozenset(_parse_snowflake(part) for part in raw.split(",") if part.strip())


def _parse_shard_ids(raw: str) -> tuple[int, ...]:
    """Comma-separated shard ids (0 or more), each once, in the order given."""
    ids = tuple(int(part.strip()) for part in raw.split(",") if part.strip())
    if not ids or any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(raw)
    return ids


_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


def _parse_hosts_and_networks(raw: str) -> tuple[str, ...]:
    """Comma-separated host names and IP networks (CIDR or single addresses), lower-cased."""
    entries: list[str] = []
    for part in raw.split(","):
        entry = part.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            if not _HOST_NAME.match(entry):
                raise ValueError(raw) from None
        entries.append(entry)
    return tuple(entries)


def _parse_choice(*choices: str, case: Callable[[str], str] = str.lower) -> Callable[[str], str]:
    """One of `choices`, compared after `case` (lower-case by default)."""

    def parse(raw: str) -> str:
        value = case(raw.strip())
        if value not in choices:
            raise ValueError(raw)
        return value

    return parse


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError(raw)
    path = Path(raw.strip()).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class _Spec:
    parse: Callable[[str], Any]
    expected: str
    default: str | None
    secret: bool = False
    shown: Callable[[str], str] = str  # how a malformed value is quoted back (masked URLs)


# One row per setting: the environment variable, how to parse it, what it expects, its default.
# `.env.example` documents the same names; tests/test_config.py checks that the two agree.
_SPECS: dict[str, _Spec] = {
    "DISCORD_TOKEN": _Spec(str.strip, "the bot token from the Developer Portal", None, True),
    "AIMLAPI_KEY": _Spec(str.strip, "an AI/ML API key", None, True),
    "AIMLAPI_BASE_URL": _Spec(
        _parse_url(("http", "https")), "an http(s) URL", "https://api.aimlapi.com"
    ),
    "AIMLAPI_MODEL": _Spec(str.strip, "a model id such as google/lyria2", "google/lyria2"),
    "DATABASE_URL": _Spec(
        DatabaseUrl.parse,
        "sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:5432/database",
        "sqlite:///data/lyria-jam-bot.sqlite3",
        shown=mask_url,
    ),
    "AUDIO_DIR": _Spec(_parse_path, "a folder path", "data/audio"),
    "AUDIO_RETENTION_HOURS": _Spec(
        _parse_float(0, 100 * 365 * 24), "hours, 0 or more (0: delete at the next sweep)", "168"
    ),
    "JOB_ROW_RETENTION_DAYS": _Spec(
        _parse_int(1), "whole days, at least 1 (empty: keep job rows)", ""
    ),
    "LOG_LEVEL": _Spec(
        _parse_choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", case=str.upper),
        "DEBUG, INFO, WARNING, ERROR or CRITICAL",
        "INFO",
    ),
    "GENERATION_TIMEOUT_SECONDS": _Spec(
        _parse_float(30, 86400), "seconds, from 30 to 86400 (a day)", "600"
    ),
    "MAX_CONCURRENT_GENERATIONS": _Spec(_parse_int(1, 1000), "a whole number 1-1000", "4"),
    "CANCEL_WINDOW_SECONDS": _Spec(_parse_float(0, 60), "seconds from 0 to 60", "4"),
    "GLOBAL_MAX_CONCURRENT_GENERATIONS": _Spec(
        _parse_int(1, 100_000), "a whole number 1-100000 (empty: no limit across processes)", ""
    ),
    "JOB_LEASE_SECONDS": _Spec(_parse_float(1, 3600), "seconds from 1 to 3600", "30"),
    "MAX_AUDIO_BYTES": _Spec(
        _parse_int(1024), "a byte count, at least 1024", str(200 * 1024 * 1024)
    ),
    "AUDIO_URL_ALLOW": _Spec(
        _parse_hosts_and_networks,
        "comma-separated host names and IP networks such as cdn.internal, 10.0.0.0/8",
        "",
    ),
    "DISCORD_API_BASE_URL": _Spec(
        _parse_url(("http", "https")), "an http(s) URL", "https://discord.com/api/v10"
    ),
    "DISCORD_GATEWAY_URL": _Spec(
        _parse_url(("ws", "wss"), as_given=True),
        "a ws(s) URL without a query (discord.py adds its own)",
        "wss://gateway.discord.gg",
    ),
    "DEV_GUILD_ID": _Spec(_parse_snowflake, "a server id (a positive number)", ""),
    "OWNER_IDS": _Spec(_parse_snowflakes, "comma-separated user ids", ""),
    "BOT_DAILY_CAP": _Spec(_parse_int(0), "a whole number, 0 or more", "500"),
    "MEMBER_LIMIT_PER_WINDOW": _Spec(_parse_int(0), "a whole number, 0 or more", "5"),
    "MEMBER_WINDOW_SECONDS": _Spec(_parse_int(60), "seconds, at least 60", "3600"),
    "MEMBER_MAX_IN_FLIGHT": _Spec(_parse_int(1), "a whole number, at least 1", "1"),
    "GUILD_DAILY_POOL": _Spec(_parse_int(0), "a whole number, 0 or more", "50"),
    "GUILD_RESET_TIME": _Spec(_parse_time_of_day, "a UTC time of day as HH:MM", "00:00"),
    "DM_POLICY": _Spec(_parse_choice("personal", "off"), "personal or off", "personal"),
    "METRICS_PORT": _Spec(_parse_int(0, 65535), "a TCP port 1-65535 (0: any free port)", ""),
    "METRICS_HOST": _Spec(str.strip, "an address to listen on, such as 127.0.0.1", "127.0.0.1"),
    "SHARD_COUNT": _Spec(
        _parse_int(1), "the total number of shards, at least 1 (empty: Discord's advice)", ""
    ),
    "SHARD_IDS": _Spec(
        _parse_shard_ids,
        "comma-separated shard ids below SHARD_COUNT, each once (empty: every shard)",
        "",
    ),
}

# Old names still read (with a note from `python -m bot check`): old name -> its replacement.
# DATABASE_PATH=file is DATABASE_URL=sqlite:///file; in one source (the environment or the
# settings file) DATABASE_URL wins, and a source that sets either overrides the other source.
DEPRECATED = {"DATABASE_PATH": "DATABASE_URL"}


# Settings whose empty value is an empty collection rather than "unset".
_COLLECTIONS = frozenset({"OWNER_IDS", "AUDIO_URL_ALLOW"})


@dataclass(frozen=True)
class Settings:
    """The validated settings. Build with `load_settings()`; never mutate."""

    discord_token: Secret | None
    aimlapi_key: Secret | None
    aimlapi_base_url: str
    aimlapi_model: str
    database_url: DatabaseUrl
    audio_dir: Path
    audio_retention_hours: float
    job_row_retention_days: int | None
    log_level: str
    generation_timeout_seconds: float
    max_concurrent_generations: int
    cancel_window_seconds: float
    global_max_concurrent_generations: int | None
    job_lease_seconds: float
    max_audio_bytes: int
    audio_url_allow: tuple[str, ...]
    discord_api_base_url: str
    discord_gateway_url: str
    dev_guild_id: int | None
    owner_ids: frozenset[int]
    bot_daily_cap: int
    member_limit_per_window: int
    member_window_seconds: int
    member_max_in_flight: int
    guild_daily_pool: int
    guild_reset_time: time
    dm_policy: str
    metrics_port: int | None
    metrics_host: str
    shard_count: int | None  # None: as many as Discord recommends, all in this process
    shard_ids: tuple[int, ...] | None  # None: every shard of shard_count
    deprecated: tuple[str, ...] = ()  # old setting names that were read (see DEPRECATED)

    def require(self, *variables: str) -> None:
        """Raise `MissingSettings` naming every one of `variables` ("AIMLAPI_KEY", ...) unset."""
        missing = [(v, _SPECS[v].expected) for v in variables if not getattr(self, v.lower())]
        if missing:
            raise MissingSettings(missing)

    @property
    def runs_shard_zero(self) -> bool:
        """Whether this process runs shard 0: the one process of a deployment that does the
        once-per-bot work at start (the DEV_GUILD_ID sync). DMs reach shard 0 too."""
        return self.shard_ids is None or 0 in self.shard_ids


def setting_names() -> list[str]:
    """Every environment variable the bot reads, in documentation order."""
    return list(_SPECS)


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None
) -> Settings:
    """Read settings from `environ` (default: the process environment) over `.env`.

    The process environment wins over `.env`, as a deployment's own variables should.
    `ENV_FILE` in the environment names another settings file; set to nothing, no file is
    read (a container or service manager that passes every variable itself).
    """
    environment = os.environ if environ is None else environ
    env_file = dotenv_path if dotenv_path is not None else env_file_path(environment)
    named = dotenv_path is None and bool((environment.get(ENV_FILE_VARIABLE) or "").strip())
    merged: dict[str, str] = {}
    if named and env_file is not None and not env_file.is_file():
        # The default .env may be absent; a file someone named must not be silently skipped.
        raise ConfigError(ENV_FILE_VARIABLE, "an existing settings file", got=str(env_file))
    if env_file is not None and env_file.is_file():
        _layer(merged, {k: v for k, v in dotenv_values(env_file).items() if v is not None})
    _layer(merged, environment)

    values: dict[str, Any] = {}
    deprecated: list[str] = []
    old_path = merged.get("DATABASE_PATH", "")
    if old_path.strip() and not merged.get("DATABASE_URL", "").strip():
        try:
            values["database_url"] = DatabaseUrl.sqlite(_parse_path(old_path))
        except ValueError:
            raise ConfigError("DATABASE_PATH", "a file path", got=old_path) from None
        deprecated.append("DATABASE_PATH")
    for variable, spec in _SPECS.items():
        name = variable.lower()
        if name in values:
            continue
        raw = merged.get(variable, spec.default)
        if raw is None or raw.strip() == "":
            values[name] = _empty_value(variable, spec)
            continue
        try:
            parsed = spec.parse(raw)
        except (ValueError, TypeError):
            got = None if spec.secret else spec.shown(raw)
            raise ConfigError(variable, spec.expected, got=got) from None
        values[name] = Secret(parsed) if spec.secret else parsed
    assert set(values) | {"deprecated"} == {f.name for f in fields(Settings)}
    _check_shards(values["shard_count"], values["shard_ids"], merged.get("SHARD_IDS", ""))
    return Settings(**values, deprecated=tuple(deprecated))


def _check_shards(count: int | None, ids: tuple[int, ...] | None, raw: str) -> None:
    """SHARD_IDS only with SHARD_COUNT, and every id below it."""
    if ids is None:
        return
    if count is None:
        raise ConfigError(
            "SHARD_IDS", "SHARD_COUNT as well (the total number of shards across all processes)"
        )
    if any(i >= count for i in ids):
        raise ConfigError(
            "SHARD_IDS", f"shard ids from 0 to {count - 1} (SHARD_COUNT is {count})", got=raw
        )


def _layer(merged: dict[str, str], source: Mapping[str, str]) -> None:
    """Put `source` over `merged`; a source naming a setting under either of its names (old
    or new) replaces both names from the sources below it."""
    for old, new in DEPRECATED.items():
        if old in source or new in source:
            merged.pop(old, None)
            merged.pop(new, None)
    merged.update(source)


def env_file_path(environment: Mapping[str, str]) -> Path | None:
    """The settings file: `ENV_FILE` (relative to the project folder), none when it is empty."""
    named = environment.get(ENV_FILE_VARIABLE)
    if named is None:
        return PROJECT_ROOT / ".env"
    if not named.strip():
        return None
    return _parse_path(named)


def _empty_value(variable: str, spec: _Spec) -> Any:
    if variable in _COLLECTIONS:
        return spec.parse("")
    if variable == "DATABASE_URL":  # set to nothing: the default file
        return DatabaseUrl.parse(str(spec.default))
    if spec.secret or spec.default == "":
        return None  # also SHARD_IDS: every shard
    raise ConfigError(variable, spec.expected)
