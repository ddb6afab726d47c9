"""Failover for a flow call: the checkpoint it keeps on the channel and the resumption of
one its last host left (:mod:`flowengine.runtime.checkpoint` holds the format).

A :class:`Checkpointer` is what a call with failover on owns for it: the call asks it to
resume at routing (:func:`.routing.start_run`) and for the checkpoint's line with each step's write.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import FlowError
from ..esl import OutboundProtocol, commands
from ..flows.effects import Effect, Execute
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.steps import KINDS, attempts
from ..quoting.api import setvar_args
from ..runtime import checkpoint
from ..runtime.interpreter import FlowRun

log = logging.getLogger("flowengine.flow")


class Checkpointer:
    """One call's checkpoint: signed with ``key`` (and only checkpoints signed with it are
    taken); ``held`` is what the channel holds, as last written or read, so that only a
    different one is written."""

    __slots__ = ("key", "held", "resumed")

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key
        self.held: str | None = None
        self.resumed = False  # the call was taken over from another host

    def resume(
        self, saved: str, uuid: str | None, flowset: FlowSet, flow: Flow, options: dict[str, Any], metrics: Any = None
    ) -> tuple[FlowRun | None, Effect | None]:
        """The call comes with a checkpoint (its last host is gone): the run re-entering
        its step, or a fresh run at the flow's on_error when the step is no more, with its
        first command; (None, None): start afresh."""
        self.held = saved
        try:
            run = checkpoint.restore(saved, flowset, flow, key=self.key, **options)
        except checkpoint.NotResumable as exc:
            if metrics is not None:
                metrics.resume_refused.labels(exc.reason.value).inc()
            if exc.reason is not checkpoint.Refused.STEP:
                log.warning(
                    "call=%s flow=%s: checkpoint not resumed (%s): the flow starts from its start", uuid, flow.name, exc
                )
                return None, None
            log.warning("call=%s flow=%s: checkpoint not resumed (%s): the flow's on_error", uuid, flow.name, exc)
            run = FlowRun(flow, flows=flowset, **options)
            run.call_state[attempts.KEY] = attempts.Attempts()
            return run, run.fail_saved(FlowError(f"the checkpointed step cannot be resumed ({exc.detail})"))
        self.resumed = True
        run.call_state.setdefault(attempts.KEY, attempts.Attempts())  # (a checkpoint before any)
        frame = run.frames[-1]
        log.info(
            "call=%s flow=%s step=%s: resumed from its checkpoint%s%s",
            uuid,
            flow.name,
            frame.step if len(run.frames) == 1 else f"{frame.flow.name}/{frame.step}",
            f" ({frame.progress})" if frame.progress else "",
            f", after its {run.completed} (its result read from the channel)" if run.completed else "",
        )
        if metrics is not None:
            metrics.resumed.labels(flow.name).inc()
        return run, run.start_saved((run.completed, options["channel"]) if run.completed else None)

    def hand_over(self, proto: OutboundProtocol, run: FlowRun | None, flow_name: str | None) -> bool:
        """Shutdown: may the call go with its checkpoint in place (the next host resumes
        it)? Only once its checkpoint is written and while the call is up (logged)."""
        if not self.held or proto.gone is not None:
            return False
        log.info(
            "call=%s flow=%s step=%s: handed over to the next host (shutdown)",
            proto.uuid,
            flow_name,
            run.step if run is not None else "-",
        )
        return True

    def command(self, proto: OutboundProtocol, run: FlowRun, flow_name: str | None, last: Execute) -> bytes:
        """``api uuid_setvar`` of the checkpoint, when it differs from what the channel
        holds: written ahead of the step's command in the same write, and never waited
        for (an api answers at once and fires no event, where ``set`` would cost an
        EXECUTE_COMPLETE). Cleared when the call is handed off or ends, so that a later
        ``socket`` does not resume it."""
        if proto.control != "full" or not proto.uuid or last.app == "hangup":
            return b""  # (a call the flow hangs up has nothing left to resume)
        if run.ending or last.app in checkpoint.HANDED_OFF:
            value = None
        else:
            value = checkpoint.capture(run, run.flows.digest if run.flows is not None else "", last.app, self.key)
            if value is None and self.held != "":
                log.warning(
                    "call=%s flow=%s step=%s: not resumable: its checkpoint is over %d characters",
                    proto.uuid,
                    flow_name,
                    run.step,
                    checkpoint.MAX_CHARS,
                )
                value = ""  # cleared, and said once
        data = _cleared(proto, run, last)
        if value == self.held or (value is None and self.held in (None, "")):
            return data
        args = setvar_args(proto.uuid, checkpoint.VARIABLE, value or "", limit=checkpoint.MAX_CHARS)
        if args is None:  # an opaque base64url value of at most MAX_CHARS always has its line
            return data
        self.held = value
        line = commands.api(f"uuid_setvar {args}")
        proto.command(line)
        return data + line


def _cleared(proto: OutboundProtocol, run: FlowRun, last: Execute) -> bytes:
    """``api uuid_setvar <uuid> <name>`` (unset) of each variable the running step's
    application leaves its result in under FreeSWITCH's own name (``record_ms``:
    :attr:`~flowengine.flows.steps.StepKind.result_cleared`), ahead of that application in
    its write: after it the channel holds that application's result or none, never an
    earlier one's, which the next host would take for it (:func:`checkpoint.restore`)."""
    frame = run.frames[-1]
    if frame.step is None or run.ending:
        return b""
    kind = KINDS[frame.flow.steps[frame.step].kind]
    if not kind.result_cleared or last.app != kind.completes_alone:
        return b""
    data = b""
    for name in kind.result_cleared:
        args = setvar_args(proto.uuid or "", name, "")
        if args is not None:
            line = commands.api(f"uuid_setvar {args}")
            proto.command(line)
            data += line
    return data
