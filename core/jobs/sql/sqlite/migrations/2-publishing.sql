-- The point of no return before publishing, and one running job per model, enforced.
ALTER TABLE jobs ADD COLUMN publishing_at REAL;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_model ON jobs (model) WHERE status = 'running';
