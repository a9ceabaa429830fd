-- The prediction log: one row per logged predict request, its rows and answers as arrays.
-- Times are timestamptz by the server's clock, now().
CREATE TABLE IF NOT EXISTS predictions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the order requests were logged in, across workers
    model TEXT NOT NULL,
    version INTEGER NOT NULL,               -- the version that answered
    request_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    n_rows INTEGER NOT NULL,
    row_end BIGINT NOT NULL,                -- rows logged up to and with this request: the row cap
    inputs BYTEA NOT NULL,                  -- the checked rows, row-major, of in_dtype
    in_dtype TEXT NOT NULL,                 -- numpy's name for it: <f8, or narrower where exact (|u1, <f4...)
    outputs BYTEA NOT NULL,                 -- probabilities or values, row-major, of out_dtype
    out_dtype TEXT NOT NULL                 -- numpy's name for it: <f4 or <f8
);
-- Stored as they are, never compressed: pglz trying (and failing) to compress a 10,000-row
-- request's arrays cost the server four times the insert itself (benchmarks.feedback).
ALTER TABLE predictions ALTER COLUMN inputs SET STORAGE EXTERNAL, ALTER COLUMN outputs SET STORAGE EXTERNAL;
-- A request id names one prediction of a model: a repeat is not logged again.
CREATE UNIQUE INDEX IF NOT EXISTS predictions_request ON predictions (model, request_id);
CREATE INDEX IF NOT EXISTS predictions_version ON predictions (model, version, seq);
CREATE TABLE IF NOT EXISTS predlog_rows (id INTEGER PRIMARY KEY CHECK (id = 1), total BIGINT NOT NULL);
INSERT INTO predlog_rows (id, total) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

-- The true answers users sent back, one per predicted row, with the row and the prediction.
CREATE TABLE IF NOT EXISTS feedback (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- a replaced answer takes a new one: it is the newest
    model TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    version INTEGER NOT NULL,               -- the version that answered the request
    at TIMESTAMPTZ NOT NULL,
    input BYTEA NOT NULL,                   -- the row, float64 little-endian
    truth TEXT NOT NULL,                    -- a label, or a regressor's values (JSON)
    predicted TEXT NOT NULL,                -- what the version answered, written the same way
    correct INTEGER,                        -- classifiers: 1 if it answered the truth
    abs_err DOUBLE PRECISION,               -- regressors: mean |error| over the outputs
    sq_err DOUBLE PRECISION                 -- regressors: mean squared error over the outputs
);
CREATE UNIQUE INDEX IF NOT EXISTS feedback_row ON feedback (model, request_id, row_index);
CREATE INDEX IF NOT EXISTS feedback_version ON feedback (model, version, seq);
CREATE INDEX IF NOT EXISTS feedback_model ON feedback (model, seq);

-- Every feedback row a version has had, added up as it arrives (per true label; '' for a
-- regressor): live quality since it started serving, which outlives the rows' retention.
CREATE TABLE IF NOT EXISTS feedback_totals (
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    truth TEXT NOT NULL,
    n BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    abs_sum DOUBLE PRECISION NOT NULL,
    sq_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model, version, truth)
);

-- Per model: when feedback queues a training job (trainer.retraining), and what it last did.
CREATE TABLE IF NOT EXISTS retraining (
    model TEXT PRIMARY KEY,
    policy JSONB NOT NULL,                  -- JSON: core.predlog.records.RetrainingPolicy
    consumed BIGINT NOT NULL,               -- feedback rows up to this seq have been used (or predate it)
    last_job TEXT,
    last_reason TEXT,
    last_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
