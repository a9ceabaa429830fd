"""Sending one call and reading its answer, safely: the bytes over HTTP, before any meaning.

- Retries are urllib3's ``Retry`` in requests' ``HTTPAdapter``, on two sessions: one for calls
  that change nothing (reads and predictions: a connection that could not be made, a read that
  failed and 502/503/504 are tried again, honouring ``Retry-After`` up to a cap), one for calls
  that change something (a job submission, a cancel: tried again only if the connection could
  not be made at all, since then nothing was sent; never sent twice).
- A total deadline per call (``client.deadline``), retries, sleeps and a trickling answer included.
- A cap on the answer's size, read as a stream: a huge answer is refused when the cap is
  reached, not after it has filled the memory.
- Redirects: a call that changes something never follows one (a 302 or 308 to another host
  would replay it there, or turn it into a GET that "succeeds"); a read follows redirects
  within the same scheme, host and port only.
- A failure is classified by its exception's type (never its text) into one line that names
  the URL: ``client.errors.Unavailable`` when no answer came.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as TLSError
from urllib3.util.retry import Retry

from client import deadline as deadlines
from client.errors import ClientError, TooLargeAnswer, Unavailable
from client.text import printable

RETRY_STATUSES = (502, 503, 504)
RETRY_AFTER_CAP = 10.0  # seconds: a Retry-After longer than this is not waited out in full
BACKOFF = 0.25  # seconds, doubled at each retry after the second (urllib3's backoff_factor)
MAX_ANSWER_BYTES = 64 * 2**20
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Answer:
    """What came back, whole: status, reason, headers, the body's bytes and the URL that answered."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    url: str


class DeadlineRetry(Retry):
    """urllib3's Retry that stops at the call's deadline and caps what ``Retry-After`` asks."""

    RETRY_AFTER_STATUS_CODES = frozenset(RETRY_STATUSES)  # not 413 or 429: those are answers to report

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            asked = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # a value that is no delay: the usual backoff
        return min(asked, RETRY_AFTER_CAP, deadlines.remaining())

    def get_backoff_time(self) -> float:
        return min(super().get_backoff_time(), deadlines.remaining())

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or deadlines.remaining() <= 0


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose pools make connections that the call's deadline can stop."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = deadlines.POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # a SOCKS proxy has pool classes of its own
            manager.pool_classes_by_scheme = deadlines.POOLS
        return manager


def session(url: str, retries: int, *, idempotent: bool, user_agent: str) -> requests.Session:
    """A keep-alive session to the service at ``url``, whose retries suit calls that change
    nothing (``idempotent``) or calls that do (only a connection that could not be made is
    tried again)."""
    again = retries if idempotent else 0
    retry = DeadlineRetry(total=retries, connect=retries, read=again, status=again, other=again,
                          allowed_methods=None,  # which calls are safe is decided by the session, not the verb
                          status_forcelist=RETRY_STATUSES if idempotent else (), backoff_factor=BACKOFF,
                          raise_on_status=False, raise_on_redirect=False)
    s = requests.Session()
    adapter = WatchedAdapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = user_agent
    # requests reads the environment (proxies, CA bundle, ~/.netrc) afresh on every call, which
    # took about a third of the client's time per one-row prediction; for one service, once.
    s.trust_env = False
    s.proxies = requests.utils.get_environ_proxies(url)
    s.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return s


class Transport:
    """Both sessions, the deadline and the cap on answers: ``send`` returns an ``Answer`` or
    raises a ClientError that says, in one line, why no usable answer came."""

    def __init__(self, url: str, *, retries: int, timeout: float, max_answer_bytes: int, user_agent: str):
        if isinstance(timeout, bool) or not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
            raise ValueError(f"the timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(max_answer_bytes, bool) or not (isinstance(max_answer_bytes, int) and max_answer_bytes > 0):
            raise ValueError(f"the largest answer taken must be a positive number of bytes, got {max_answer_bytes!r}")
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self.reads = session(url, retries, idempotent=True, user_agent=user_agent)
        self.writes = session(url, retries, idempotent=False, user_agent=user_agent)

    def close(self) -> None:
        self.reads.close()
        self.writes.close()

    def send(self, method: str, url: str, *, idempotent: bool, headers: dict, json=None, params=None) -> Answer:
        s = self.reads if idempotent else self.writes
        with deadlines.Deadline(self.timeout) as deadline:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    resp = s.request(method, url, json=json, params=params, headers=headers, stream=True,
                                     allow_redirects=False, timeout=(self.timeout, self.timeout))
                except requests.RequestException as e:
                    raise self._failure(e, url, deadline, headers) from None
                target = self._redirect(resp, method, url, idempotent, headers)
                if target is None:
                    return Answer(resp.status_code, resp.reason or "", resp.headers,
                                  self._read(resp, url, deadline, headers), resp.url)
                url, params = target, None  # the Location is the whole address
        raise ClientError(f"{url} redirected more than {MAX_REDIRECTS} times; not followed further",
                          url=url, request_id=headers.get("X-Request-ID"))

    # -- redirects ---------------------------------------------------------------------

    @staticmethod
    def _redirect(resp: requests.Response, method: str, url: str, idempotent: bool, headers: dict) -> str | None:
        """The address to follow, None if this is the answer, or a ClientError saying why not."""
        if resp.status_code not in REDIRECTS or "Location" not in resp.headers:
            return None
        target = urljoin(url, resp.headers["Location"])
        resp.close()
        said = f"{method} {url} was redirected ({resp.status_code}) to {printable(target)}"
        if not idempotent:
            why = "a call that changes something is never sent on to another address"
        elif _origin(target) != _origin(url):
            why = "another host (or scheme, or port) than the service's; give the service's own address"
        elif method != "GET" and resp.status_code not in (307, 308):
            why = f"a {resp.status_code} would turn it into a GET without its body"
        else:
            return target
        raise ClientError(f"{said}: not followed, {why}", status=resp.status_code, url=url,
                          request_id=headers.get("X-Request-ID"))

    # -- the answer's body ---------------------------------------------------------------

    def _read(self, resp: requests.Response, url: str, deadline: deadlines.Deadline, headers: dict) -> bytes:
        cap, request_id = self.max_answer_bytes, headers.get("X-Request-ID")
        declared = resp.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > cap:
            resp.close()
            raise TooLargeAnswer(f"{url} answered {_mib(int(declared))} MiB, more than the client takes "
                                 f"({_mib(cap)} MiB; raise max_answer_bytes to take more)",
                                 status=resp.status_code, url=url, request_id=request_id)
        parts, size = [], 0
        try:
            for chunk in resp.iter_content(CHUNK):  # decoded: a compressed answer counts as it unpacks
                size += len(chunk)
                if size > cap:
                    raise TooLargeAnswer(f"{url} answered more than the client takes ({_mib(cap)} MiB; raise "
                                         "max_answer_bytes to take more)", status=resp.status_code, url=url,
                                         request_id=request_id)
                if deadline.expired:
                    raise self._late(url, request_id)
                parts.append(chunk)
        except requests.RequestException as e:
            raise self._failure(e, url, deadline, headers) from None
        finally:
            resp.close()  # after a whole answer, the connection is back in the pool already
        if deadline.expired:  # the watchdog's shutdown can look like the end of headers or body: not an answer
            raise self._late(url, request_id)
        return b"".join(parts)

    # -- why no answer came --------------------------------------------------------------

    def _late(self, url: str, request_id: str | None) -> Unavailable:
        return Unavailable(f"{url} did not answer in full within {self.timeout:g} s (the client's timeout)",
                           url=url, request_id=request_id)

    def _failure(self, e: Exception, url: str, deadline: deadlines.Deadline, headers: dict) -> ClientError:
        request_id = headers.get("X-Request-ID")
        if deadline.expired:
            return self._late(url, request_id)
        causes = list(_causes(e))

        def first(*types):
            return next((c for c in causes if isinstance(c, types)), None)

        # The operating system's own words for a socket error (requests' exceptions are OSErrors too).
        os_error = next((c for c in causes if isinstance(c, OSError) and not isinstance(c, requests.RequestException)
                         and c.strerror), None)
        said = f" ({printable(os_error.strerror)})" if os_error is not None else ""
        if first(NameResolutionError):
            why = f"the host name {urlsplit(url).hostname!r} cannot be resolved"
        elif first(ConnectionRefusedError):
            why = "connection refused (is the service running there?)"
        elif first(NewConnectionError) and not first(TimeoutError):
            why = "the connection could not be made" + said.lower()
        elif first(ConnectTimeoutError, requests.ConnectTimeout):
            why = f"no connection within {self.timeout:g} s"
        elif first(TLSError, requests.exceptions.SSLError):
            why = "the TLS handshake failed" + said
        elif first(ReadTimeoutError, requests.ReadTimeout, TimeoutError):
            return Unavailable(f"{url} did not answer within {self.timeout:g} s", url=url, request_id=request_id)
        elif first(requests.exceptions.ChunkedEncodingError, ProtocolError, ConnectionError):
            return Unavailable(f"the connection to {url} closed before the whole answer came", url=url,
                               request_id=request_id)
        elif first(requests.exceptions.ContentDecodingError):
            return ClientError(f"{url} sent an answer that could not be decompressed", url=url,
                               request_id=request_id)
        elif first(requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                   requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader):
            return ClientError(f"cannot call {printable(url)}: {printable(e)}", url=url, request_id=request_id)
        else:
            why = type(e).__name__
        return Unavailable(f"could not reach {url}: {why}", url=url, request_id=request_id)


def _causes(e: BaseException) -> Iterator[BaseException]:
    """``e`` and every exception it wraps (requests wraps urllib3's, which wrap the OS's)."""
    seen, todo = set(), [e]
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        yield x
        todo += [c for c in (*getattr(x, "args", ()), getattr(x, "reason", None), x.__cause__, x.__context__)
                 if isinstance(c, BaseException)]


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _mib(n: int) -> str:
    return f"{n / 2**20:.4g}"
