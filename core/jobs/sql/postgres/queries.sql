-- The job table's statements for PostgreSQL (psycopg's %(name)s placeholders), in the schema
-- tinymlp (the connections' search_path). Times are timestamptz by the server's clock, now().
-- What each does is core.jobs.table's docstring; the SQLite file says the same in its own dialect.

-- name: table_exists
SELECT 1 AS found WHERE to_regclass(%(name)s) IS NOT NULL;

-- name: legacy_version
-- Before schema_versions, a one-row table held the job table's version.
SELECT version FROM schema_version;

-- name: lock_submits
-- Submits one at a time, so the queue limit holds (SQLite's write transactions are serial already).
SELECT pg_advisory_xact_lock(7301002);

-- name: wake
-- Delivered when the transaction commits, to every idle worker LISTENing.
SELECT pg_notify('tinymlp_jobs', %(model)s);

-- name: queued
SELECT n FROM job_counts WHERE status = 'queued';

-- name: insert
INSERT INTO jobs (id, model, status, params, submitted_at, parent_version)
VALUES (%(id)s, %(model)s, 'queued', %(params)s::jsonb, now(), %(parent_version)s);

-- name: get
SELECT * FROM jobs WHERE id = %(id)s;

-- name: get_locked
-- A worker's start_publishing waits for this row, or has already won.
SELECT * FROM jobs WHERE id = %(id)s FOR UPDATE;

-- name: page
SELECT * FROM jobs
 WHERE (submitted_at, id) < (COALESCE(%(before_at)s, 'infinity'::timestamptz), %(before_id)s)
 ORDER BY submitted_at DESC, id DESC LIMIT %(limit)s;

-- name: page_model
SELECT * FROM jobs
 WHERE model = %(model)s AND (submitted_at, id) < (COALESCE(%(before_at)s, 'infinity'::timestamptz), %(before_id)s)
 ORDER BY submitted_at DESC, id DESC LIMIT %(limit)s;

-- name: page_status
SELECT * FROM jobs
 WHERE status = %(status)s
   AND (submitted_at, id) < (COALESCE(%(before_at)s, 'infinity'::timestamptz), %(before_id)s)
 ORDER BY submitted_at DESC, id DESC LIMIT %(limit)s;

-- name: page_model_status
SELECT * FROM jobs
 WHERE model = %(model)s AND status = %(status)s
   AND (submitted_at, id) < (COALESCE(%(before_at)s, 'infinity'::timestamptz), %(before_id)s)
 ORDER BY submitted_at DESC, id DESC LIMIT %(limit)s;

-- name: cancel_queued
UPDATE jobs SET status = 'cancelled', finished_at = now(),
       error = 'cancelled before it started; nothing was published'
 WHERE id = %(id)s AND status = 'queued';

-- name: request_cancel
UPDATE jobs SET cancel_requested = 1 WHERE id = %(id)s AND status = 'running';

-- name: delete_finished
DELETE FROM jobs WHERE id = %(id)s AND status IN ('succeeded', 'failed', 'cancelled') RETURNING id;

-- name: claim
-- Two workers may pick queued jobs of one model at once: the unique index on running jobs
-- lets the first become running and refuses the second (which looks again).
UPDATE jobs SET status = 'running', worker = %(worker)s, started_at = now(), heartbeat_at = now()
 WHERE id = (SELECT id FROM jobs
              WHERE status = 'queued' AND model NOT IN (SELECT model FROM jobs WHERE status = 'running')
              ORDER BY submitted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: beat
UPDATE jobs SET heartbeat_at = now(), progress = COALESCE(%(progress)s::jsonb, progress)
 WHERE id = %(id)s AND worker = %(worker)s AND status = 'running' RETURNING cancel_requested;

-- name: start_publishing
UPDATE jobs SET publishing_at = now(), heartbeat_at = now()
 WHERE id = %(id)s AND worker = %(worker)s AND status = 'running' AND cancel_requested = 0;

-- name: record_published
UPDATE jobs SET published_version = %(version)s WHERE id = %(id)s;

-- name: finish
UPDATE jobs SET status = %(status)s, finished_at = now(), progress = COALESCE(%(progress)s::jsonb, progress),
       promotion = COALESCE(%(promotion)s::jsonb, promotion), promoted = COALESCE(%(promoted)s, promoted),
       error = COALESCE(%(error)s, error)
 WHERE id = %(id)s AND worker = %(worker)s AND status = 'running';

-- name: requeue
UPDATE jobs SET status = 'queued', worker = NULL, started_at = NULL, heartbeat_at = NULL, progress = '[]'
 WHERE id = %(id)s AND worker = %(worker)s AND status = 'running' AND publishing_at IS NULL;

-- name: reap
UPDATE jobs SET status = 'failed', finished_at = now(),
       error = CASE WHEN publishing_at IS NULL THEN %(unpublished)s ELSE %(publishing)s END
 WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => %(stale_after)s)
RETURNING id;

-- name: sweep
-- Workers sweep at once without waiting on each other's rows.
DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs
     WHERE status IN ('succeeded', 'failed', 'cancelled')
       AND finished_at < now() - make_interval(secs => %(keep_seconds)s)
     ORDER BY finished_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED);

-- name: counts
SELECT status, n FROM job_counts;

-- name: histograms
SELECT name, le, n, total FROM job_histograms ORDER BY name, le;
