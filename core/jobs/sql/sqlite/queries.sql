-- The job table's statements for SQLite (sqlite3's :name placeholders). Times are whole
-- microseconds since the epoch; now_us() is the database's clock (see core.db.sqlite).
-- What each does is core.jobs.table's docstring; the PostgreSQL file says the same in its own dialect.

-- name: table_exists
SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = :name;

-- name: legacy_version
-- Before schema_versions, a one-row table held the job table's version.
SELECT version FROM schema_version;

-- name: queued
SELECT n FROM job_counts WHERE status = 'queued';

-- name: insert
INSERT INTO jobs (id, model, status, params, submitted_at, parent_version)
VALUES (:id, :model, 'queued', :params, now_us(), :parent_version);

-- name: get
SELECT * FROM jobs WHERE id = :id;

-- name: get_locked
-- A write transaction holds the whole database already.
SELECT * FROM jobs WHERE id = :id;

-- name: page
SELECT * FROM jobs
 WHERE (submitted_at, id) < (COALESCE(:before_at, 9223372036854775807), :before_id)
 ORDER BY submitted_at DESC, id DESC LIMIT :limit;

-- name: page_model
SELECT * FROM jobs
 WHERE model = :model AND (submitted_at, id) < (COALESCE(:before_at, 9223372036854775807), :before_id)
 ORDER BY submitted_at DESC, id DESC LIMIT :limit;

-- name: page_status
SELECT * FROM jobs
 WHERE status = :status AND (submitted_at, id) < (COALESCE(:before_at, 9223372036854775807), :before_id)
 ORDER BY submitted_at DESC, id DESC LIMIT :limit;

-- name: page_model_status
SELECT * FROM jobs
 WHERE model = :model AND status = :status
   AND (submitted_at, id) < (COALESCE(:before_at, 9223372036854775807), :before_id)
 ORDER BY submitted_at DESC, id DESC LIMIT :limit;

-- name: cancel_queued
UPDATE jobs SET status = 'cancelled', finished_at = now_us(),
       error = 'cancelled before it started; nothing was published'
 WHERE id = :id AND status = 'queued';

-- name: request_cancel
UPDATE jobs SET cancel_requested = 1 WHERE id = :id AND status = 'running';

-- name: delete_finished
DELETE FROM jobs WHERE id = :id AND status IN ('succeeded', 'failed', 'cancelled') RETURNING id;

-- name: claim_pick
SELECT id FROM jobs
 WHERE status = 'queued' AND model NOT IN (SELECT model FROM jobs WHERE status = 'running')
 ORDER BY submitted_at, rowid LIMIT 1;

-- name: claim_take
UPDATE jobs SET status = 'running', worker = :worker, started_at = now_us(), heartbeat_at = now_us()
 WHERE id = :id AND status = 'queued' RETURNING *;

-- name: beat
UPDATE jobs SET heartbeat_at = now_us(), progress = COALESCE(:progress, progress)
 WHERE id = :id AND worker = :worker AND status = 'running' RETURNING cancel_requested;

-- name: start_publishing
UPDATE jobs SET publishing_at = now_us(), heartbeat_at = now_us()
 WHERE id = :id AND worker = :worker AND status = 'running' AND cancel_requested = 0;

-- name: record_published
UPDATE jobs SET published_version = :version WHERE id = :id;

-- name: finish
UPDATE jobs SET status = :status, finished_at = now_us(), progress = COALESCE(:progress, progress),
       promotion = COALESCE(:promotion, promotion), promoted = COALESCE(:promoted, promoted),
       error = COALESCE(:error, error)
 WHERE id = :id AND worker = :worker AND status = 'running';

-- name: requeue
UPDATE jobs SET status = 'queued', worker = NULL, started_at = NULL, heartbeat_at = NULL, progress = '[]'
 WHERE id = :id AND worker = :worker AND status = 'running' AND publishing_at IS NULL;

-- name: reap
UPDATE jobs SET status = 'failed', finished_at = now_us(),
       error = CASE WHEN publishing_at IS NULL THEN :unpublished ELSE :publishing END
 WHERE status = 'running' AND heartbeat_at < now_us() - CAST(:stale_after * 1e6 AS INTEGER)
RETURNING id;

-- name: sweep
DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs
     WHERE status IN ('succeeded', 'failed', 'cancelled')
       AND finished_at < now_us() - CAST(:keep_seconds * 1e6 AS INTEGER)
     ORDER BY finished_at LIMIT :batch);

-- name: counts
SELECT status, n FROM job_counts;

-- name: histograms
SELECT name, le, n, total FROM job_histograms ORDER BY name, le;
