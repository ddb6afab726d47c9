"""Whether the server takes a new connection: who may connect and how many at once.

:class:`Admission` holds the server's limits (``allow``, ``max_calls``, ``max_calls_per_peer``),
the places each peer address holds, the flow calls that have not answered ``connect`` yet
(one of which gives way when the server is full) and the refusals it logs and counts. The
mechanisms are :mod:`.guard`'s; :class:`~.app.CallServer` asks here for each connection.
Why: docs/security.md, "Who may connect, and what a peer can change".
"""

from __future__ import annotations

import socket
import time
from typing import Any

from .evented import EventedCall
from .guard import Network, Refusals, Waiting, allowed, calls_per_peer


class Admission:
    """The server's door. :meth:`admit` each accepted socket (closed here when refused);
    :meth:`let_go` its peer's place once the connection ends. ``grace``: how long a flow call
    that has not answered ``connect`` holds its place against its own address's new one."""

    def __init__(
        self,
        allow: list[Network],
        max_calls: int | None,
        max_calls_per_peer: int | None,
        *,
        grace: float,
        metrics: Any = None,
    ) -> None:
        self.allow = allow
        self.max_calls = max_calls
        self.max_calls_per_peer = (
            max_calls_per_peer if max_calls_per_peer is not None else calls_per_peer(max_calls, allow)
        )
        self.grace = grace
        self.held: dict[str, int] = {}  # connections held (calls or not yet), by peer address
        # flow calls that may not have answered `connect` yet, by peer (left as they are come across)
        self.pending: Waiting[EventedCall] = Waiting(lambda c: not c.closed and c.call.proto.channel is None)
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

    def admit(self, sock: Any, peer: str, active: int) -> bool:
        """Whether the connection ``sock`` from ``peer`` is taken, ``active`` connections
        being served; a refused one is closed and its refusal logged."""
        if not allowed(peer, self.allow):
            sock.close()
            self.refused_peer.refused(peer)
            return False
        if self.max_calls is not None and active >= self.max_calls and not self._made_room(peer):
            sock.close()
            self.refused_full.refused(peer)
            return False
        cap = self.max_calls_per_peer
        if cap is not None and self.held.get(peer, 0) >= cap and not self._made_room_own(peer):
            sock.close()
            self.refused_peer_full.refused(peer)
            return False
        self.held[peer] = self.held.get(peer, 0) + 1  # given back by let_go when it ends
        try:  # each command is one small write awaited by FreeSWITCH: never hold it back (Nagle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return True

    def _made_room(self, peer: str) -> bool:
        """The server is full: close a connection that has not answered ``connect`` to
        make room for one from ``peer``, if there is one to close (:class:`.guard.Waiting`)."""
        now = time.monotonic()
        idle = self.pending.make_room(peer, lambda c: now - c.started_at >= self.grace)
        if idle is None:
            return False
        self.idle_closed.refused(idle.call.peer)
        idle.close()  # its on_close takes it out of calls
        return True

    def _made_room_own(self, peer: str) -> bool:
        """``peer`` holds all the places it may: its own oldest connection that has not
        answered ``connect`` for ``grace`` gives way, if it has one."""
        now = time.monotonic()
        idle = self.pending.take_own(peer, lambda c: now - c.started_at >= self.grace)
        if idle is None:
            return False
        self.idle_closed.refused(idle.call.peer)
        idle.close()
        return True

    def let_go(self, peer: str) -> None:
        """A connection admitted from ``peer`` has ended: its place is free."""
        left = self.held.get(peer, 1) - 1
        if left > 0:
            self.held[peer] = left
        else:
            self.held.pop(peer, None)
