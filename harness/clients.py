"""Misbehaving clients the tests and the benchmarks set on a server: connections that send a
request slowly and never finish it."""

from __future__ import annotations

import socket
import threading
import time


class SlowClients:
    """Connections that send a request a line (or a byte of body) every half second, forever."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._crawl, args=(i,), daemon=True) for i in range(n)]

    def _crawl(self, i: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                if i % 2:  # headers that never end
                    s.sendall(b"POST /predict/red HTTP/1.1\r\nHost: x\r\n")
                    while not self.stop.wait(0.5):
                        s.sendall(b"X-Slow: 1\r\n")
                else:  # a body that never ends
                    s.sendall(b"POST /predict/red HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 100000\r\n\r\n{")
                    while not self.stop.wait(0.5):
                        s.sendall(b" ")
        except OSError:
            pass  # the server gave up on us: as it should, eventually

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(1.0)  # every connection is open and crawling
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
