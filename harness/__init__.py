"""What the tests and the benchmarks both drive: real child processes (gunicorn, the job
worker, nginx, PostgreSQL) on 127.0.0.1 and free ports, and quickly built model stores.
Not part of the installed package."""
