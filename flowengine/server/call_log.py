"""The line the server logs as each connection ends: the call's one summary line (who called
what, for how long, how it ended), or, for a connection that sent nothing, a debug line only.
Both kinds of call (a flow on the loop, a program's handler in a greenlet) end here, so an
operator reads the same line whichever served it: docs/operations.md, "Metrics, health, logs".
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import CallGone
from ..quoting.logfield import field

log = logging.getLogger("flowengine.server")


def log_idle_connection(peer: str) -> None:
    """A peer that connected and closed without a byte (a TCP health check, a port scan)
    made no call: no call line, not counted, and only at debug level."""
    log.debug("connection from %s closed before sending anything: not a call", peer)


def log_call_end(
    uuid: str | None, channel: Any, started_at: float, hangup_cause: str | None, gone: CallGone | None, outcome: str
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
