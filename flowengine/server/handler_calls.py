"""A program's own calls: ``handler(session)`` in a greenlet each, over a blocking
:class:`~flowengine.session.OutboundSession` (a flow call needs no greenlet: :mod:`.evented`).

:class:`HandlerCalls` runs each and ends it whatever happens in it: a call's failure is
logged and ends that call only, and its end is reported to the server (``ended``), which
frees its place and counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gevent.pool import Pool

from ..call import Timeouts
from ..call.outcome import ended_on, lost
from ..errors import CallGone, FlowengineError
from ..esl import Limits
from ..session import OutboundSession
from .call_log import log_call_end, log_idle_connection

log = logging.getLogger("flowengine.server")

Handler = Callable[[OutboundSession], None]


class HandlerCalls:
    """The greenlets (:attr:`pool`) and sessions (:attr:`sessions`) of a handler's calls.
    ``ended(peer, heard)``: a call from ``peer`` has ended (``heard``: it sent something)."""

    def __init__(
        self,
        handler: Handler | None,
        ended: Callable[[str, bool], None],
        *,
        limits: Limits,
        timeouts: Timeouts,
        event_format: str,
        recorder: Any = None,
        metrics: Any = None,
    ) -> None:
        self.handler = handler
        self.ended = ended
        self.limits = limits
        self.timeouts = timeouts
        self.event_format = event_format
        self.recorder = recorder
        self.metrics = metrics
        self.sessions: set[OutboundSession] = set()
        self.pool = Pool()

    def spawn(self, sock: Any, address: tuple, budget: Any) -> None:
        """Run the handler on the connection ``sock`` from ``address`` in a greenlet of its own."""
        self.pool.spawn(self._handle, sock, address, budget)

    def _handle(self, sock: Any, address: tuple, budget: Any) -> None:
        assert self.handler is not None  # the server spawns this only when serving a handler
        session = OutboundSession(
            sock,
            limits=self.limits,
            timeouts=self.timeouts,
            event_format=self.event_format,
            recording=self.recorder.call() if self.recorder is not None else None,
            budget=budget,
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
            outcome = lost(outcome, gone, session.proto.heard)  # the socket ended, no hangup came
        except FlowengineError as exc:  # malformed input (counted), a timeout, a refusal …
            outcome = ended_on(exc, session.uuid or "-", address[0], metrics)
        except Exception as exc:  # one call's bug must not take down the others
            outcome = f"internal error {type(exc).__name__}"
            log.exception("call %s from %s: internal error", session.uuid or "-", address[0])
        finally:
            try:
                session.finish()
            except Exception:
                session.close()
            self.sessions.discard(session)
            self.ended(address[0], session.proto.heard)
            if session.proto.heard:
                log_call_end(
                    session.uuid, session.channel, session.started_at, session.hangup_cause, session.gone, outcome
                )
            else:
                log_idle_connection(address[0])

    def hang_up(self, cause: str) -> None:
        """Shutdown: ask FreeSWITCH to hang up every call set up."""
        for session in list(self.sessions):
            if session.channel is not None:
                session.request_hangup(cause)
