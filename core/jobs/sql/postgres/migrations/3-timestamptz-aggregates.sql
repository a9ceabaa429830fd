-- Times become timestamptz. Indexes for newest-first pages (keyset on submitted_at, id) with
-- or without filters, and for sweeping finished jobs. Counts by status and the wait and
-- duration histograms are kept by triggers in the transaction that changes a job, so
-- /metrics reads a dozen rows however many jobs there are: inserts and deletes by statement
-- (a bulk load or a sweep is one update of the counters), status changes by row. The
-- functions keep the search_path they were made with (the schema tinymlp), so they work
-- for any session that changes a job, an operator's psql too.
ALTER TABLE jobs
    ALTER COLUMN submitted_at TYPE timestamptz USING to_timestamp(submitted_at),
    ALTER COLUMN started_at TYPE timestamptz USING to_timestamp(started_at),
    ALTER COLUMN finished_at TYPE timestamptz USING to_timestamp(finished_at),
    ALTER COLUMN heartbeat_at TYPE timestamptz USING to_timestamp(heartbeat_at),
    ALTER COLUMN publishing_at TYPE timestamptz USING to_timestamp(publishing_at);
DROP TABLE IF EXISTS schema_version;  -- the version is in schema_versions now, per component

DROP INDEX IF EXISTS jobs_status;
CREATE INDEX jobs_newest ON jobs (submitted_at, id);
CREATE INDEX jobs_by_model ON jobs (model, submitted_at, id);
CREATE INDEX jobs_by_status ON jobs (status, submitted_at, id);
CREATE INDEX jobs_by_model_status ON jobs (model, status, submitted_at, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled');

CREATE TABLE job_counts (status TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0);
INSERT INTO job_counts (status) VALUES ('queued'), ('running'), ('succeeded'), ('failed'), ('cancelled');
UPDATE job_counts c SET n = d.n FROM (SELECT status, count(*) AS n FROM jobs GROUP BY status) d
 WHERE c.status = d.status;

-- One row per bucket (its upper bound, le), not cumulative: an observation adds to one row.
CREATE TABLE job_histograms (
    name TEXT NOT NULL CHECK (name IN ('wait', 'duration')),  -- submit to claim; claim to finish
    le DOUBLE PRECISION NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    total DOUBLE PRECISION NOT NULL DEFAULT 0,  -- the sum of the seconds observed in this bucket
    PRIMARY KEY (name, le)
);
INSERT INTO job_histograms (name, le)
SELECT name, le FROM unnest(ARRAY['wait', 'duration']) AS name,
       unnest(ARRAY[1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 'Infinity']::double precision[]) AS le;

-- Seconds observed: each bucket row gets the observations up to its bound and above the one before.
CREATE FUNCTION job_observe(kind text, seconds double precision) RETURNS void LANGUAGE sql
SET search_path FROM CURRENT AS $$
    UPDATE job_histograms SET n = n + 1, total = total + seconds
     WHERE name = kind AND le = (SELECT min(le) FROM job_histograms WHERE name = kind AND le >= seconds)
$$;

-- The jobs already there (a table migrated with its rows), observed as if each had just run.
UPDATE job_histograms h SET n = o.n, total = o.total
  FROM (SELECT seen.name, b.le, count(*) AS n, sum(seen.x) AS total
          FROM (SELECT 'wait' AS name, EXTRACT(EPOCH FROM started_at - submitted_at)::double precision AS x
                  FROM jobs WHERE started_at IS NOT NULL
                UNION ALL
                SELECT 'duration', EXTRACT(EPOCH FROM finished_at - started_at)::double precision
                  FROM jobs WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) seen
          CROSS JOIN LATERAL (SELECT min(le) AS le FROM job_histograms
                               WHERE job_histograms.name = seen.name AND job_histograms.le >= seen.x) b
         GROUP BY seen.name, b.le) o
 WHERE h.name = o.name AND h.le = o.le;

CREATE FUNCTION jobs_inserted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE job_counts c SET n = c.n + d.n
      FROM (SELECT status, count(*) AS n FROM new_rows GROUP BY status) d WHERE c.status = d.status;
    -- a bulk load of jobs that already ran (a new job is queued: nothing to observe)
    UPDATE job_histograms h SET n = h.n + o.n, total = h.total + o.total
      FROM (SELECT seen.name, b.le, count(*) AS n, sum(seen.x) AS total
              FROM (SELECT 'wait' AS name, EXTRACT(EPOCH FROM started_at - submitted_at)::double precision AS x
                      FROM new_rows WHERE started_at IS NOT NULL
                    UNION ALL
                    SELECT 'duration', EXTRACT(EPOCH FROM finished_at - started_at)::double precision
                      FROM new_rows WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) seen
              CROSS JOIN LATERAL (SELECT min(le) AS le FROM job_histograms
                                   WHERE job_histograms.name = seen.name AND job_histograms.le >= seen.x) b
             GROUP BY seen.name, b.le) o
     WHERE h.name = o.name AND h.le = o.le;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_inserted AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_inserted();

CREATE FUNCTION jobs_deleted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE job_counts c SET n = c.n - d.n
      FROM (SELECT status, count(*) AS n FROM old_rows GROUP BY status) d WHERE c.status = d.status;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_deleted AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_deleted();

CREATE FUNCTION jobs_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        -- The two counters in one order (by name) whichever way a job moves, so two
        -- transactions never each hold one and wait for the other.
        UPDATE job_counts SET n = n + CASE WHEN status = NEW.status THEN 1 ELSE -1 END
         WHERE status = least(OLD.status, NEW.status);
        UPDATE job_counts SET n = n + CASE WHEN status = NEW.status THEN 1 ELSE -1 END
         WHERE status = greatest(OLD.status, NEW.status);
    END IF;
    IF OLD.started_at IS NULL AND NEW.started_at IS NOT NULL THEN  -- claimed
        PERFORM job_observe('wait', EXTRACT(EPOCH FROM NEW.started_at - NEW.submitted_at)::double precision);
    END IF;
    IF OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.started_at IS NOT NULL THEN  -- ran, ended
        PERFORM job_observe('duration', EXTRACT(EPOCH FROM NEW.finished_at - NEW.started_at)::double precision);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_changed AFTER UPDATE OF status, started_at, finished_at ON jobs FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW.started_at IS DISTINCT FROM OLD.started_at
          OR NEW.finished_at IS DISTINCT FROM OLD.finished_at)
    EXECUTE FUNCTION jobs_changed();
