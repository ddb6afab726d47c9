"""What a flow call asks of the FreeSWITCH hosts it runs on (``FlowCall(hosts=...)``).

:class:`~flowengine.preflight.hosts.Hosts` and the per-peer
:class:`~flowengine.preflight.hosts.PeerHosts` the server gives each connection both fit:
the call needs the three methods, not either class.
"""

from __future__ import annotations

from typing import Protocol

from ..esl import Event, OutboundProtocol, Ticket
from ..flows.flowset import FlowSet
from ..flows.model import Flow


class HostView(Protocol):
    """The hosts as one call sees them."""

    def first(
        self, channel: Event, flowset: FlowSet, flow: Flow, proto: OutboundProtocol, now: float | None = None
    ) -> tuple[bytes, Ticket | None]:
        """The call was routed to ``flow`` and has sent nothing yet: what to ask before its
        first command, and the answer to wait for before it (None: go at once); the call
        is routed again once that answer is in."""
        ...

    def begin(
        self, channel: Event, flowset: FlowSet, flow: Flow, proto: OutboundProtocol, now: float | None = None
    ) -> bytes:
        """The call was routed to ``flow``: what to ask its host, written after the first
        step and never waited for (b"": nothing)."""
        ...

    def more(
        self, core: str | None, proto: OutboundProtocol, now: float | None = None, *, may_ask: bool = True
    ) -> tuple[bytes, bool]:
        """After a read of a call that asked: the next questions, and whether it still asks."""
        ...

    def has(self, core: str | None, app: str) -> bool:
        """False only when host ``core`` is known to lack ``app``."""
        ...
