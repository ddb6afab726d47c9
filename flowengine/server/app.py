"""The TCP server FreeSWITCH's ``socket`` application connects to.

Flow calls run on the event loop without a greenlet each (:mod:`.evented`); a custom
``handler`` gets a greenlet and a blocking :class:`OutboundSession`. A call's failure,
whatever it is, ends that call only. Peers outside ``allow`` are closed
before a byte is read, since anyone who reaches the port could otherwise pose as
FreeSWITCH. On shutdown the server stops accepting, lets calls finish for a while, then
hangs up the rest.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import socket
import time
from typing import Callable, Iterable

import gevent
from gevent import socket as gsocket
from greenlet import greenlet
from gevent.event import Event as Flag
from gevent.pool import Pool
from gevent.server import StreamServer

from ..call import Timeouts
from ..call.flow_call import FlowCall
from ..errors import CallGone, FlowengineError, ProtocolError
from ..esl import BufferBudget, Limits
from ..esl.protocol import LOST
from ..flows.flowset import FlowSet
from ..flows.hosts import HOSTS
from ..quoting.logfield import field
from ..session import OutboundSession
from .evented import DEFAULT_BUDGET_BYTES, EventedCall
from .http_inprocess import performer
from .http_worker import HttpWorker

log = logging.getLogger("flowengine.server")


def uses_http(flowset: FlowSet) -> bool:
    """Whether any flow of ``flowset`` has an ``http`` step."""
    return any(step.kind == "http" for flow in flowset.flows.values() for step in flow.steps.values())

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


class CallServer:
    """Serves ``flows()`` (the flow set in force for a new call) or, for a program of
    its own, ``handler(session)`` in a greenlet per call."""

    def __init__(self, listen: tuple[str, int], handler: Handler | None = None, *,
                 flows: Callable[[], FlowSet] | None = None, allow: list[Network] | None = None,
                 drain_seconds: float = 30.0, max_calls: int | None = None, limits: Limits = Limits(),
                 timeouts: Timeouts = Timeouts(), event_format: str = "plain", recorder=None,
                 metrics=None, reuse_port: bool = False, buffered_bytes: int = DEFAULT_BUDGET_BYTES,
                 http=None, failover: bool = False, failover_key: bytes | None = None) -> None:
        if (handler is None) == (flows is None):
            raise TypeError("CallServer serves either flows= or a handler")
        self.handler = handler
        self.flows = flows
        self.metrics = metrics    # a Metrics, or None
        # what all this server's calls together may hold of unparsed input (--max-buffered-bytes)
        self.budget = BufferBudget(buffered_bytes)
        self.recorder = recorder  # a Recorder, or None
        # what the flows' http steps are performed with: one pool set and breaker per server,
        # in its HTTP worker process (.http_worker.HttpWorker, run.py's) or in process
        if http is None and flows is not None:
            from ..http import HttpClient
            http = HttpClient(metrics=metrics)
        self.http = performer(http)
        self.allow = allow or []
        self.drain_seconds = drain_seconds
        self.failover = failover  # checkpoints on the channel; shutdown hands calls over
        self.failover_key = failover_key
        self.max_calls = max_calls
        self.limits = limits
        self.timeouts = timeouts
        self.event_format = event_format
        self.sessions: set[OutboundSession] = set()
        self.calls: set[EventedCall] = set()
        self.calls_total = 0
        listener = _reuse_port_listener(listen) if reuse_port else listen
        if flows is not None:
            # a flow call only registers its socket with the loop: that runs in the hub, no
            # greenlet is spawned, and --max-calls pauses accepting while the server is full
            self._pool = Pool()
            self._server = StreamServer(listener, self._handle_flow, spawn=None)
            if max_calls is not None:
                self._server.full = lambda: len(self.calls) >= max_calls
        else:
            self._pool = Pool(max_calls)
            self._server = StreamServer(listener, self._handle, spawn=self._pool)
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
        return {"calls_active": self._active(), "calls_total": self.calls_total, "greenlets": greenlets,
                "fds": fds, "rss_kb": _rss_kb()}

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    def healthy(self) -> bool:
        """Accepting calls: started and not draining."""
        return self._server.started and not self._stopping.is_set()

    def start(self) -> None:
        self._server.start()
        if isinstance(self.http, HttpWorker):  # after the listener, which it does not inherit
            self.http.start(self._server.loop, needed=self.flows is not None and uses_http(self.flows()))
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
        if not self.allow:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allow)

    def _accepted(self, sock, address) -> bool:
        if not self._allowed(address[0]):
            sock.close()
            log.warning("refused %s: not in --allow", address[0])
            return False
        try:  # each command is one small write awaited by FreeSWITCH: never hold it back (Nagle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return True

    def _handle_flow(self, sock, address) -> None:
        """In the hub: hand the socket to the loop; the call runs from its callbacks."""
        if not self._accepted(sock, address):
            return
        raw = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        call = FlowCall(self.flows, self.timeouts, limits=self.limits, hosts=HOSTS,  # type: ignore[arg-type]
                        event_format=self.event_format, metrics=self.metrics, peer=address[0],
                        failover=self.failover, failover_key=self.failover_key)
        if self.metrics is not None:
            self.metrics.calls_active.inc()
        recording = self.recorder.call() if self.recorder is not None else None
        try:
            evented = EventedCall(self._server.loop, raw, call, recording=recording,
                                  on_close=self._flow_call_closed, budget=self.budget, http=self.http)
        except Exception:  # the accept loop runs this: it must go on for the next call
            log.exception("call from %s could not be started", address[0])
            raw.close()
            if self.metrics is not None:
                self.metrics.calls_active.dec()
            return
        if not evented.closed:
            self.calls.add(evented)

    def _flow_call_closed(self, evented: EventedCall) -> None:
        self.calls.discard(evented)
        if self.metrics is not None:
            self.metrics.calls_active.dec()
        call = evented.call
        proto = call.proto
        if proto.heard:
            self.calls_total += 1
            log_call_end(proto.uuid, proto.channel, evented.started_at, proto.hangup_cause, proto.gone, call.outcome)
        else:
            log_idle_connection(call.peer)
        if self.max_calls is not None and self._server.started and not self._stopping.is_set() \
                and len(self.calls) < self.max_calls:
            self._server.start_accepting()

    def _handle(self, sock, address) -> None:
        if not self._accepted(sock, address):
            return
        session = OutboundSession(sock, limits=self.limits, timeouts=self.timeouts, event_format=self.event_format,
                                  recording=self.recorder.call() if self.recorder is not None else None,
                                  budget=self.budget)
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
            if metrics is not None:
                metrics.calls_active.dec()
            if session.proto.heard:
                self.calls_total += 1
                log_call_end(session.uuid, session.channel, session.started_at, session.hangup_cause,
                             session.gone, outcome)
            else:
                log_idle_connection(address[0])


def log_idle_connection(peer: str) -> None:
    """A peer that connected and closed without a byte (a TCP health check, a port scan)
    made no call: no call line, not counted, and only at debug level."""
    log.debug("connection from %s closed before sending anything: not a call", peer)


def log_call_end(uuid: str | None, channel, started_at: float, hangup_cause: str | None, gone: CallGone | None,
                 outcome: str) -> None:
    """The call's one summary line: who called what, for how long, how it ended."""
    if not log.isEnabledFor(logging.INFO):
        return
    get = channel.get if channel is not None else (lambda name: None)
    caller, destination = get("Caller-Caller-ID-Number") or "-", get("Caller-Destination-Number") or "-"
    duration = time.monotonic() - started_at
    cause = hangup_cause or (gone.cause if gone else "-")
    log.info("call end uuid=%s caller=%s destination=%s duration=%.2fs cause=%s outcome=%s",
             uuid or "-", field(caller), field(destination), duration, cause, outcome,
             extra={"call": uuid or "-", "caller": caller, "destination": destination,
                    "duration": round(duration, 3), "cause": cause, "outcome": outcome})


def install_signal_handlers(server: CallServer) -> None:
    import signal
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop)
    gevent.signal_handler(signal.SIGUSR1, lambda: log.warning("status %s", " ".join(
        f"{k}={v}" for k, v in server.status().items())))
