-- Quota: per-server settings and pools, per-member limits, role overrides, the prompt block
-- list, bars, and one reservation row per job (reserve -> commit | refund).
-- guild_id 0 stands for direct messages (Discord ids are never 0).
-- NULL settings columns fall back to the defaults from the environment (QuotaDefaults).

CREATE TABLE quota_guild_settings (
    guild_id            INTEGER PRIMARY KEY,
    daily_pool          INTEGER CHECK (daily_pool IS NULL OR daily_pool >= 0),
    reset_minute        INTEGER CHECK (reset_minute IS NULL OR reset_minute BETWEEN 0 AND 1439),
    member_limit        INTEGER CHECK (member_limit IS NULL OR member_limit >= 0),
    window_seconds      INTEGER CHECK (window_seconds IS NULL OR window_seconds >= 60),
    max_in_flight       INTEGER CHECK (max_in_flight IS NULL OR max_in_flight >= 1),
    paused              INTEGER NOT NULL DEFAULT 0,
    channels_restricted INTEGER NOT NULL DEFAULT 0,
    modlog_channel_id   INTEGER,
    updated_at          REAL NOT NULL DEFAULT 0
);

CREATE TABLE quota_allowed_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
) WITHOUT ROWID;

-- NULL limit columns leave that limit to the server setting; exempt = no member limits at all.
CREATE TABLE quota_role_overrides (
    guild_id      INTEGER NOT NULL,
    role_id       INTEGER NOT NULL,
    member_limit  INTEGER CHECK (member_limit IS NULL OR member_limit >= 0),
    max_in_flight INTEGER CHECK (max_in_flight IS NULL OR max_in_flight >= 1),
    exempt        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, role_id)
) WITHOUT ROWID;

-- extra_credit: generations a moderator granted on top of the window allowance (used up first
-- come, given back on refund). window_reset_at: usage before this moment no longer counts.
CREATE TABLE quota_members (
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    extra_credit    INTEGER NOT NULL DEFAULT 0 CHECK (extra_credit >= 0),
    window_reset_at REAL NOT NULL DEFAULT 0,
    barred          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE TABLE quota_reservations (
    job_id           TEXT PRIMARY KEY,
    guild_id         INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    channel_id       INTEGER,
    state            TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'refunded')),
    in_flight        INTEGER NOT NULL DEFAULT 1,
    counts_member    INTEGER NOT NULL,          -- 0 when an exempt role waived member limits
    used_extra       INTEGER NOT NULL DEFAULT 0,
    pool_period      INTEGER,                   -- start (unix s) of the pool period; NULL in DMs
    bot_day          INTEGER NOT NULL,          -- UTC day number for the bot-wide cap
    member_remaining INTEGER,                   -- as granted, so a retry returns the same Grant
    pool_remaining   INTEGER,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);
CREATE INDEX quota_reservations_member
    ON quota_reservations (guild_id, user_id, created_at);
CREATE INDEX quota_reservations_in_flight
    ON quota_reservations (guild_id, user_id) WHERE in_flight = 1;
CREATE INDEX quota_reservations_reserved
    ON quota_reservations (created_at) WHERE state = 'reserved';
CREATE INDEX quota_reservations_pool
    ON quota_reservations (guild_id, pool_period);

-- Running totals, so a check is one primary-key lookup: scope 'guild' (period = pool period start)
-- and 'bot' (scope_id 0, period = UTC day). Kept in step with reservations in one transaction.
CREATE TABLE quota_counters (
    scope    TEXT NOT NULL,
    scope_id INTEGER NOT NULL,
    period   INTEGER NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (scope, scope_id, period)
) WITHOUT ROWID;

CREATE TABLE quota_blocked_terms (
    guild_id INTEGER NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('word', 'regex')),
    pattern  TEXT NOT NULL,
    added_by INTEGER,
    added_at REAL NOT NULL,
    PRIMARY KEY (guild_id, kind, pattern)
) WITHOUT ROWID;

-- What was generated, by whom, with which outcome (note_generation): the audit trail.
CREATE TABLE quota_generation_log (
    job_id   TEXT PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    prompt   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    link     TEXT,
    noted_at REAL NOT NULL
);
CREATE INDEX quota_generation_log_guild ON quota_generation_log (guild_id, noted_at);
