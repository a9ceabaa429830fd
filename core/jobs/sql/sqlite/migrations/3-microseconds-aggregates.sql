-- Times become whole microseconds since the epoch (SQLite has no time type; integers are
-- exact, so a page cursor and the row it names compare equal). Indexes for newest-first
-- pages (keyset on submitted_at, id) with or without filters, and for sweeping finished
-- jobs. Counts by status and the wait and duration histograms are kept by triggers in the
-- transaction that changes a job, so /metrics reads a dozen rows however many jobs there are.
CREATE TABLE jobs_v3 (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    heartbeat_at INTEGER,
    publishing_at INTEGER,
    worker TEXT,
    parent_version INTEGER,
    published_version INTEGER,
    promoted INTEGER,
    promotion TEXT,
    progress TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
INSERT INTO jobs_v3 (id, model, status, params, submitted_at, started_at, finished_at, heartbeat_at,
                     publishing_at, worker, parent_version, published_version, promoted, promotion, progress,
                     error, cancel_requested)
SELECT id, model, status, params, CAST(round(submitted_at * 1e6) AS INTEGER),
       CAST(round(started_at * 1e6) AS INTEGER), CAST(round(finished_at * 1e6) AS INTEGER),
       CAST(round(heartbeat_at * 1e6) AS INTEGER), CAST(round(publishing_at * 1e6) AS INTEGER),
       worker, parent_version, published_version, promoted, promotion, progress, error, cancel_requested
  FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v3 RENAME TO jobs;
DROP TABLE IF EXISTS schema_version;  -- the version is in schema_versions now, per component

CREATE UNIQUE INDEX jobs_one_running_per_model ON jobs (model) WHERE status = 'running';
CREATE INDEX jobs_newest ON jobs (submitted_at, id);
CREATE INDEX jobs_by_model ON jobs (model, submitted_at, id);
CREATE INDEX jobs_by_status ON jobs (status, submitted_at, id);
CREATE INDEX jobs_by_model_status ON jobs (model, status, submitted_at, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled');

CREATE TABLE job_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);
INSERT INTO job_counts (status) VALUES ('queued'), ('running'), ('succeeded'), ('failed'), ('cancelled');
UPDATE job_counts SET n = (SELECT COUNT(*) FROM jobs WHERE jobs.status = job_counts.status);

-- One row per bucket (its upper bound, le), not cumulative: an observation adds to one row.
CREATE TABLE job_histograms (
    name TEXT NOT NULL CHECK (name IN ('wait', 'duration')),  -- submit to claim; claim to finish
    le REAL NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    total REAL NOT NULL DEFAULT 0,  -- the sum of the seconds observed in this bucket
    PRIMARY KEY (name, le)
);
WITH names (name) AS (VALUES ('wait'), ('duration')),
     bounds (le) AS (VALUES (1.0), (5.0), (15.0), (30.0), (60.0), (120.0), (300.0), (600.0), (1800.0), (3600.0),
                            (9e999))
INSERT INTO job_histograms (name, le) SELECT name, le FROM names, bounds;

WITH seen (name, x) AS (
    SELECT 'wait', (started_at - submitted_at) / 1e6 FROM jobs WHERE started_at IS NOT NULL
    UNION ALL
    SELECT 'duration', (finished_at - started_at) / 1e6 FROM jobs
     WHERE started_at IS NOT NULL AND finished_at IS NOT NULL),
binned (name, le, x) AS (
    SELECT seen.name, (SELECT MIN(h.le) FROM job_histograms h WHERE h.name = seen.name AND h.le >= seen.x), x
      FROM seen)
UPDATE job_histograms
   SET n = (SELECT COUNT(*) FROM binned b WHERE b.name = job_histograms.name AND b.le = job_histograms.le),
       total = (SELECT COALESCE(SUM(x), 0) FROM binned b WHERE b.name = job_histograms.name
                                                          AND b.le = job_histograms.le);

CREATE TRIGGER jobs_inserted AFTER INSERT ON jobs BEGIN
    UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
    UPDATE job_histograms SET n = n + 1, total = total + (NEW.started_at - NEW.submitted_at) / 1e6
     WHERE NEW.started_at IS NOT NULL AND name = 'wait'
       AND le = (SELECT MIN(le) FROM job_histograms
                  WHERE name = 'wait' AND le >= (NEW.started_at - NEW.submitted_at) / 1e6);
    UPDATE job_histograms SET n = n + 1, total = total + (NEW.finished_at - NEW.started_at) / 1e6
     WHERE NEW.started_at IS NOT NULL AND NEW.finished_at IS NOT NULL AND name = 'duration'
       AND le = (SELECT MIN(le) FROM job_histograms
                  WHERE name = 'duration' AND le >= (NEW.finished_at - NEW.started_at) / 1e6);
END;

CREATE TRIGGER jobs_deleted AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER jobs_moved AFTER UPDATE OF status ON jobs WHEN NEW.status IS NOT OLD.status BEGIN
    UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER jobs_claimed AFTER UPDATE OF started_at ON jobs
WHEN OLD.started_at IS NULL AND NEW.started_at IS NOT NULL BEGIN
    UPDATE job_histograms SET n = n + 1, total = total + (NEW.started_at - NEW.submitted_at) / 1e6
     WHERE name = 'wait'
       AND le = (SELECT MIN(le) FROM job_histograms
                  WHERE name = 'wait' AND le >= (NEW.started_at - NEW.submitted_at) / 1e6);
END;

CREATE TRIGGER jobs_ended AFTER UPDATE OF finished_at ON jobs
WHEN OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.started_at IS NOT NULL BEGIN
    UPDATE job_histograms SET n = n + 1, total = total + (NEW.finished_at - NEW.started_at) / 1e6
     WHERE name = 'duration'
       AND le = (SELECT MIN(le) FROM job_histograms
                  WHERE name = 'duration' AND le >= (NEW.finished_at - NEW.started_at) / 1e6);
END;
