"""Pictures of a model version (training curve, decision regions), drawn once, kept, and
never drawn at the expense of predictions.

A version's file never changes, so a picture of (model, version, kind, plane) is drawn on
first request and kept in a folder every worker of the service reads (``PictureCache``),
the most recently used ``size`` of them.

Drawing must not take a sync worker away from predictions: a few clients asking for
pictures of random planes would otherwise keep the workers drawing
(``benchmarks.pictures_vs_predict`` measures it). So a request for a picture not yet drawn
never waits for it: it is answered 429 with ``Retry-After`` (the pages wait and ask again)
while one painter thread draws it in the background at the lowest CPU priority. One
picture is drawn at a time in the whole service (its workers share a lock file), and in at
most a quarter of the time (``DUTY``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from service.errors import Busy, ServiceError

log = logging.getLogger("tinymlp.pictures")

DUTY = 0.25  # the most of the time that drawing may take
SERVICE_KEY = os.getppid()  # gunicorn's master: shared by this service's workers, its own per service


def _runtime_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"tinymlp-pictures-{os.getuid()}-{SERVICE_KEY}"


class DrawingSlot:
    """One drawing at a time across the processes of one service, in at most ``duty`` of the
    time. ``try_take()`` is non-blocking: None when the slot is not free, else a release
    function to call when the drawing is done."""

    def __init__(self, path: Path | None = None, duty: float = DUTY):
        self.path = path or _runtime_dir() / "drawing.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.duty = duty
        self._local = threading.Lock()
        self._closed_until = 0.0  # known from the last look: no need to ask the lock file before then

    def try_take(self) -> Callable[[], None] | None:
        now = time.time()
        if now < self._closed_until or not self._local.acquire(blocking=False):
            return None
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self._local.release()
            self._closed_until = now + 0.005  # a drawing takes some milliseconds at least
            return None
        # The lock file holds the time the next drawing may start.
        opens = float(os.pread(fd, 32, 0) or 0)
        if opens > now:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self._local.release()
            self._closed_until = opens
            return None
        started = now

        def release() -> None:
            took = time.time() - started
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{time.time() + took * (1 / self.duty - 1):.6f}".encode(), 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self._local.release()

        return release


class PictureCache:
    """Pictures as files shared by the service's workers; drawn in the background when missing."""

    def __init__(self, size: int = 512, slot: DrawingSlot | None = None, folder: Path | None = None):
        self.size = size
        self.slot = slot or DrawingSlot()
        self.folder = folder or _runtime_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._painter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="painter", initializer=_lowest_priority)
        self.draws = 0

    def _path(self, key) -> Path:
        return self.folder / (hashlib.sha256(repr(key).encode()).hexdigest()[:32] + ".pic")

    def get(self, key, draw: Callable[[], tuple[bytes, dict]]) -> tuple[bytes, dict]:
        """(png, headers) if drawn; else Busy (429), after starting its drawing if the slot is free.
        A picture that could not be drawn raises what its drawing raised (a ServiceError), once."""
        path = self._path(key)
        with suppress(FileNotFoundError), open(path, "rb") as f:
            head = json.loads(f.readline())
            return f.read(), head
        with suppress(FileNotFoundError):
            failed = json.loads(path.with_suffix(".err").read_text())
            path.with_suffix(".err").unlink(missing_ok=True)
            error = ServiceError(failed["message"])
            error.status = failed["status"]
            raise error
        release = self.slot.try_take()
        if release is None:
            raise Busy("Another picture is being drawn; ask again in a second.", retry_after=1)
        self._painter.submit(self._draw, path, draw, release)
        raise Busy("The picture is being drawn; ask again in a second.", retry_after=1)

    def _draw(self, path: Path, draw, release) -> None:
        try:
            png, headers = draw()
            tmp = path.with_suffix(f".{os.getpid()}.part")
            tmp.write_bytes(json.dumps(headers).encode() + b"\n" + png)
            os.replace(tmp, path)
            self.draws += 1
            self._evict()
        except Exception as e:  # the next request for it says why
            failure = {"status": e.status, "message": e.message} if isinstance(e, ServiceError) else {
                "status": 500, "message": "The picture could not be drawn; the service log says why."}
            if failure["status"] == 500:
                log.exception("drawing %s failed", path.name)
            path.with_suffix(".err").write_text(json.dumps(failure))
        finally:
            release()

    def _evict(self) -> None:
        pictures = sorted(self.folder.glob("*.pic"), key=lambda p: p.stat().st_mtime)
        for old in pictures[: max(0, len(pictures) - self.size)]:
            old.unlink(missing_ok=True)


def _lowest_priority() -> None:
    """The painter thread yields the CPU to everything else (made once: raising a priority
    back needs a privilege the service does not have)."""
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
