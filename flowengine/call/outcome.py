"""What an error that ends a call leaves: the outcome its summary line shows (``call end …
outcome=``), a warning naming the call and its peer, and for malformed input the
``protocol_errors`` count; a socket that ended with no hangup (:func:`lost`) is no call
that ended well either. A flow call (:mod:`.connection`) and a program's own session
(:mod:`flowengine.server.handler_calls`) end on errors alike, so they read alike.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import CallGone, ProtocolError
from ..esl.protocol import LOST

server_log = logging.getLogger("flowengine.server")


def ended_on(error: Exception, uuid: str, peer: str, metrics: Any = None) -> str:
    """The outcome of a call (``uuid``, from ``peer``) that ``error`` ended, logged and counted."""
    if isinstance(error, ProtocolError):
        server_log.warning("call %s from %s ended on malformed input: %s", uuid, peer, error)
        if metrics is not None:
            metrics.protocol_errors.inc()
        return f"ProtocolError: {error}"
    outcome = f"{type(error).__name__}: {error}"
    server_log.warning("call %s from %s ended on error: %s", uuid, peer, outcome)
    return outcome


def lost(outcome: str, error: Exception | None, heard: bool) -> str:
    """``outcome`` once ``error`` ended the call: ``lost: …`` when it is the socket's end with
    no hangup (on a call that had ``heard`` FreeSWITCH, and said nothing worse yet)."""
    if isinstance(error, CallGone) and error.cause == LOST and outcome == "ok" and heard:
        return f"lost: {error.detail}"
    return outcome
