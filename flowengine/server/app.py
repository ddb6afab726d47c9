"""The TCP server FreeSWITCH's ``socket`` application connects to.

Flow calls run on the event loop without a greenlet each (:mod:`.evented`); a custom
``handler`` gets a greenlet and a blocking :class:`OutboundSession`. A call's failure ends that
call only. Who may connect and how many at once (``allow``, ``max_calls``,
``max_calls_per_peer``) is :mod:`.guard`'s; on shutdown the server stops accepting, lets calls
finish for a while, then hangs up the rest. Why: docs/security.md, "Who may connect, and what
a peer can change"; docs/operations.md, "Signals".
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
from gevent.pool import Pool
from gevent.server import StreamServer
from greenlet import greenlet

from ..call import Timeouts
from ..call.flow_call import FlowCall
from ..errors import CallGone, FlowengineError, ProtocolError
from ..esl import Limits
from ..esl.budget import server_budget
from ..esl.protocol import LOST
from ..flows.flowset import FlowSet
from ..flows.steps import KINDS
from ..http.inprocess import performer
from ..http.supervisor import HttpSupervisor
from ..preflight.hosts import HOSTS
from ..quoting.logfield import field
from ..session import OutboundSession
from .evented import DEFAULT_BUDGET_BYTES, EventedCall
from .guard import LOOPBACK, Refusals, RestingAccept, Waiting, allowed, calls_per_peer, descriptor_limit, max_calls_for

log = logging.getLogger("flowengine.server")


def uses_http(flowset: FlowSet) -> bool:
    """Whether any flow of ``flowset`` has an ``http`` step."""
    return any(KINDS[step.kind].makes_requests for flow in flowset.flows.values() for step in flow.steps.values())


Handler = Callable[[OutboundSession], None]
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
        self.allow = list(allow) if allow else list(LOOPBACK)
        self.drain_seconds = drain_seconds
        self.failover = failover  # checkpoints on the channel; shutdown hands calls over
        self.failover_key = failover_key
        self.fd_limit = descriptor_limit()
        if max_calls is None and self.fd_limit is not None:  # a transcript file per call too
            max_calls = max_calls_for(self.fd_limit, 2 if recorder is not None else 1)
        self.max_calls = max_calls
        self.max_calls_per_peer = (
            max_calls_per_peer if max_calls_per_peer is not None else calls_per_peer(max_calls, self.allow)
        )
        self._held: dict[str, int] = {}  # connections held (calls or not yet), by peer address
        self.limits = limits
        self.timeouts = timeouts
        self.event_format = event_format
        self.sessions: set[OutboundSession] = set()
        self.calls: set[EventedCall] = set()
        self.calls_total = 0
        self.refused_peer = Refusals(
            "not in --allow (without --allow only loopback peers may connect; "
            "--allow CIDR names FreeSWITCH's addresses, --allow any takes every peer)",
            counter=metrics.refused("calls", "not_allowed") if metrics is not None else None,
        )
        self.refused_full = Refusals(
            f"the server holds --max-calls {max_calls} calls already",
            counter=metrics.refused("calls", "full") if metrics is not None else None,
        )
        self.refused_peer_full = Refusals(
            f"its address holds --max-calls-per-peer {self.max_calls_per_peer} calls already (the others' places "
            "are kept for other addresses)",
            counter=metrics.refused("calls", "peer_full") if metrics is not None else None,
        )
        self.idle_closed = Refusals(
            "to make room for a new connection: it had not answered connect, the "
            "server was full and its address held the most such connections",
            counter=metrics.refused("calls", "idle") if metrics is not None else None,
            verb="closed a connection from",
        )
        # flow calls that may not have answered `connect` yet, by peer (left as they are come across)
        self._pending: Waiting[EventedCall] = Waiting(lambda c: not c.closed and c.call.proto.channel is None)
        listener = _reuse_port_listener(listen) if reuse_port else listen
        # in the hub: a flow call only registers its socket with the loop, no greenlet is
        # spawned; a refused connection is closed there and then
        self._pool = Pool()
        self._server = _Listener(listener, self._accept, spawn=None)
        self._stopping = Flag()
        self._force = Flag()

    def _active(self) -> int:
        return len(self._pool) + len(self.calls)

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
        for evented in list(self._pending):  # no call yet: nothing to finish (a flood's, say)
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
            for session in list(self.sessions):
                if session.channel is not None:
                    session.request_hangup("SYSTEM_SHUTDOWN")
            for call in list(self.calls):
                call.request_hangup("SYSTEM_SHUTDOWN")
            deadline = time.monotonic() + self.timeouts.drain + 1
            self._pool.join(timeout=self.timeouts.drain + 1)
            while self.calls and time.monotonic() < deadline:
                gevent.sleep(0.05)
            self._pool.kill(timeout=1)
            for call in list(self.calls):  # FreeSWITCH never reported them gone: let go
                call.close()
        if self.http is not None:
            self.http.close()
        log.info("stopped after %d call(s)", self.calls_total)

    # -- one call -----------------------------------------------------------------------
    def _allowed(self, host: str) -> bool:
        return allowed(host, self.allow)

    def _accept(self, sock, address) -> None:
        """In the hub, for every connection: refused, or handed to the loop (a flow call)
        or to a greenlet (a handler's session)."""
        if not self._admitted(sock, address):
            return
        if self.flows is not None:
            try:
                self._handle_flow(sock, address)
            except BaseException:
                self._let_go(address[0])  # never started: its place is free again
                raise
            return
        # the listener closes the socket it accepted once this returns: the greenlet gets its own
        conn = gsocket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._pool.spawn(self._handle, conn, address)

    def _admitted(self, sock, address) -> bool:
        if not self._allowed(address[0]):
            sock.close()
            self.refused_peer.refused(address[0])
            return False
        peer = address[0]
        if self.max_calls is not None and self._active() >= self.max_calls and not self._made_room(peer):
            sock.close()
            self.refused_full.refused(peer)
            return False
        cap = self.max_calls_per_peer
        if cap is not None and self._held.get(peer, 0) >= cap and not self._made_room_own(peer):
            sock.close()
            self.refused_peer_full.refused(peer)
            return False
        self._held[peer] = self._held.get(peer, 0) + 1  # given back by _let_go when it ends
        try:  # each command is one small write awaited by FreeSWITCH: never hold it back (Nagle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return True

    def _made_room(self, peer: str) -> bool:
        """The server is full: close a connection that has not answered ``connect`` to
        make room for one from ``peer``, if there is one to close (:class:`.guard.Waiting`)."""
        now = time.monotonic()
        idle = self._pending.make_room(peer, lambda c: now - c.started_at >= PENDING_GRACE)
        if idle is None:
            return False
        self.idle_closed.refused(idle.call.peer)
        idle.close()  # its on_close takes it out of calls
        return True

    def _made_room_own(self, peer: str) -> bool:
        """``peer`` holds all the places it may: its own oldest connection that has not
        answered ``connect`` for :data:`PENDING_GRACE` gives way, if it has one."""
        now = time.monotonic()
        idle = self._pending.take_own(peer, lambda c: now - c.started_at >= PENDING_GRACE)
        if idle is None:
            return False
        self.idle_closed.refused(idle.call.peer)
        idle.close()
        return True

    def _let_go(self, peer: str) -> None:
        """A connection admitted from ``peer`` has ended: its place is free."""
        left = self._held.get(peer, 1) - 1
        if left > 0:
            self._held[peer] = left
        else:
            self._held.pop(peer, None)

    def _handle_flow(self, sock, address) -> None:
        """In the hub: hand the socket to the loop; the call runs from its callbacks."""
        raw = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        # what this connection claims about its host concerns its own peer address only
        hosts = HOSTS.for_peer(address[0])
        assert self.flows is not None  # _accept hands a socket here only when serving flows
        call = FlowCall(
            self.flows,
            self.timeouts,
            limits=self.limits,
            hosts=hosts,
            event_format=self.event_format,
            metrics=self.metrics,
            peer=address[0],
            failover=self.failover,
            failover_key=self.failover_key,
        )
        if self.metrics is not None:
            self.metrics.calls_active.inc()
        recording = self.recorder.call() if self.recorder is not None else None
        try:
            evented = EventedCall(
                self._server.loop,
                raw,
                call,
                recording=recording,
                on_close=self._flow_call_closed,
                budget=self.budget,
                http=self.http,
            )
        except Exception:  # the accept loop runs this: it must go on for the next call
            log.exception("call from %s could not be started", address[0])
            raw.close()
            self._let_go(address[0])
            if self.metrics is not None:
                self.metrics.calls_active.dec()
            return
        if not evented.closed:
            self.calls.add(evented)
            self._pending.add(address[0], evented)

    def _flow_call_closed(self, evented: EventedCall) -> None:
        self.calls.discard(evented)
        self._pending.discard(evented)
        self._let_go(evented.call.peer)
        if self.metrics is not None:
            self.metrics.calls_active.dec()
        call = evented.call
        proto = call.proto
        if proto.heard:
            self.calls_total += 1
            log_call_end(proto.uuid, proto.channel, evented.started_at, proto.hangup_cause, proto.gone, call.outcome)
        else:
            log_idle_connection(call.peer)

    def _handle(self, sock, address) -> None:
        assert self.handler is not None  # _accept spawns this only when serving a handler
        session = OutboundSession(
            sock,
            limits=self.limits,
            timeouts=self.timeouts,
            event_format=self.event_format,
            recording=self.recorder.call() if self.recorder is not None else None,
            budget=self.budget,
        )
        self.sessions.add(session)
        metrics = self.metrics
        if metrics is not None:
            metrics.calls_active.inc()
        outcome = "ok"
        try:
            session.start()
            self.handler(session)
        except CallGone as gone:
            if gone.cause == LOST and session.proto.heard:  # the socket ended, no hangup came
                outcome = f"lost: {gone.detail}"
        except ProtocolError as exc:
            outcome = f"ProtocolError: {exc}"
            log.warning("call %s from %s ended on malformed input: %s", session.uuid or "-", address[0], exc)
            if metrics is not None:
                metrics.protocol_errors.inc()
        except FlowengineError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
            log.warning("call %s from %s ended on error: %s", session.uuid or "-", address[0], outcome)
        except Exception as exc:  # one call's bug must not take down the others
            outcome = f"internal error {type(exc).__name__}"
            log.exception("call %s from %s: internal error", session.uuid or "-", address[0])
        finally:
            try:
                session.finish()
            except Exception:
                session.close()
            self.sessions.discard(session)
            self._let_go(address[0])
            if metrics is not None:
                metrics.calls_active.dec()
            if session.proto.heard:
                self.calls_total += 1
                log_call_end(
                    session.uuid, session.channel, session.started_at, session.hangup_cause, session.gone, outcome
                )
            else:
                log_idle_connection(address[0])


def log_idle_connection(peer: str) -> None:
    """A peer that connected and closed without a byte (a TCP health check, a port scan)
    made no call: no call line, not counted, and only at debug level."""
    log.debug("connection from %s closed before sending anything: not a call", peer)


def log_call_end(
    uuid: str | None, channel, started_at: float, hangup_cause: str | None, gone: CallGone | None, outcome: str
) -> None:
    """The call's one summary line: who called what, for how long, how it ended."""
    if not log.isEnabledFor(logging.INFO):
        return
    get = channel.get if channel is not None else (lambda name: None)
    caller, destination = get("Caller-Caller-ID-Number") or "-", get("Caller-Destination-Number") or "-"
    duration = time.monotonic() - started_at
    cause = hangup_cause or (gone.cause if gone else "-")
    log.info(
        "call end uuid=%s caller=%s destination=%s duration=%.2fs cause=%s outcome=%s",
        uuid or "-",
        field(caller),
        field(destination),
        duration,
        cause,
        outcome,
        extra={
            "call": uuid or "-",
            "caller": caller,
            "destination": destination,
            "duration": round(duration, 3),
            "cause": cause,
            "outcome": outcome,
        },
    )


def install_signal_handlers(server: CallServer) -> None:
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop)
    gevent.signal_handler(
        signal.SIGUSR1, lambda: log.warning("status %s", " ".join(f"{k}={v}" for k, v in server.status().items()))
    )
