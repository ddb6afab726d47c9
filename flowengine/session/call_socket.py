"""The socket under an :class:`~flowengine.session.OutboundSession`: its writes, and its
reads fed to the call's protocol, each kept in the call's recording; and the wake-up of a
read the buffer budget cut short.
"""

from __future__ import annotations

import socket
from typing import Any

from ..esl import OutboundProtocol

_RECV = 65536
#: fed to a protocol whose parser the budget has failed: any bytes make it raise that error
_WAKE = b"\n"


class CallSocket:
    """``recording``: a :class:`~flowengine.session.recorder.CallRecording`, or None."""

    __slots__ = ("sock", "recording", "evicted_by", "_raw_send")

    def __init__(self, sock: socket.socket, recording: Any = None) -> None:
        self.sock = sock
        self.recording = recording
        self.evicted_by: Exception | None = None  # the budget ended this call for another's read
        raw = getattr(sock, "_sock", None)  # gevent's socket wraps a non-blocking OS socket
        self._raw_send = raw.send if raw is not None and raw.gettimeout() == 0.0 else None

    def send(self, proto: OutboundProtocol, data: bytes) -> None:
        """Write all of ``data``; a write that fails loses ``proto``'s connection."""
        if self.recording is not None:
            self.recording.outbound(data)
        try:
            # A command is a few hundred bytes and the socket buffer is nearly always free:
            # one non-blocking send on the OS socket under gevent's wrapper does it, without
            # the wrapper's per-call bookkeeping (a getsockopt, a deadline); anything left
            # over goes through gevent, which waits for the socket to drain.
            sent = self._raw_send(data) if self._raw_send is not None else 0
            if sent < len(data):
                self.sock.sendall(memoryview(data)[sent:])
        except BlockingIOError:
            self.sock.sendall(data)
        except OSError as exc:
            proto.connection_lost(f"write failed: {exc}")

    def pump(self, proto: OutboundProtocol, timeout: float) -> None:
        """One read of at most ``timeout`` seconds, fed to ``proto`` (b"": the peer closed;
        once the budget has ended the call, bytes that make the parser raise its error)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(_RECV)
        except TimeoutError:
            return
        except OSError as exc:  # gevent fails a recv the shutdown of evicted cancels
            if self.evicted_by is None:
                proto.connection_lost(f"socket error: {exc}")
                return
            data = b""
        if data and self.recording is not None:
            self.recording.inbound(data)
        if not data and self.evicted_by is not None:  # ended by the budget: say why
            data = _WAKE
        proto.receive(data)

    def evicted(self, error: Exception) -> None:
        """The budget ended this call to make room for another call's read (in that
        call's greenlet). Our greenlet may be waiting in recv for a peer that never sends
        again: shutting the socket's reading side wakes it (gevent fails the waiting recv;
        any later one reads EOF), and :meth:`pump` then raises the parser's error."""
        self.evicted_by = error
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self.recording is not None:
            self.recording.close()
