-- The rollout counters' statements for SQLite (sqlite3's :name placeholders). A write
-- transaction (BEGIN IMMEDIATE) holds the whole database, so a flush and an ending never interleave.
-- What each does is core.rollouts.table's docstring; the PostgreSQL file says the same in its own dialect.

-- name: begin
INSERT INTO rollouts (id, model) VALUES (:id, :model);

-- name: forget_arms
DELETE FROM rollout_arms WHERE rollout_id IN (SELECT id FROM rollouts WHERE model = :model AND id <> :id);

-- name: forget_latency
DELETE FROM rollout_latency WHERE rollout_id IN (SELECT id FROM rollouts WHERE model = :model AND id <> :id);

-- name: forget
DELETE FROM rollouts WHERE model = :model AND id <> :id;

-- name: lock
SELECT * FROM rollouts WHERE id = :id;

-- name: add_compared
UPDATE rollouts SET rows_compared = rows_compared + :compared, rows_agreed = rows_agreed + :agreed,
       diff_sum = diff_sum + :diff_sum, diff_max = MAX(diff_max, :diff_max)
 WHERE id = :id;

-- name: add_arm
INSERT INTO rollout_arms (rollout_id, arm, requests, runs, errors, failed_rows, seconds)
VALUES (:id, :arm, :requests, :runs, :errors, :failed_rows, :seconds)
ON CONFLICT (rollout_id, arm) DO UPDATE SET requests = requests + excluded.requests, runs = runs + excluded.runs,
   errors = errors + excluded.errors, failed_rows = failed_rows + excluded.failed_rows,
   seconds = seconds + excluded.seconds;

-- name: add_latency
INSERT INTO rollout_latency (rollout_id, arm, bucket, n) VALUES (:id, :arm, :bucket, :n)
ON CONFLICT (rollout_id, arm, bucket) DO UPDATE SET n = n + excluded.n;

-- name: get
SELECT * FROM rollouts WHERE id = :id;

-- name: arms
SELECT arm, requests, runs, errors, failed_rows, seconds FROM rollout_arms WHERE rollout_id = :id;

-- name: latency
SELECT arm, bucket, n FROM rollout_latency WHERE rollout_id = :id;

-- name: end
-- The first ending wins: a guard on one replica, a promotion asked of another.
UPDATE rollouts SET ended_status = :status, ended_reason = :reason, ended_guard = :guard
 WHERE id = :id AND ended_status IS NULL;

-- name: amend
-- The ending's winner says what came of it (a promotion whose label could not be moved).
UPDATE rollouts SET ended_status = :status, ended_reason = :reason, ended_guard = :guard WHERE id = :id;
