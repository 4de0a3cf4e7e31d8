-- Jam sessions (issue 11): a jam, its rounds, entries and votes, the posts it owes its thread,
-- and the jam budget's link to the quota. Plain SQL that PostgreSQL also runs (no WITHOUT ROWID,
-- no SQLite functions); ids and Discord snowflakes are INTEGER (BIGINT there), times REAL unix s.

-- A reservation paid by a jam's budget instead of the server pool (pool_period is then NULL and
-- counts_member 0: jam entries do not count in the member's rolling window).
ALTER TABLE quota_reservations ADD COLUMN jam_id TEXT;
CREATE INDEX quota_reservations_jam ON quota_reservations (jam_id) WHERE jam_id IS NOT NULL;

-- Members with this role may start jams (besides Manage Server).
CREATE TABLE jam_guild_settings (
    guild_id     INTEGER PRIMARY KEY,
    host_role_id INTEGER
);

-- One row per jam. `budget` credits were taken from the guild pool period `pool_period` at start
-- (quota_counters holds them); `settled` once the unspent rest went back (`returned` credits,
-- later refunds of its pieces included). `phase_ends_at`: the deadline the scheduler waits for.
CREATE TABLE jams (
    id                TEXT PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    channel_id        INTEGER NOT NULL,
    thread_id         INTEGER,
    card_message_id   INTEGER,
    host_id           INTEGER NOT NULL,
    theme             TEXT NOT NULL,
    style             TEXT,
    negative_prompt   TEXT,
    rounds            INTEGER NOT NULL CHECK (rounds >= 1),
    round_seconds     INTEGER NOT NULL CHECK (round_seconds > 0),
    vote_seconds      INTEGER NOT NULL CHECK (vote_seconds > 0),
    entries_per_round INTEGER NOT NULL CHECK (entries_per_round >= 1),
    budget            INTEGER NOT NULL CHECK (budget >= 1),
    pool_period       INTEGER NOT NULL,
    phase             TEXT NOT NULL
        CHECK (phase IN ('starting', 'submitting', 'voting', 'ended', 'cancelled')),
    round             INTEGER NOT NULL DEFAULT 1,
    phase_ends_at     REAL,
    settled           INTEGER NOT NULL DEFAULT 0,
    returned          INTEGER NOT NULL DEFAULT 0,
    end_reason        TEXT,
    ended_by          INTEGER,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    ended_at          REAL
);
-- One running jam per channel, whatever process starts it.
CREATE UNIQUE INDEX jams_running_in_channel
    ON jams (channel_id) WHERE phase IN ('starting', 'submitting', 'voting');
CREATE UNIQUE INDEX jams_by_thread ON jams (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX jams_by_channel ON jams (channel_id, created_at);
CREATE INDEX jams_deadlines ON jams (phase_ends_at) WHERE phase IN ('submitting', 'voting');

CREATE TABLE jam_rounds (
    jam_id           TEXT NOT NULL REFERENCES jams (id),
    number           INTEGER NOT NULL,
    opened_at        REAL NOT NULL,
    submit_ends_at   REAL NOT NULL,
    voting_opened_at REAL,
    vote_ends_at     REAL,
    closed_at        REAL,
    PRIMARY KEY (jam_id, number)
);

-- An entry is a /compose inside the jam's thread: its job id, its number in the jam (#3), what
-- the member typed and what was sent (the jam's style added). It counts while its reservation
-- is not refunded. `audio_path`: the copy kept for the export.
CREATE TABLE jam_entries (
    job_id          TEXT PRIMARY KEY,
    jam_id          TEXT NOT NULL REFERENCES jams (id),
    round           INTEGER NOT NULL,
    number          INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    display_name    TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    final_prompt    TEXT NOT NULL,
    negative_prompt TEXT,
    seed            INTEGER,
    riff_of         TEXT,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'failed')),
    audio_path      TEXT,
    created_at      REAL NOT NULL,
    UNIQUE (jam_id, number)
);
CREATE INDEX jam_entries_by_member ON jam_entries (jam_id, round, user_id);

-- One vote per member per round; voting again moves it.
CREATE TABLE jam_votes (
    jam_id   TEXT NOT NULL REFERENCES jams (id),
    round    INTEGER NOT NULL,
    voter_id INTEGER NOT NULL,
    entry    INTEGER NOT NULL,
    voted_at REAL NOT NULL,
    PRIMARY KEY (jam_id, round, voter_id)
);

-- The posts a phase change owes (written in the same transaction as the change), so a crash
-- between the change and the post is resumed, and a post seen in the thread is not made again.
-- A post is claimed for a while before it is made: two processes never make it both.
CREATE TABLE jam_posts (
    jam_id   TEXT NOT NULL REFERENCES jams (id),
    kind     TEXT NOT NULL,
    round    INTEGER NOT NULL,
    position INTEGER NOT NULL,
    due_at   REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until REAL,  -- a process is making it until then (another may take over after)
    done_at  REAL,
    PRIMARY KEY (jam_id, kind, round)
);
CREATE INDEX jam_posts_pending ON jam_posts (due_at) WHERE done_at IS NULL;
