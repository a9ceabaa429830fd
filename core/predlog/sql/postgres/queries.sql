-- The prediction log's statements for PostgreSQL (psycopg's %(name)s placeholders), in the
-- schema tinymlp (the connections' search_path). Times are timestamptz by the server's clock, now().
-- What each does is core.predlog.log's docstring; the SQLite file says the same in its own dialect.

-- name: count_rows
-- The counter's row lock orders the batches of every writer: row_end grows with seq.
UPDATE predlog_rows SET total = total + %(n)s RETURNING total;

-- name: insert_predictions
-- A batch as one statement, its columns as arrays sent in binary: one round trip, one plan.
INSERT INTO predictions (model, version, request_id, at, n_rows, row_end, inputs, in_dtype, outputs, out_dtype)
SELECT m, v, r, now(), n, e, i, di, o, do_
  FROM unnest(%(model)b::text[], %(version)b::int[], %(request_id)b::text[], %(n_rows)b::int[],
              %(row_end)b::bigint[], %(inputs)b::bytea[], %(in_dtype)b::text[], %(outputs)b::bytea[],
              %(out_dtype)b::text[])
       AS batch(m, v, r, n, e, i, di, o, do_)
ON CONFLICT (model, request_id) DO NOTHING;

-- name: predictions_of
SELECT seq, request_id, version, n_rows, inputs, in_dtype, outputs, out_dtype FROM predictions
 WHERE model = %(model)s AND request_id = ANY(%(request_ids)s::text[]);

-- name: recent
SELECT seq, version, n_rows, inputs, in_dtype, outputs, out_dtype FROM predictions
 WHERE model = %(model)s AND version = %(version)s AND seq < %(before)s
 ORDER BY seq DESC LIMIT %(limit)s;

-- name: sweep_predictions
-- The oldest batch, of which those past the retention or the row cap: both only grow with seq.
DELETE FROM predictions WHERE seq IN (
    SELECT seq FROM (SELECT seq, at, row_end FROM predictions ORDER BY seq LIMIT %(batch)s) AS oldest
     WHERE at < now() - make_interval(secs => %(keep_seconds)s)
        OR row_end <= (SELECT total FROM predlog_rows) - %(max_rows)s);

-- name: sweep_feedback
DELETE FROM feedback WHERE seq IN (
    SELECT seq FROM (SELECT seq, at FROM feedback ORDER BY seq LIMIT %(batch)s) AS oldest
     WHERE at < now() - make_interval(secs => %(keep_seconds)s));

-- name: lock_feedback
-- Feedback on one model one transaction at a time: a row's answer is read, then replaced.
SELECT pg_advisory_xact_lock(7301003, hashtext(%(model)s));

-- name: wake
-- Feedback on a model with a retraining policy wakes idle job workers (they LISTEN on the job
-- table's channel), which look at the policy at once; delivered when the transaction commits.
SELECT pg_notify('tinymlp_jobs', %(model)s) FROM retraining WHERE model = %(model)s;

-- name: feedback_of
SELECT seq, request_id, row_index, version, truth, correct, abs_err, sq_err FROM feedback
 WHERE model = %(model)s AND request_id = ANY(%(request_ids)s::text[]);

-- name: delete_feedback
DELETE FROM feedback WHERE seq = %(seq)s;

-- name: insert_feedback
INSERT INTO feedback (model, request_id, row_index, version, at, input, truth, predicted, correct, abs_err, sq_err)
VALUES (%(model)s, %(request_id)s, %(row_index)s, %(version)s, now(), %(input)s, %(truth)s, %(predicted)s,
        %(correct)s, %(abs_err)s, %(sq_err)s);

-- name: add_totals
INSERT INTO feedback_totals (model, version, truth, n, hits, abs_sum, sq_sum)
VALUES (%(model)s, %(version)s, %(truth)s, %(n)s, %(hits)s, %(abs_sum)s, %(sq_sum)s)
ON CONFLICT (model, version, truth) DO UPDATE SET
    n = feedback_totals.n + excluded.n, hits = feedback_totals.hits + excluded.hits,
    abs_sum = feedback_totals.abs_sum + excluded.abs_sum, sq_sum = feedback_totals.sq_sum + excluded.sq_sum;

-- name: totals
SELECT truth, n, hits, abs_sum, sq_sum FROM feedback_totals
 WHERE model = %(model)s AND version = %(version)s AND n > 0;

-- name: window_rows
-- A version's latest feedback rows, oldest first.
SELECT truth, correct, abs_err, sq_err FROM (
    SELECT seq, truth, correct, abs_err, sq_err FROM feedback WHERE model = %(model)s AND version = %(version)s
     ORDER BY seq DESC LIMIT %(window)s) AS recent
 ORDER BY seq;

-- name: window_accuracy_of_served
SELECT count(*) AS n, COALESCE(sum(correct), 0) AS hits FROM (
    SELECT correct FROM feedback WHERE model = %(model)s AND version = %(version)s
     ORDER BY seq DESC LIMIT %(window)s) AS recent;

-- name: feedback_since
SELECT count(*) AS n, COALESCE(max(seq), %(after)s) AS through FROM feedback
 WHERE model = %(model)s AND seq > %(after)s;

-- name: latest_feedback
SELECT COALESCE(max(seq), 0) AS seq FROM feedback WHERE model = %(model)s;

-- name: feedback_rows
SELECT seq, request_id, row_index, version, input, truth FROM feedback
 WHERE model = %(model)s AND seq <= %(through)s ORDER BY seq DESC LIMIT %(limit)s;

-- name: policy
SELECT model, policy, consumed, last_job, last_reason, last_at, updated_at FROM retraining WHERE model = %(model)s;

-- name: policies
SELECT model, policy, consumed, last_job, last_reason, last_at, updated_at FROM retraining ORDER BY model;

-- name: put_policy
-- A new policy counts feedback from now on; a changed one keeps its count.
INSERT INTO retraining (model, policy, consumed, updated_at)
VALUES (%(model)s, %(policy)s::jsonb, (SELECT COALESCE(max(seq), 0) FROM feedback WHERE model = %(model)s), now())
ON CONFLICT (model) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at;

-- name: delete_policy
DELETE FROM retraining WHERE model = %(model)s RETURNING model;

-- name: claim_retraining
-- Only the process whose view of the count is still current takes it: one job per trigger.
UPDATE retraining SET consumed = %(through)s, last_job = NULL, last_reason = %(reason)s, last_at = now()
 WHERE model = %(model)s AND consumed = %(consumed)s;

-- name: retraining_job
UPDATE retraining SET last_job = %(job)s WHERE model = %(model)s;

-- name: unclaim_retraining
UPDATE retraining SET consumed = %(consumed)s, last_reason = %(reason)s
 WHERE model = %(model)s AND consumed = %(through)s;
