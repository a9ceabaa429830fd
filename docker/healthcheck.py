"""Docker HEALTHCHECK for the image's roles, in exec form (no shell, no curl).

    python3 healthcheck.py          the API: /readyz on this container answers 200
    python3 healthcheck.py worker   the job worker: its alive file was touched lately

The API's port comes from TINYMLP_BIND (host:port); the address asked is always loopback.
The worker touches TINYMLP_WORKER_ALIVE_FILE on every loop and every job heartbeat.
"""

import os
import sys
import time
import urllib.request

from core import settings


def api() -> int:
    port = settings.read("TINYMLP_BIND").rpartition(":")[2]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return 0 if r.status == 200 else 1
    except OSError as e:
        print(f"not ready: {e}", file=sys.stderr)
        return 1


def worker() -> int:
    path = settings.read("TINYMLP_WORKER_ALIVE_FILE") or ""
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as e:
        print(f"no sign of life: {e}", file=sys.stderr)
        return 1
    return 0 if age <= settings.read("TINYMLP_JOB_STALE_AFTER") else 1


sys.exit(worker() if sys.argv[1:] == ["worker"] else api())
