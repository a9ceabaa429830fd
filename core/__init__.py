"""What every tinymlp process shares: the settings (each ``TINYMLP_*`` variable declared
once), the model store and its typed records, the job table (SQLite or PostgreSQL).

``trainer`` (the batch trainer and the job worker) and ``service`` (the HTTP service) both
build on this package and never on each other; it knows nothing of Flask or of training.
"""
