"""The TCP server FreeSWITCH's ``socket`` application connects to: its listener, start and shutdown.

Flow calls run on the event loop without a greenlet each (:mod:`.flow_calls`, :mod:`.evented`);
a custom ``handler`` gets a greenlet and a blocking :class:`OutboundSession` (:mod:`.handler_calls`).
A call's failure ends that call only. Who may connect and how many at once (``allow``,
``max_calls``, ``max_calls_per_peer``) is :mod:`.admission`'s; on shutdown the server stops
accepting, lets calls finish for a while, then hangs up the rest. Why: docs/security.md, "Who
may connect, and what a peer can change"; docs/operations.md, "Signals".
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable

import gevent
from gevent import socket as gsocket
from gevent.event import Event as Flag
from gevent.server import StreamServer
from greenlet import greenlet

from ..call import Timeouts
from ..esl import Limits
from ..esl.budget import server_budget
from ..flows.flowset import FlowSet
from ..flows.steps import KINDS
from ..http.inprocess import performer
from ..http.supervisor import HttpSupervisor
from .admission import Admission
from .evented import DEFAULT_BUDGET_BYTES
from .flow_calls import FlowCalls
from .guard import LOOPBACK, RestingAccept, descriptor_limit, max_calls_for
from .handler_calls import Handler, HandlerCalls

log = logging.getLogger("flowengine.server")


def uses_http(flowset: FlowSet) -> bool:
    """Whether any flow of ``flowset`` has an ``http`` step."""
    return any(KINDS[step.kind].makes_requests for flow in flowset.flows.values() for step in flow.steps.values())


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _rss_kb() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _reuse_port_listener(listen: tuple[str, int]) -> socket.socket:
    """A listening socket other processes may bind too (SO_REUSEPORT): the kernel spreads
    new connections over every worker listening on the port."""
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_STREAM)  # gevent's: accept must not block the hub
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(listen)
    sock.listen(1024)
    return sock


def parse_networks(specs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(spec, strict=False) for spec in specs]


#: when the server is full, a peer's connection that has not answered ``connect`` for this
#: long gives its place to the same peer's new one (another peer's new one takes the place
#: of the oldest silent connection of the peer holding the most, at once: .guard.Waiting).
#: FreeSWITCH answers at once (mod_event_socket.c: the ``socket`` application sends the
#: channel data as it reads ``connect``), so only an idle connection is that slow
PENDING_GRACE = 2.0


class _Listener(RestingAccept, StreamServer):
    """The calls' listening socket; rests on EMFILE instead of spinning (:mod:`.guard`)."""


class CallServer:
    """Serves ``flows()`` (the flow set in force for a new call) or, for a program of
    its own, ``handler(session)`` in a greenlet per call."""

    def __init__(
        self,
        listen: tuple[str, int],
        handler: Handler | None = None,
        *,
        flows: Callable[[], FlowSet] | None = None,
        allow: list[Network] | None = None,
        drain_seconds: float = 30.0,
        max_calls: int | None = None,
        limits: Limits = Limits(),
        timeouts: Timeouts = Timeouts(),
        event_format: str = "plain",
        recorder=None,
        metrics=None,
        reuse_port: bool = False,
        buffered_bytes: int = DEFAULT_BUDGET_BYTES,
        http=None,
        failover: bool = False,
        failover_key: bytes | None = None,
        originate_key: bytes | None = None,
        max_calls_per_peer: int | None = None,
    ) -> None:
        if (handler is None) == (flows is None):
            raise TypeError("CallServer serves either flows= or a handler")
        self.handler = handler
        self.flows = flows
        self.metrics = metrics  # a Metrics, or None
        # what all this server's calls together may hold of unparsed input (--max-buffered-bytes),
        # and an eighth more for the connections that have not answered connect, in a pool of
        # their own (BufferBudget.preconnect): however many, they can end no call
        self.budget = server_budget(buffered_bytes, limits.max_preconnect_bytes or 0)
        self.recorder = recorder  # a Recorder, or None
        # what the flows' http steps are performed with: one pool set and breaker per server,
        # in its HTTP worker process (flowengine.http.supervisor.HttpSupervisor, run.py's) or in process
        if http is None and flows is not None:
            from ..http import HttpClient

            http = HttpClient(metrics=metrics)
        self.http = performer(http)
        # None or []: the peers on this machine only (a --listen beyond loopback needs --allow)
        self.allow = allow = list(allow) if allow else list(LOOPBACK)
        self.drain_seconds = drain_seconds
        self.failover = failover  # checkpoints on the channel; shutdown hands calls over
        self.failover_key = failover_key
        self.fd_limit = descriptor_limit()
        if max_calls is None and self.fd_limit is not None:  # a transcript file per call too
            max_calls = max_calls_for(self.fd_limit, 2 if recorder is not None else 1)
        self.max_calls = max_calls
        self.admission = Admission(allow, max_calls, max_calls_per_peer, grace=PENDING_GRACE, metrics=metrics)
        self.max_calls_per_peer = self.admission.max_calls_per_peer
        admission = self.admission  # what it refused, for the tests and the status
        self.refused_peer, self.refused_full = admission.refused_peer, admission.refused_full
        self.refused_peer_full, self.idle_closed = admission.refused_peer_full, admission.idle_closed
        self.limits = limits
        self.timeouts = timeouts
        self.event_format = event_format
        self.handlers = HandlerCalls(
            handler,
            self._ended,
            limits=limits,
            timeouts=timeouts,
            event_format=event_format,
            recorder=recorder,
            metrics=metrics,
        )
        self.sessions = self.handlers.sessions
        self.flow_calls = FlowCalls(
            flows,
            self.admission,
            self._ended,
            limits=limits,
            timeouts=timeouts,
            event_format=event_format,
            recorder=recorder,
            metrics=metrics,
            http=self.http,
            failover=failover,
            failover_key=failover_key,
            originate_key=originate_key,
        )
        self.calls = self.flow_calls.calls
        self.calls_total = 0
        listener = _reuse_port_listener(listen) if reuse_port else listen
        # in the hub: a flow call only registers its socket with the loop, no greenlet is
        # spawned; a refused connection is closed there and then
        self._server = _Listener(listener, self._accept, spawn=None)
        self._stopping = Flag()
        self._force = Flag()

    def _active(self) -> int:
        return len(self.handlers.pool) + len(self.calls)

    def status(self) -> dict[str, int]:
        """What a leak would show (kill -USR1 logs it): calls, greenlets, open descriptors, RSS."""
        greenlets = sum(1 for o in gc.get_objects() if isinstance(o, greenlet))
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = -1
        return {
            "calls_active": self._active(),
            "calls_total": self.calls_total,
            "greenlets": greenlets,
            "fds": fds,
            "rss_kb": _rss_kb(),
        }

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    def healthy(self) -> bool:
        """Accepting calls: started and not draining."""
        return self._server.started and not self._stopping.is_set()

    def start(self) -> None:
        self._server.start()
        if isinstance(self.http, HttpSupervisor):  # after the listener, which it does not inherit
            self.http.start(self._server.loop, needed=self.flows is not None and uses_http(self.flows()))
        if self.max_calls is not None and self.fd_limit is not None:
            log.info(
                "taking at most %d calls at once (--max-calls; the descriptor limit RLIMIT_NOFILE is %d), "
                "%d from one address (--max-calls-per-peer); more are refused at once",
                self.max_calls,
                self.fd_limit,
                self.max_calls_per_peer,
            )
        log.info("listening on %s:%d", *self._server.address[:2])

    def serve_until_stopped(self) -> None:
        """Serve until :meth:`stop` (a signal handler calls it), then drain."""
        self.start()
        self._stopping.wait()
        self.shutdown()

    def stop(self) -> None:
        """First call: drain gracefully. Second call: hang up every call now."""
        if self._stopping.is_set():
            self._force.set()
        self._stopping.set()

    def shutdown(self) -> None:
        self._server.close()
        for evented in list(self.admission.pending):  # no call yet: nothing to finish (a flood's, say)
            if evented.call.proto.channel is None:
                evented.close()
        log.info("stopped accepting; %d call(s) in progress, waiting up to %gs", self._active(), self.drain_seconds)
        deadline = time.monotonic() + self.drain_seconds
        while self._active() and not self._force.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._force.wait(min(remaining, 0.05))
        if self.failover and self.calls:
            handed = sum(1 for call in list(self.calls) if call.hand_over())
            log.info("handed %d call(s) over to the next host, their checkpoints in place", handed)
        if self._active():
            log.warning("hanging up %d call(s) still in progress", self._active())
            self.handlers.hang_up("SYSTEM_SHUTDOWN")
            for call in list(self.calls):
                call.request_hangup("SYSTEM_SHUTDOWN")
            deadline = time.monotonic() + self.timeouts.drain + 1
            self.handlers.pool.join(timeout=self.timeouts.drain + 1)
            while self.calls and time.monotonic() < deadline:
                gevent.sleep(0.05)
            self.handlers.pool.kill(timeout=1)
            for call in list(self.calls):  # FreeSWITCH never reported them gone: let go
                call.close()
        if self.http is not None:
            self.http.close()
        log.info("stopped after %d call(s)", self.calls_total)

    # -- one call -----------------------------------------------------------------------
    def _accept(self, sock, address) -> None:
        """In the hub, for every connection: refused, or handed to the loop (a flow call)
        or to a greenlet (a handler's session)."""
        if not self.admission.admit(sock, address[0], self._active()):
            return
        if self.flows is not None:
            try:
                self.flow_calls.start(self._server.loop, sock, address, self.budget)
            except BaseException:
                self.admission.let_go(address[0])  # never started: its place is free again
                raise
            return
        # the listener closes the socket it accepted once this returns: the greenlet gets its own
        conn = gsocket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.handlers.spawn(conn, address, self.budget)

    def _ended(self, peer: str, heard: bool) -> None:
        """A call (or a connection that sent nothing) from ``peer`` has ended: its place
        is free; a call is counted."""
        self.admission.let_go(peer)
        if self.metrics is not None:
            self.metrics.calls_active.dec()
        if heard:
            self.calls_total += 1


def install_signal_handlers(server: CallServer) -> None:
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop)
    gevent.signal_handler(
        signal.SIGUSR1, lambda: log.warning("status %s", " ".join(f"{k}={v}" for k, v in server.status().items()))
    )
