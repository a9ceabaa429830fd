-- A rollout's counters: every process adds its tallies (core.rollouts.figures.Tally) here, so
-- every worker and replica reports the same totals. ended_* is the first ending claimed.
CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    rows_compared BIGINT NOT NULL DEFAULT 0,
    rows_agreed BIGINT NOT NULL DEFAULT 0,
    diff_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    diff_max DOUBLE PRECISION NOT NULL DEFAULT 0,
    ended_status TEXT CHECK (ended_status IN ('promoted', 'rolled_back', 'ended')),
    ended_reason TEXT,
    ended_guard TEXT
);
CREATE INDEX IF NOT EXISTS rollouts_model ON rollouts (model);
CREATE TABLE IF NOT EXISTS rollout_arms (
    rollout_id TEXT NOT NULL,
    arm TEXT NOT NULL CHECK (arm IN ('stable', 'candidate')),
    requests BIGINT NOT NULL DEFAULT 0,
    runs BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    failed_rows BIGINT NOT NULL DEFAULT 0,
    seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, arm)
);
CREATE TABLE IF NOT EXISTS rollout_latency (
    rollout_id TEXT NOT NULL,
    arm TEXT NOT NULL CHECK (arm IN ('stable', 'candidate')),
    bucket SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, arm, bucket)
);
