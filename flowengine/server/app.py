"""The TCP server FreeSWITCH's ``socket`` application connects to: one greenlet per call.

A call's failure, whatever it is, ends that call only. Peers outside ``allow`` are closed
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

from ..errors import CallGone, FlowengineError, ProtocolError
from ..esl import Limits
from ..session import OutboundSession, Timeouts

log = logging.getLogger("flowengine.server")

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
    def __init__(self, listen: tuple[str, int], handler: Handler, *, allow: list[Network] | None = None,
                 drain_seconds: float = 30.0, max_calls: int | None = None, limits: Limits = Limits(),
                 timeouts: Timeouts = Timeouts(), event_format: str = "plain", recorder=None,
                 metrics=None, reuse_port: bool = False) -> None:
        self.handler = handler
        self.metrics = metrics    # a Metrics, or None
        self.recorder = recorder  # a Recorder, or None
        self.allow = allow or []
        self.drain_seconds = drain_seconds
        self.limits = limits
        self.timeouts = timeouts
        self.event_format = event_format
        self.sessions: set[OutboundSession] = set()
        self.calls_total = 0
        self._pool = Pool(max_calls)
        listener = _reuse_port_listener(listen) if reuse_port else listen
        self._server = StreamServer(listener, self._handle, spawn=self._pool)
        self._stopping = Flag()
        self._force = Flag()

    def status(self) -> dict[str, int]:
        """What a leak would show (kill -USR1 logs it): calls, greenlets, open descriptors, RSS."""
        greenlets = sum(1 for o in gc.get_objects() if isinstance(o, greenlet))
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = -1
        return {"calls_active": len(self._pool), "calls_total": self.calls_total, "greenlets": greenlets,
                "fds": fds, "rss_kb": _rss_kb()}

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    def healthy(self) -> bool:
        """Accepting calls: started and not draining."""
        return self._server.started and not self._stopping.is_set()

    def start(self) -> None:
        self._server.start()
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
        active = len(self._pool)
        log.info("stopped accepting; %d call(s) in progress, waiting up to %gs", active, self.drain_seconds)
        deadline = time.monotonic() + self.drain_seconds
        while len(self._pool) and not self._force.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._force.wait(min(remaining, 0.05))
        if len(self._pool):
            log.warning("hanging up %d call(s) still in progress", len(self._pool))
            for session in list(self.sessions):
                if session.channel is not None:
                    session.request_hangup("SYSTEM_SHUTDOWN")
            self._pool.join(timeout=self.timeouts.drain + 1)
            self._pool.kill(timeout=1)
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

    def _handle(self, sock, address) -> None:
        if not self._allowed(address[0]):
            sock.close()
            log.warning("refused %s: not in --allow", address[0])
            return
        self.calls_total += 1
        try:  # each command is one small write awaited by FreeSWITCH: never hold it back (Nagle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        session = OutboundSession(sock, limits=self.limits, timeouts=self.timeouts, event_format=self.event_format,
                                  recording=self.recorder.call() if self.recorder is not None else None)
        self.sessions.add(session)
        metrics = self.metrics
        if metrics is not None:
            metrics.calls_active.inc()
        outcome = "ok"
        try:
            session.start()
            self.handler(session)
        except CallGone:
            pass
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
            self._log_summary(session, outcome)

    @staticmethod
    def _log_summary(session: OutboundSession, outcome: str) -> None:
        channel = session.channel
        get = channel.get if channel is not None else (lambda name: None)
        if not log.isEnabledFor(logging.INFO):
            return
        caller, destination = get("Caller-Caller-ID-Number") or "-", get("Caller-Destination-Number") or "-"
        duration = time.monotonic() - session.started_at
        cause = session.hangup_cause or (session.gone.cause if session.gone else "-")
        log.info("call end uuid=%s caller=%s destination=%s duration=%.2fs cause=%s outcome=%s",
                 session.uuid or "-", caller, destination, duration, cause, outcome,
                 extra={"call": session.uuid or "-", "caller": caller, "destination": destination,
                        "duration": round(duration, 3), "cause": cause, "outcome": outcome})


def install_signal_handlers(server: CallServer) -> None:
    import signal
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop)
    gevent.signal_handler(signal.SIGUSR1, lambda: log.warning("status %s", " ".join(
        f"{k}={v}" for k, v in server.status().items())))
