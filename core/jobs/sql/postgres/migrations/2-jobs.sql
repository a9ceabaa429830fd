-- The job table as the first PostgreSQL release made it (times in seconds since the epoch).
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params JSONB NOT NULL,
    submitted_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    heartbeat_at DOUBLE PRECISION,
    publishing_at DOUBLE PRECISION,
    worker TEXT,
    parent_version INTEGER,
    published_version INTEGER,
    promoted INTEGER,
    promotion JSONB,
    progress JSONB NOT NULL DEFAULT '[]',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, submitted_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_model ON jobs (model) WHERE status = 'running';
