"""Who may connect, and how many at once: what the server's ports refuse, and why.

Loopback only until told whom to trust (``--allow``); a cap on the connections of every port,
the Event Socket one from the descriptor limit, past which a connection is accepted and closed
at once; an idle connection gives way to a new one (:class:`Waiting`); one address holds only
so many places (:func:`calls_per_peer`); a failing ``accept()`` rests the listener
(:class:`RestingAccept`). The rules and why: docs/security.md, "Who may connect, and what a
peer can change".
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar, cast

log = logging.getLogger("flowengine.server")

T = TypeVar("T", bound=Hashable)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: what ``--allow`` is without one: the peers on this machine
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
#: ``--allow any``
ANY: tuple[Network, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))

#: descriptors kept for what is not a call: stdin/out/err, the two listening sockets, the
#: event loop's own, the HTTP worker's socket and a reload's pipes, a flow file being read
RESERVED_FDS = 64
#: connections the metrics port holds at once (Prometheus and a health check need two)
METRICS_CONNECTIONS = 32
#: … of them from one peer address, so one scraper cannot take the rest's place
METRICS_PER_PEER = 8

#: accept() errors that say the process or the system is out of something: accepting again
#: at once would only fail again, so the listener rests instead of spinning on them
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: how long a listener rests after such an error (doubled each time, up to the most)
_REST_SECONDS, _REST_MOST = 0.05, 1.0
#: peer address strings whose parsed form is kept (least recently seen dropped first)
_PEERS_CACHED = 256


@functools.lru_cache(maxsize=_PEERS_CACHED)
def peer_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer's address as an allow list compares it: an IPv4-mapped IPv6 address
    (``::ffff:10.0.0.5``, what a dual-stack listener reports) as its IPv4 one. Kept for
    the last :data:`_PEERS_CACHED` peers: parsing costs more than the rest of a connection's
    check, and the same few FreeSWITCH hosts connect again and again."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def allowed(host: str, networks: Iterable[Network]) -> bool:
    """Whether the peer ``host`` is in one of ``networks`` (an unreadable address is not)."""
    ip = peer_ip(host)
    return ip is not None and any(ip in net for net in networks)


def is_loopback(host: str) -> bool:
    """Whether a listening address takes connections from this machine only."""
    if host in ("localhost",):
        return True
    ip = peer_ip(host)
    return ip is not None and ip.is_loopback


def descriptor_limit() -> int | None:
    """The process's soft ``RLIMIT_NOFILE`` (None where there is none to read)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def max_calls_for(limit: int, per_call: int = 1) -> int:
    """Calls one process can hold with ``limit`` descriptors: each call's socket (and its
    transcript file with ``--record``: ``per_call`` 2), after :data:`RESERVED_FDS` and the
    metrics port's :data:`METRICS_CONNECTIONS`. At least 1."""
    return max(1, (limit - RESERVED_FDS - METRICS_CONNECTIONS) // max(1, per_call))


def calls_per_peer(max_calls: int | None, allow: Iterable[Network]) -> int | None:
    """``--max-calls-per-peer`` when not given: all of ``max_calls`` when ``allow`` holds
    one address (no other can connect), else all but an eighth, so that one address
    holding all it may still leaves places to the others (an idle one, say, that poses as
    FreeSWITCH and holds every call it gets). None: no cap."""
    if max_calls is None:
        return None
    if sum(net.num_addresses for net in allow) <= 1:
        return max_calls
    return max(1, max_calls - max_calls // 8)


class Refusals:
    """Counts one kind of refused connection and logs it at most once per ``every``
    seconds (with how many were refused meanwhile): a flood of refusals must not become
    a flood of log lines."""

    def __init__(self, what: str, every: float = 1.0, counter: Any = None, verb: str = "refused") -> None:
        self.what = what  # "not in --allow" …: the line's reason
        self.verb = verb  # what was done: "refused", "cut" …
        self.every = every
        self.counter = counter  # a prometheus Counter (child), or None
        self.total = 0
        self._quiet = 0
        self._last = float("-inf")

    def refused(self, peer: str) -> None:
        self.total += 1
        if self.counter is not None:
            self.counter.inc()
        now = time.monotonic()
        if now - self._last < self.every:
            self._quiet += 1
            return
        more = f" (and {self._quiet} more since the last such line)" if self._quiet else ""
        self._last, self._quiet = now, 0
        log.warning("%s %s: %s%s", self.verb, peer, self.what, more)


class RestingAccept:
    """Mixed into a gevent ``StreamServer``: an ``accept()`` that fails for want of
    descriptors (EMFILE) or memory rests the listener a moment, with one log line per
    second, instead of gevent's traceback on every try. The connections wait in the
    kernel's queue meanwhile and are taken once something is freed."""

    _rest_timer: Any = None
    _rest = _REST_SECONDS
    _exhausted_logged = float("-inf")

    # what the gevent server this is mixed into has (annotations only: no attribute here)
    address: Any
    loop: Any
    started: bool
    closed: bool
    stop_accepting: Callable[[], None]
    start_accepting: Callable[[], None]

    def do_read(self) -> Any:
        try:
            result = cast(Any, super()).do_read()  # the gevent server's, after this in the MRO
        except OSError as exc:
            if exc.errno not in _EXHAUSTED:
                raise
            self._rest_a_moment(exc)
            return None
        self._rest = _REST_SECONDS
        return result

    def _rest_a_moment(self, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._exhausted_logged >= 1.0:
            self._exhausted_logged = now
            host, port = self.address[:2]
            log.error(
                "cannot accept on %s:%d: %s; resting %.2f s (raise the descriptor limit, "
                "LimitNOFILE=, or lower --max-calls)",
                host,
                port,
                exc.strerror,
                self._rest,
            )
        self.stop_accepting()
        if self._rest_timer is not None:
            self._rest_timer.stop()
        self._rest_timer = self.loop.timer(self._rest)
        self._rest_timer.start(self._wake)
        self._rest = min(_REST_MOST, self._rest * 2)

    def _wake(self) -> None:
        self._rest_timer = None
        if self.started and not self.closed:
            self.start_accepting()


class Waiting(Generic[T]):
    """Connections that may not be calls yet (they have not answered ``connect``), by peer
    address, each peer's oldest first. When the server is full, :meth:`make_room` picks
    the one that gives its place to a new connection: the oldest of the peer holding the
    most, if that is another peer than the newcomer's; if it is the newcomer's own, its
    oldest only once that has waited long enough (``ready``), else none (the newcomer is
    refused). So a peer that opens connections and says nothing pushes out its own, never
    another peer's that holds fewer; and a peer is never cut off by its own newer calls
    in the milliseconds before they answer. O(1) each, however many peers.

    ``still(item)`` says whether one has still not answered; the others are dropped as
    they are come across (an answer is not reported here)."""

    def __init__(self, still: Callable[[T], bool]) -> None:
        self.still = still
        self._by_peer: dict[str, OrderedDict[T, None]] = {}
        self._peer_of: dict[T, str] = {}
        self._counts: dict[int, dict[str, None]] = {}  # how many a peer holds -> those peers
        self._most = 0

    def __len__(self) -> int:
        return len(self._peer_of)

    def __iter__(self):
        return iter(list(self._peer_of))

    def add(self, peer: str, item: T) -> None:
        """A new connection from ``peer``; the peer's oldest ones that have answered since
        are dropped on the way (two at most: each is dropped once, so O(1) over time)."""
        for _ in range(2):
            items = self._by_peer.get(peer)
            if not items:
                break
            oldest = next(iter(items))
            if self.still(oldest):
                break
            self.discard(oldest)
        items = self._by_peer.setdefault(peer, OrderedDict())
        self._move(peer, len(items), len(items) + 1)
        items[item] = None
        self._peer_of[item] = peer

    def discard(self, item: T) -> None:
        peer = self._peer_of.pop(item, None)
        if peer is None:
            return
        items = self._by_peer[peer]
        del items[item]
        self._move(peer, len(items) + 1, len(items))
        if not items:
            del self._by_peer[peer]

    def take_own(self, peer: str, ready: Callable[[T], bool]) -> T | None:
        """``peer``'s oldest connection that has still not answered, if it is ``ready``
        (taken out), else None: what gives way to ``peer``'s new one at its own cap."""
        items = self._by_peer.get(peer)
        while items:
            item = next(iter(items))
            if self.still(item):
                if not ready(item):
                    return None
                self.discard(item)
                return item
            self.discard(item)
            items = self._by_peer.get(peer)
        return None

    def make_room(self, newcomer: str, ready: Callable[[T], bool]) -> T | None:
        """The one to close for a connection from ``newcomer`` (taken out), or None."""
        while self._most:
            own = self._by_peer.get(newcomer)
            if own is not None and len(own) >= self._most:
                peer = newcomer
            else:
                peer = next(iter(self._counts[self._most]))
            item = next(iter(self._by_peer[peer]))
            if not self.still(item):
                self.discard(item)
                continue
            if peer == newcomer and not ready(item):
                return None
            self.discard(item)
            return item
        return None

    def _move(self, peer: str, before: int, after: int) -> None:
        if before:
            peers = self._counts[before]
            del peers[peer]
            if not peers:
                del self._counts[before]
                if self._most == before and after < before:
                    self._most = after
        if after:
            self._counts.setdefault(after, {})[peer] = None
            self._most = max(self._most, after)
