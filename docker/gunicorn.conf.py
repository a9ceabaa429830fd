"""gunicorn settings for tinymlp; flags on the command line override them.

    gunicorn -c docker/gunicorn.conf.py service.wsgi:app

Every TINYMLP_* setting is checked here, in the master, before any worker boots: a value
that cannot work is one line on stderr and exit status 1, not a worker crash loop. Sync
workers are only safe behind a buffering proxy (see the README); ``docker-compose.yml``
puts nginx in front.
"""

import json
import os
import shutil
import sys
import tempfile

from gunicorn import util

from core import settings

try:
    # Every setting the service reads, checked here in the master (a job database URL that
    # cannot work does not stop serving: /train answers 503 saying why) ...
    settings.check(process="service")
    # ... and gunicorn's own, from their declaration in core.settings.
    _gunicorn = settings.config_class("gunicorn").from_env()
except settings.SettingError as e:
    sys.exit(f"tinymlp: {e}")

bind = _gunicorn.bind
workers = _gunicorn.workers
worker_class = "sync"
timeout = _gunicorn.worker_timeout
graceful_timeout = _gunicorn.graceful_timeout  # SIGTERM lets requests finish
keepalive = 5
accesslog = None  # the app logs one line per request itself, with its request id
errorlog = "-"
loglevel = _gunicorn.log_level.lower()
preload_app = False  # each worker loads the models and runs its own reloader thread
control_socket_disable = True  # gunicornc is not used; its socket would go in $HOME, unwritable in the image
# Bounds on what a request line and headers may be; past them gunicorn answers 400 or 414
# itself (in JSON, below) before the app sees anything.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# One BLAS thread per worker: the workers are the parallelism. A threaded BLAS in every
# worker oversubscribes the cores and its threads spin while waiting
# (benchmarks.serve_wrk's 10,000-row figure measures it). Set before any worker imports
# numpy; a value given in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Prometheus multiprocess mode: every worker writes its samples under this folder and
# /metrics adds them up. It must be set before any worker imports prometheus_client.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="tinymlp-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def _json_error(sock, status_int, reason, mesg):
    """gunicorn's own answers to requests it cannot parse (400, 414, 431...), in the service's
    JSON error format instead of HTML."""
    message = f"{reason}: {mesg}" if mesg else reason
    if len(message) > 200:
        message = message[:200] + "..."
    body = json.dumps({"code": status_int, "message": message, "request_id": None}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


util.write_error = _json_error


def on_starting(server):
    for name in settings.unknown():
        server.log.warning("tinymlp: %s is not a setting tinymlp reads; is it a typo?", name)
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


def worker_exit(server, worker):
    # The worker's resources (the registry's reload thread, the job table's connections) close
    # as it exits: a PostgreSQL server sees its sessions end rather than drop.
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from service import extensions

        extensions.close(app)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir.startswith(tempfile.gettempdir()) and "tinymlp-metrics-" in _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
