-- The rollout counters' statements for PostgreSQL (psycopg's %(name)s placeholders), in the
-- schema tinymlp. A flush locks its rollout's row first (lock), so flushes and endings of one
-- rollout run one at a time, and every writer takes the same rows in the same order.
-- What each does is core.rollouts.table's docstring; the SQLite file says the same in its own dialect.

-- name: begin
INSERT INTO rollouts (id, model) VALUES (%(id)s, %(model)s);

-- name: forget_arms
DELETE FROM rollout_arms WHERE rollout_id IN (SELECT id FROM rollouts WHERE model = %(model)s AND id <> %(id)s);

-- name: forget_latency
DELETE FROM rollout_latency WHERE rollout_id IN (SELECT id FROM rollouts WHERE model = %(model)s AND id <> %(id)s);

-- name: forget
DELETE FROM rollouts WHERE model = %(model)s AND id <> %(id)s;

-- name: lock
SELECT * FROM rollouts WHERE id = %(id)s FOR UPDATE;

-- name: add_compared
UPDATE rollouts SET rows_compared = rows_compared + %(compared)s, rows_agreed = rows_agreed + %(agreed)s,
       diff_sum = diff_sum + %(diff_sum)s, diff_max = GREATEST(diff_max, %(diff_max)s)
 WHERE id = %(id)s;

-- name: add_arm
INSERT INTO rollout_arms AS a (rollout_id, arm, requests, runs, errors, failed_rows, seconds)
VALUES (%(id)s, %(arm)s, %(requests)s, %(runs)s, %(errors)s, %(failed_rows)s, %(seconds)s)
ON CONFLICT (rollout_id, arm) DO UPDATE SET requests = a.requests + excluded.requests, runs = a.runs + excluded.runs,
   errors = a.errors + excluded.errors, failed_rows = a.failed_rows + excluded.failed_rows,
   seconds = a.seconds + excluded.seconds;

-- name: add_latency
INSERT INTO rollout_latency AS l (rollout_id, arm, bucket, n) VALUES (%(id)s, %(arm)s, %(bucket)s, %(n)s)
ON CONFLICT (rollout_id, arm, bucket) DO UPDATE SET n = l.n + excluded.n;

-- name: get
SELECT * FROM rollouts WHERE id = %(id)s;

-- name: arms
SELECT arm, requests, runs, errors, failed_rows, seconds FROM rollout_arms WHERE rollout_id = %(id)s;

-- name: latency
SELECT arm, bucket, n FROM rollout_latency WHERE rollout_id = %(id)s;

-- name: end
-- The first ending wins: a guard on one replica, a promotion asked of another.
UPDATE rollouts SET ended_status = %(status)s, ended_reason = %(reason)s, ended_guard = %(guard)s
 WHERE id = %(id)s AND ended_status IS NULL;

-- name: amend
-- The ending's winner says what came of it (a promotion whose label could not be moved).
UPDATE rollouts SET ended_status = %(status)s, ended_reason = %(reason)s, ended_guard = %(guard)s WHERE id = %(id)s;
