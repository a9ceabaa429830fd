"""gunicorn settings for tinymlp; flags on the command line override them.

    gunicorn -c docker/gunicorn.conf.py service.wsgi:app
"""

import os
import shutil
import tempfile

bind = os.environ.get("TINYMLP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("TINYMLP_WORKERS", "2"))
worker_class = "sync"
timeout = int(os.environ.get("TINYMLP_WORKER_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("TINYMLP_GRACEFUL_TIMEOUT", "20"))  # SIGTERM lets requests finish
keepalive = 5
accesslog = None  # the app logs one line per request itself, with its request id
errorlog = "-"
loglevel = os.environ.get("TINYMLP_LOG_LEVEL", "info").lower()
preload_app = False  # each worker loads the models and runs its own reloader thread

# One BLAS thread per worker: the workers are the parallelism. A threaded BLAS in every
# worker oversubscribes the cores (and its threads spin while waiting): on 2 cores with 2
# workers, 10,000-row requests went from ~450,000 to ~1,000,000 rows/s with this.
# Set before any worker imports numpy; a value given in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Prometheus multiprocess mode: every worker writes its samples under this folder and
# /metrics adds them up. It must be set before any worker imports prometheus_client.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="tinymlp-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    # Samples of a previous run would be added to this one's.
    for name in os.listdir(_metrics_dir):
        path = os.path.join(_metrics_dir, name)
        if os.path.isfile(path):
            os.unlink(path)


def post_worker_init(worker):
    # The app and its models are loaded: move them out of the collector's view, so the
    # collections requests trigger do not rescan them each time.
    import gc

    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir.startswith(tempfile.gettempdir()) and "tinymlp-metrics-" in _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
