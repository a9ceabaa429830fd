"""One BLAS thread for training processes, unless the environment says otherwise.

tinymlp's networks are small: a threaded BLAS spends more time waking and spinning its
threads than multiplying, and several processes on one host (job workers, the API's gunicorn
workers, a `make train`) each with a thread per core oversubscribe the cores
(benchmarks.jobs_throughput: two workers ran at under half the rate of one; a `make train`
beside a busy service took 30 times as long). A thread count given in the environment wins.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    if not any(os.environ.get(v) for v in THREAD_VARIABLES):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
