"""A total deadline for one call: connecting, sending, every retry and every byte of the answer.

requests' ``timeout`` bounds each socket operation, not the call: a server that sends a byte
every few seconds, in its headers or its body, keeps a call alive for ever. Here a call runs
inside ``with Deadline(seconds):``; every socket the call connects or reuses is registered
with it (by the connection classes below, which the client's adapter gives urllib3's pools),
and one watchdog thread shuts those sockets down when the deadline passes, which ends any
read or write in progress at once. Retries and their sleeps also stop at the deadline
(``client.transport``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from contextvars import ContextVar

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current: ContextVar[Deadline | None] = ContextVar("tinymlp_deadline", default=None)


def remaining() -> float:
    """Seconds left to the current call (infinite outside one)."""
    deadline = _current.get()
    return float("inf") if deadline is None else max(0.0, deadline.at - time.monotonic())


class Deadline:
    """``seconds`` from now, for the call made inside ``with``; ``expired`` once the watchdog
    has acted (or the time has passed)."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._over = False
        self._token = None
        self._watch_key: int | None = None  # its entry in the watchdog, once a socket is watched

    @property
    def expired(self) -> bool:
        return self._over or time.monotonic() >= self.at

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self._over:
                _shut(sock)
                return
            first = not self._sockets
            self._sockets.append(sock)
        if first:
            _WATCHDOG.add(self)

    def expire(self) -> None:
        with self._lock:
            self._over = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> Deadline:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _current.reset(self._token)
        with self._lock:
            watched, self._sockets = bool(self._sockets), []
        if watched:
            _WATCHDOG.discard(self)


def _shut(sock: socket.socket) -> None:
    # socket.socket's own shutdown, also for a TLS socket: SSLSocket.shutdown drops its TLS
    # state under a read that may be running in the caller's thread.
    with contextlib.suppress(OSError, TypeError):  # already closed: nothing left to stop
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for the process: expires each watched deadline when its time comes."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            key = next(self._ids)
            deadline._watch_key = key
            self._live.add(key)
            while self._heap and self._heap[0][1] not in self._live:
                heapq.heappop(self._heap)  # calls that ended in time (they mostly end in order)
            heapq.heappush(self._heap, (deadline.at, key, deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tinymlp-client-deadlines", daemon=True)
                self._thread.start()
            if deadline.at < self._wake_at:  # calls mostly end in order: the thread seldom needs waking
                self._cond.notify()

    def discard(self, deadline: Deadline) -> None:
        with self._cond:
            self._live.discard(deadline._watch_key)

    def _run(self) -> None:
        while True:
            due = []
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # calls that ended in time
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, key, deadline = heapq.heappop(self._heap)
                    if key in self._live:
                        self._live.discard(key)
                        due.append(deadline)
                if not due:
                    self._wake_at = self._heap[0][0] if self._heap else float("inf")
                    self._cond.wait(None if not self._heap else self._wake_at - now)
                    self._wake_at = float("inf")
            for deadline in due:
                deadline.expire()


_WATCHDOG = _Watchdog()
# A forked child has none of the parent's threads (and maybe a lock held by one): a fresh watchdog.
os.register_at_fork(after_in_child=_WATCHDOG.__init__)


class _Watched:
    """Registers the connection's socket with the current call's deadline, whether it is made
    now or reused from the pool, and connects within the time left."""

    def connect(self) -> None:
        deadline = _current.get()
        if deadline is not None and isinstance(self.timeout, int | float):
            self.timeout = max(0.001, min(self.timeout, deadline.at - time.monotonic()))
        super().connect()
        if deadline is not None:
            deadline.watch(self.sock)

    def request(self, *args, **kwargs) -> None:
        deadline = _current.get()
        if deadline is not None:
            deadline.watch(self.sock)  # a kept-alive connection (None: connect() registers it)
        super().request(*args, **kwargs)


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOLS = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}
