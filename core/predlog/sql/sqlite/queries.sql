-- The prediction log's statements for SQLite (sqlite3's :name placeholders). Times are whole
-- microseconds since the epoch; now_us() is the database's clock (see core.db.sqlite).
-- What each does is core.predlog.log's docstring; the PostgreSQL file says the same in its own dialect.

-- name: count_rows
-- Taken in the batch's write transaction, which no other process's write interleaves with.
UPDATE predlog_rows SET total = total + :n RETURNING total;

-- name: insert_predictions
-- A batch as one statement (core.predlog.log repeats the row of placeholders for each request):
-- one step into SQLite for the batch, not one a request.
INSERT INTO predictions (model, version, request_id, at, n_rows, row_end, inputs, in_dtype, outputs, out_dtype)
VALUES (?, ?, ?, now_us(), ?, ?, ?, ?, ?, ?)
ON CONFLICT (model, request_id) DO NOTHING;

-- name: predictions_of
SELECT seq, request_id, version, n_rows, inputs, in_dtype, outputs, out_dtype FROM predictions
 WHERE model = :model AND request_id IN (SELECT value FROM json_each(:request_ids));

-- name: recent
SELECT seq, version, n_rows, inputs, in_dtype, outputs, out_dtype FROM predictions
 WHERE model = :model AND version = :version AND seq < :before
 ORDER BY seq DESC LIMIT :limit;

-- name: sweep_predictions
-- The oldest batch, of which those past the retention or the row cap: both only grow with seq.
DELETE FROM predictions WHERE seq IN (
    SELECT seq FROM (SELECT seq, at, row_end FROM predictions ORDER BY seq LIMIT :batch)
     WHERE at < now_us() - CAST(:keep_seconds * 1e6 AS INTEGER)
        OR row_end <= (SELECT total FROM predlog_rows) - :max_rows);

-- name: sweep_feedback
DELETE FROM feedback WHERE seq IN (
    SELECT seq FROM (SELECT seq, at FROM feedback ORDER BY seq LIMIT :batch)
     WHERE at < now_us() - CAST(:keep_seconds * 1e6 AS INTEGER));

-- name: lock_feedback
-- A write transaction holds the whole database already.
SELECT 1;

-- name: feedback_of
SELECT seq, request_id, row_index, version, truth, correct, abs_err, sq_err FROM feedback
 WHERE model = :model AND request_id IN (SELECT value FROM json_each(:request_ids));

-- name: delete_feedback
DELETE FROM feedback WHERE seq = :seq;

-- name: insert_feedback
INSERT INTO feedback (model, request_id, row_index, version, at, input, truth, predicted, correct, abs_err, sq_err)
VALUES (:model, :request_id, :row_index, :version, now_us(), :input, :truth, :predicted, :correct, :abs_err, :sq_err);

-- name: add_totals
INSERT INTO feedback_totals (model, version, truth, n, hits, abs_sum, sq_sum)
VALUES (:model, :version, :truth, :n, :hits, :abs_sum, :sq_sum)
ON CONFLICT (model, version, truth) DO UPDATE SET
    n = feedback_totals.n + excluded.n, hits = feedback_totals.hits + excluded.hits,
    abs_sum = feedback_totals.abs_sum + excluded.abs_sum, sq_sum = feedback_totals.sq_sum + excluded.sq_sum;

-- name: totals
SELECT truth, n, hits, abs_sum, sq_sum FROM feedback_totals WHERE model = :model AND version = :version AND n > 0;

-- name: window_rows
-- A version's latest feedback rows, oldest first.
SELECT truth, correct, abs_err, sq_err FROM (
    SELECT seq, truth, correct, abs_err, sq_err FROM feedback WHERE model = :model AND version = :version
     ORDER BY seq DESC LIMIT :window)
 ORDER BY seq;

-- name: window_accuracy_of_served
SELECT count(*) AS n, COALESCE(sum(correct), 0) AS hits FROM (
    SELECT correct FROM feedback WHERE model = :model AND version = :version
     ORDER BY seq DESC LIMIT :window);

-- name: feedback_since
SELECT count(*) AS n, COALESCE(max(seq), :after) AS through FROM feedback WHERE model = :model AND seq > :after;

-- name: latest_feedback
SELECT COALESCE(max(seq), 0) AS seq FROM feedback WHERE model = :model;

-- name: feedback_rows
SELECT seq, request_id, row_index, version, input, truth FROM feedback
 WHERE model = :model AND seq <= :through ORDER BY seq DESC LIMIT :limit;

-- name: policy
SELECT model, policy, consumed, last_job, last_reason, last_at, updated_at FROM retraining WHERE model = :model;

-- name: policies
SELECT model, policy, consumed, last_job, last_reason, last_at, updated_at FROM retraining ORDER BY model;

-- name: put_policy
-- A new policy counts feedback from now on; a changed one keeps its count.
INSERT INTO retraining (model, policy, consumed, updated_at)
VALUES (:model, :policy, (SELECT COALESCE(max(seq), 0) FROM feedback WHERE model = :model), now_us())
ON CONFLICT (model) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at;

-- name: delete_policy
DELETE FROM retraining WHERE model = :model RETURNING model;

-- name: claim_retraining
-- Only the process whose view of the count is still current takes it: one job per trigger.
UPDATE retraining SET consumed = :through, last_job = NULL, last_reason = :reason, last_at = now_us()
 WHERE model = :model AND consumed = :consumed;

-- name: retraining_job
UPDATE retraining SET last_job = :job WHERE model = :model;

-- name: unclaim_retraining
UPDATE retraining SET consumed = :consumed, last_reason = :reason WHERE model = :model AND consumed = :through;
