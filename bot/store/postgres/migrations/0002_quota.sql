-- Quota: per-server settings and pools, per-member limits, role overrides, the prompt block
-- list, bars, and one reservation row per job (reserve -> commit | refund).
-- guild_id 0 stands for direct messages (Discord ids are never 0).
-- NULL settings columns fall back to the defaults from the environment (QuotaDefaults).
-- PostgreSQL's dialect of bot/store/sqlite/migrations/0002_quota.sql: same tables and columns;
-- Discord ids are BIGINT, flags BOOLEAN.

CREATE TABLE quota_guild_settings (
    guild_id            BIGINT PRIMARY KEY,
    daily_pool          INTEGER CHECK (daily_pool IS NULL OR daily_pool >= 0),
    reset_minute        INTEGER CHECK (reset_minute IS NULL OR reset_minute BETWEEN 0 AND 1439),
    member_limit        INTEGER CHECK (member_limit IS NULL OR member_limit >= 0),
    window_seconds      INTEGER CHECK (window_seconds IS NULL OR window_seconds >= 60),
    max_in_flight       INTEGER CHECK (max_in_flight IS NULL OR max_in_flight >= 1),
    paused              BOOLEAN NOT NULL DEFAULT FALSE,
    channels_restricted BOOLEAN NOT NULL DEFAULT FALSE,
    modlog_channel_id   BIGINT,
    updated_at          DOUBLE PRECISION NOT NULL DEFAULT 0
);

CREATE TABLE quota_allowed_channels (
    guild_id   BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- NULL limit columns leave that limit to the server setting; exempt = no member limits at all.
CREATE TABLE quota_role_overrides (
    guild_id      BIGINT NOT NULL,
    role_id       BIGINT NOT NULL,
    member_limit  INTEGER CHECK (member_limit IS NULL OR member_limit >= 0),
    max_in_flight INTEGER CHECK (max_in_flight IS NULL OR max_in_flight >= 1),
    exempt        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (guild_id, role_id)
);

-- extra_credit: generations a moderator granted on top of the window allowance (used up first
-- come, given back on refund). window_reset_at: usage before this moment no longer counts.
CREATE TABLE quota_members (
    guild_id        BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    extra_credit    INTEGER NOT NULL DEFAULT 0 CHECK (extra_credit >= 0),
    window_reset_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    barred          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE quota_reservations (
    job_id           TEXT PRIMARY KEY,
    guild_id         BIGINT NOT NULL,
    user_id          BIGINT NOT NULL,
    channel_id       BIGINT,
    state            TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'refunded')),
    in_flight        BOOLEAN NOT NULL DEFAULT TRUE,
    counts_member    BOOLEAN NOT NULL,          -- false when an exempt role waived member limits
    used_extra       BOOLEAN NOT NULL DEFAULT FALSE,
    pool_period      BIGINT,                    -- start (unix s) of the pool period; NULL in DMs
    bot_day          INTEGER NOT NULL,          -- UTC day number for the bot-wide cap
    member_remaining INTEGER,                   -- as granted, so a retry returns the same Grant
    pool_remaining   INTEGER,
    created_at       DOUBLE PRECISION NOT NULL,
    updated_at       DOUBLE PRECISION NOT NULL
);
CREATE INDEX quota_reservations_member
    ON quota_reservations (guild_id, user_id, created_at);
CREATE INDEX quota_reservations_in_flight
    ON quota_reservations (guild_id, user_id) WHERE in_flight;
CREATE INDEX quota_reservations_reserved
    ON quota_reservations (created_at) WHERE state = 'reserved';
CREATE INDEX quota_reservations_pool
    ON quota_reservations (guild_id, pool_period);

-- Running totals, so a check is one primary-key lookup: scope 'guild' (period = pool period start)
-- and 'bot' (scope_id 0, period = UTC day). Kept in step with reservations in one transaction;
-- their rows are also the locks that make reservations from several processes exact.
CREATE TABLE quota_counters (
    scope    TEXT NOT NULL,
    scope_id BIGINT NOT NULL,
    period   BIGINT NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (scope, scope_id, period)
);

CREATE TABLE quota_blocked_terms (
    guild_id BIGINT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('word', 'regex')),
    pattern  TEXT NOT NULL,
    added_by BIGINT,
    added_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, kind, pattern)
);

-- What was generated, by whom, with which outcome (note_generation): the audit trail.
CREATE TABLE quota_generation_log (
    job_id   TEXT PRIMARY KEY,
    guild_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    prompt   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    link     TEXT,
    noted_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX quota_generation_log_guild ON quota_generation_log (guild_id, noted_at);
