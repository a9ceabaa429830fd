-- The prediction log: one row per logged predict request, its rows and answers as arrays.
-- Times are whole microseconds since the epoch (now_us(), see core.db.sqlite).
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order requests were logged in, across workers
    model TEXT NOT NULL,
    version INTEGER NOT NULL,               -- the version that answered
    request_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    n_rows INTEGER NOT NULL,
    row_end INTEGER NOT NULL,               -- rows logged up to and with this request: the row cap
    inputs BLOB NOT NULL,                   -- the checked rows, row-major, of in_dtype
    in_dtype TEXT NOT NULL,                 -- numpy's name for it: <f8, or narrower where exact (|u1, <f4...)
    outputs BLOB NOT NULL,                  -- probabilities or values, row-major, of out_dtype
    out_dtype TEXT NOT NULL                 -- numpy's name for it: <f4 or <f8
);
-- A request id names one prediction of a model: a repeat is not logged again.
CREATE UNIQUE INDEX IF NOT EXISTS predictions_request ON predictions (model, request_id);
CREATE INDEX IF NOT EXISTS predictions_version ON predictions (model, version, seq);
CREATE TABLE IF NOT EXISTS predlog_rows (id INTEGER PRIMARY KEY CHECK (id = 1), total INTEGER NOT NULL);
INSERT OR IGNORE INTO predlog_rows (id, total) VALUES (1, 0);

-- The true answers users sent back, one per predicted row, with the row and the prediction.
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- a replaced answer takes a new one: it is the newest
    model TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    version INTEGER NOT NULL,               -- the version that answered the request
    at INTEGER NOT NULL,
    input BLOB NOT NULL,                    -- the row, float64 little-endian
    truth TEXT NOT NULL,                    -- a label, or a regressor's values (JSON)
    predicted TEXT NOT NULL,                -- what the version answered, written the same way
    correct INTEGER,                        -- classifiers: 1 if it answered the truth
    abs_err REAL,                           -- regressors: mean |error| over the outputs
    sq_err REAL                             -- regressors: mean squared error over the outputs
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
    n INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    abs_sum REAL NOT NULL,
    sq_sum REAL NOT NULL,
    PRIMARY KEY (model, version, truth)
);

-- Per model: when feedback queues a training job (trainer.retraining), and what it last did.
CREATE TABLE IF NOT EXISTS retraining (
    model TEXT PRIMARY KEY,
    policy TEXT NOT NULL,                   -- JSON: core.predlog.records.RetrainingPolicy
    consumed INTEGER NOT NULL,              -- feedback rows up to this seq have been used (or predate it)
    last_job TEXT,
    last_reason TEXT,
    last_at INTEGER,
    updated_at INTEGER NOT NULL
);
