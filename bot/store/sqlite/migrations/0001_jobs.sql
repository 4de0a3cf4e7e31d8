-- The job engine's durable state: one row per job, plus a bounded history of generation times
-- that the adaptive poll schedule learns from. Timestamps are unix seconds (REAL).
CREATE TABLE jobs (
    id                      TEXT PRIMARY KEY,
    state                   TEXT NOT NULL,
    prompt                  TEXT NOT NULL,
    negative_prompt         TEXT,
    seed                    INTEGER,
    model                   TEXT NOT NULL,
    requester_id            TEXT NOT NULL,
    guild_id                TEXT,
    channel_id              TEXT,
    origin                  TEXT NOT NULL,
    context                 TEXT NOT NULL DEFAULT '{}',   -- JSON object, opaque to the engine
    created_at              REAL NOT NULL,
    updated_at              REAL NOT NULL,
    deadline_at             REAL NOT NULL,
    generation_id           TEXT,
    provider_status         TEXT,
    submitted_at            REAL,
    provider_completed_at   REAL,
    completed_at            REAL,
    delivered_at            REAL,
    audio_path              TEXT,
    audio_url               TEXT,
    audio_size_bytes        INTEGER,
    audio_duration_seconds  REAL,
    audio_content_type      TEXT,
    credits_used            REAL,
    usage_headers           TEXT NOT NULL DEFAULT '{}',   -- JSON object of x-aimlapi-* headers
    error_kind              TEXT,
    error_message           TEXT,
    poll_count              INTEGER NOT NULL DEFAULT 0,
    cancelled_by            TEXT
);

CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_requester ON jobs (requester_id, created_at);
CREATE UNIQUE INDEX jobs_by_generation ON jobs (generation_id) WHERE generation_id IS NOT NULL;

-- Seconds from submission to the engine noticing completion, newest last; trimmed on insert.
CREATE TABLE generation_times (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL,
    seconds     REAL NOT NULL,
    recorded_at REAL NOT NULL
);
