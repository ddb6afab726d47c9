"""The HTTP client the server performs ``http`` steps with: urllib3, over gevent's sockets.

urllib3 keeps its pools, HTTP/1.1 parsing and TLS hostname checks and is handed gevent's
sockets and TLS context explicitly, with no monkey-patching; every request is bounded (time,
in flight per host and in all, body size, a breaker per host). Why and how:
docs/http.md, "The client".
"""

from __future__ import annotations

import logging
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import gevent
import gevent.socket
import gevent.ssl
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import LocationValueError
from urllib3.util import parse_url

from ..flows.effects import HttpFailure, HttpRequest, HttpResult, shown_url
from .breaker import Breaker

log = logging.getLogger("flowengine.http")

#: methods a retry cannot repeat the effect of (RFC 9110 9.2.2)
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_STATUSES = frozenset({502, 503, 504})
#: the most of a response's Content-Type kept
MAX_CONTENT_TYPE = 1024


class RequestMetrics(Protocol):
    """What counts the requests: the server's metrics, passed in (this package imports no server)."""

    def http_request(self, flow: str, step: str, host: str, outcome: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class HttpLimits:
    """What the client may hold at once."""

    per_host: int = 50  # requests in flight (and pooled connections) per host
    total: int = 500  # requests in flight in all
    max_body: int = 1024 * 1024  # response body bytes
    hosts: int = 100  # pools kept (least recently used dropped)


class _GeventConnection(HTTPConnection):
    def _new_conn(self):  # urllib3's own maps these errors; ours reports them as they are
        sock = gevent.socket.create_connection(
            (self._dns_host, self.port), self.timeout, source_address=self.source_address
        )
        for option in self.socket_options or ():
            sock.setsockopt(*option)
        return sock


class _GeventHTTPSConnection(HTTPSConnection):
    _new_conn = _GeventConnection._new_conn


class _Pool(HTTPConnectionPool):
    ConnectionCls = _GeventConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GeventHTTPSConnection


def tls_context(ca_file: str | None = None) -> gevent.ssl.SSLContext:
    """A context whose sockets are gevent's: certificates and host names verified.

    Not ``gevent.ssl.create_default_context``: that is the standard library's own function
    and makes a standard ``ssl.SSLContext``, whose sockets block the whole loop on every
    read (``tests/test_http_client.py`` catches exactly that)."""
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    else:
        context.load_default_certs()
    return context


class HttpClient:
    """Performs :class:`HttpRequest`\\ s (:meth:`perform`, in the greenlet the driver
    spawned for it). ``metrics`` (the server's, a :class:`RequestMetrics`) counts them."""

    def __init__(
        self,
        limits: HttpLimits = HttpLimits(),
        *,
        ca_file: str | None = None,
        breaker: Breaker | None = None,
        metrics: RequestMetrics | None = None,
    ) -> None:
        self.limits = limits
        self.breaker = breaker or Breaker()
        self.metrics = metrics
        self._tls = tls_context(ca_file)
        self._pools: OrderedDict[str, HTTPConnectionPool] = OrderedDict()  # by scheme://host:port, LRU
        self.in_flight = 0
        self._per_host: dict[str, int] = {}

    def perform(self, request: HttpRequest, call: str = "-") -> HttpResult:
        """The result of ``request``, counted and logged: never raises (a failure is an
        :class:`HttpResult`)."""
        result = self.fetch(request)
        report(request, call, result, self.metrics)
        return result

    def fetch(self, request: HttpRequest) -> HttpResult:
        """The result of ``request``, its reason masked and its time measured, neither
        counted nor logged (the HTTP worker's server process does that, :func:`report`)."""
        started = time.monotonic()
        result = self._guarded(request, request.host, started)
        return HttpResult(
            result.status,
            result.body,
            result.content_type,
            result.failure,
            request.masked(result.reason),
            time.monotonic() - started,
        )

    def _guarded(self, request: HttpRequest, host: str, started: float) -> HttpResult:
        if self.in_flight >= self.limits.total:
            return HttpResult.failed(HttpFailure.ERROR, f"{self.in_flight} requests in flight, the most allowed")
        if self._per_host.get(host, 0) >= self.limits.per_host:
            return HttpResult.failed(
                HttpFailure.ERROR, f"{self.limits.per_host} requests in flight to {host}, the most allowed"
            )
        admission = self.breaker.admit(host)
        if admission is None:
            return HttpResult.failed(
                HttpFailure.ERROR, f"circuit open: {host} failed {self.breaker.threshold} times in a row"
            )
        self.in_flight += 1
        self._per_host[host] = self._per_host.get(host, 0) + 1
        result: HttpResult | None = None  # stays None when the call drops the request (GreenletExit)
        try:
            with gevent.Timeout(request.timeout, False):
                result = self._attempts(request, started)
                return result
            result = HttpResult.failed(HttpFailure.TIMEOUT, f"no complete response within {request.timeout:g} s")
            return result
        finally:
            self.in_flight -= 1
            left = self._per_host[host] - 1
            if left:
                self._per_host[host] = left
            else:
                del self._per_host[host]
            if result is None:  # dropped, not answered: says nothing of the host
                self.breaker.dropped(host, admission)
            elif result.failure is not None or (result.status or 0) >= 500:
                self.breaker.failed(host)
            else:
                self.breaker.succeeded(host)

    def _attempts(self, request: HttpRequest, started: float) -> HttpResult:
        tries = 1 + (request.retries if request.method in IDEMPOTENT else 0)
        result = HttpResult.failed(HttpFailure.ERROR, "not performed")
        for attempt in range(tries):
            result = self._once(request, started)
            retry = result.failure == HttpFailure.ERROR or result.status in _RETRY_STATUSES
            if not retry or attempt == tries - 1 or result.reason.startswith("response over"):
                return result
            pause = 0.1 * 2**attempt
            if time.monotonic() - started + pause >= request.timeout:
                return result
            gevent.sleep(pause)
        return result

    def _once(self, request: HttpRequest, started: float) -> HttpResult:
        left = max(0.001, request.timeout - (time.monotonic() - started))
        response = None
        try:
            pool, target = self._pool(request.url)
            response = pool.urlopen(
                request.method,
                target,
                body=request.body,
                headers=dict(request.headers),
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=Timeout(connect=left, read=left),
            )
            cap = self.limits.max_body
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > cap:
                return self._over(response, cap)
            chunks, size = [], 0
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    return self._over(response, cap)
                chunks.append(chunk)
            response.release_conn()
            # urllib3 joins repeated headers: a server's many Content-Type lines would make one
            # value of hundreds of KB; what the flow needs of it is the media type
            content_type = response.headers.get("Content-Type", "")[:MAX_CONTENT_TYPE]
            status, response = response.status, None
            return HttpResult(status, b"".join(chunks), content_type)
        except gevent.Timeout:
            raise
        except Exception as exc:  # refused, DNS, TLS, reset, a malformed response: the error outcome
            return HttpResult.failed(HttpFailure.ERROR, _reason(exc))
        finally:
            if response is not None:  # not read to the end: the connection cannot be reused
                response.close()
                conn = getattr(response, "connection", None)
                if conn is not None:
                    conn.close()
                response.release_conn()

    def _pool(self, url: str) -> tuple[HTTPConnectionPool, str]:
        """The pool for the URL's scheme, host and port (made on first use, the least
        recently used one closed past ``limits.hosts``), and the path and query to ask it."""
        scheme, _, rest = url.partition("://")
        end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
        origin = f"{scheme.lower()}://{rest[:end]}"
        target = rest[end:].split("#", 1)[0] or "/"
        if not target.startswith("/"):
            target = "/" + target
        pool = self._pools.get(origin)
        if pool is not None:
            self._pools.move_to_end(origin)
            return pool, target
        where = parse_url(origin)
        if where.auth:
            raise ValueError("a URL with user:password@ is not sent: give an Authorization header")
        host = where.host
        if not host:  # "http://", "http:///a": refused as the pool itself would refuse it
            raise LocationValueError("No host specified.")
        if where.scheme == "https":
            pool = _HTTPSPool(
                host,
                where.port or 443,
                maxsize=self.limits.per_host,
                block=False,
                retries=False,
                ssl_context=self._tls,
            )
        else:
            pool = _Pool(host, where.port or 80, maxsize=self.limits.per_host, block=False, retries=False)
        self._pools[origin] = pool
        if len(self._pools) > self.limits.hosts:
            self._pools.popitem(last=False)[1].close()
        return pool, target

    def _over(self, response: Any, cap: int) -> HttpResult:
        return HttpResult.failed(HttpFailure.ERROR, f"response over {cap} bytes (status {response.status})")

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def report(request: HttpRequest, call: str, result: HttpResult, metrics: RequestMetrics | None = None) -> None:
    """A request's one log line and its metrics (``metrics``: the server's, or None). Only the
    request's masked, query-less URL is shown, never a secret."""
    host = request.host
    if metrics is not None:
        metrics.http_request(request.flow, request.step, host, _outcome(result), result.seconds)
    if not log.isEnabledFor(logging.INFO):
        return
    ms = result.seconds * 1000
    path = request.masked(shown_url(request.url)).split(host, 1)[-1] or "/"
    log.info(
        "http call=%s flow=%s step=%s method=%s host=%s path=%s status=%s ms=%d%s",
        call,
        request.flow,
        request.step,
        request.method,
        host,
        path,
        result.summary,
        ms,
        f" reason={result.reason!r}" if result.failure is not None else "",
        extra={"call": call, "flow": request.flow, "step": request.step, "ms": round(ms, 1)},
    )


def _outcome(result: HttpResult) -> str:
    """The outcome label of a request's metrics: ``2xx`` … ``5xx``, ``timeout``, ``error``."""
    if result.failure is not None:
        return result.failure.value
    return f"{result.status // 100}xx" if result.status else "error"


def _reason(exc: BaseException) -> str:
    """A failure in a few words, for the log (urllib3 wraps the cause in its own errors)."""
    cause = exc
    while (inner := cause.__cause__) is not None or ((inner := cause.__context__) is not None and not str(cause)):
        cause = inner
    text = str(cause) or type(cause).__name__
    return f"{type(cause).__name__}: {text}"[:200]
