"""Failover for a flow call: the checkpoint it keeps on the channel and the resumption of
one its last host left (:mod:`flowengine.flows.checkpoint` holds the format). Apart from
:class:`~flowengine.call.flow_call.FlowCall`'s phases, which call these at connect and with
each step's write."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import FlowError
from ..esl import commands
from ..flows import checkpoint
from ..flows.effects import Effect, Execute
from ..flows.flowset import FlowSet
from ..flows.interpreter import FlowRun
from ..quoting.api import setvar_args

if TYPE_CHECKING:
    from .flow_call import FlowCall

log = logging.getLogger("flowengine.flow")


def resume(call: FlowCall, saved: str, flowset: FlowSet, flow: Any, options: dict[str, Any]) -> Effect | None:
    """The call comes with a checkpoint (its last host is gone): the run re-entering its
    step, or the flow's on_error when the step is no more, or None (start afresh)."""
    call.checkpoint_held = saved   # what the channel holds: only a different one is written
    uuid = call.proto.uuid
    try:
        run = checkpoint.restore(saved, flowset, flow, key=call.failover_key, **options)
    except checkpoint.NotResumable as exc:
        if call.metrics is not None:
            call.metrics.resume_refused.labels(exc.reason.value).inc()
        if exc.reason is not checkpoint.Refused.STEP:
            log.warning("call=%s flow=%s: checkpoint not resumed (%s): the flow starts from its start",
                        uuid, flow.name, exc)
            return None
        log.warning("call=%s flow=%s: checkpoint not resumed (%s): the flow's on_error", uuid, flow.name, exc)
        call.run = FlowRun(flow, flows=flowset, **options)
        return call.run.fail_saved(FlowError(f"the checkpointed step cannot be resumed ({exc.detail})"))
    call.run = run
    call.resumed = True
    frame = run.frames[-1]
    log.info("call=%s flow=%s step=%s: resumed from its checkpoint%s%s", uuid, flow.name,
             frame.step if len(run.frames) == 1 else f"{frame.flow.name}/{frame.step}",
             f" ({frame.progress})" if frame.progress else "",
             f", after its {run.completed} (the outcome read from the channel)" if run.completed else "")
    if call.metrics is not None:
        call.metrics.resumed.labels(flow.name).inc()
    return run.start_saved((run.completed, options["channel"]) if run.completed else None)

def checkpoint_command(call: FlowCall, last: Execute) -> bytes:
    """``api uuid_setvar`` of the checkpoint, when it differs from what the channel
    holds: written ahead of the step's command in the same write, and never waited for
    (an api answers at once and fires no event, where ``set`` would cost an
    EXECUTE_COMPLETE). Cleared when the call is handed off or ends, so that a later
    ``socket`` does not resume it."""
    proto, run = call.proto, call.run
    if not call.failover or proto.control != "full" or not proto.uuid or last.app == "hangup":
        return b""   # (a call the flow hangs up has nothing left to resume)
    if run.ending or last.app in checkpoint.HANDED_OFF:  # type: ignore[union-attr]
        value = None
    else:
        value = checkpoint.capture(run, run.flows.digest if run.flows is not None else "",  # type: ignore[arg-type, union-attr]
                                   last.app, call.failover_key)
        if value is None and call.checkpoint_held != "":
            log.warning("call=%s flow=%s step=%s: not resumable: its checkpoint is over %d characters",
                        proto.uuid, call.flow_name, run.step, checkpoint.MAX_CHARS)  # type: ignore[union-attr]
            value = ""   # cleared, and said once
    if value == call.checkpoint_held or (value is None and call.checkpoint_held in (None, "")):
        return b""
    args = setvar_args(proto.uuid, checkpoint.VARIABLE, value or "", limit=checkpoint.MAX_CHARS)
    if args is None:     # an opaque base64url value of at most MAX_CHARS always has its line
        return b""
    call.checkpoint_held = value
    data = commands.api(f"uuid_setvar {args}")
    proto.command(data)
    return data
