"""How a flow call ended: the interpreter's answer, and the driver's when there was no run.

It belongs to the flow's run (:attr:`flowengine.runtime.interpreter.FlowRun.result`), so the
call layer and the metrics read it from here.
"""

from __future__ import annotations

from enum import StrEnum


class CallResult(StrEnum):
    """How a flow call ended, as the ``result`` label of ``flowengine_calls``: the
    interpreter's :attr:`~flowengine.flows.FlowRun.result`, or what the driver decided
    when there was no run to ask."""

    HANGUP = "hangup"  # the flow hung up
    TRANSFER = "transfer"  # handed off
    GONE = "gone"  # the caller hung up
    ENDED = "ended"  # the flow ran out of steps
    ERROR = "error"
    UNROUTED = "unrouted"  # no flow serves the number


class StepEnd(StrEnum):
    """How a step's end is counted (``outcome`` label of ``flowengine_step_outcomes``) when it
    is not one of the step's own outcomes: what the flow map shows as a way out of the step."""

    HANGUP = "hangup"  # the flow's hangup step hung up
    RETURN = "return"  # a called flow returned from this step
    TRANSFERRED = "transferred"  # handed off (transfer, exit)
    GONE = "gone"  # the caller hung up while the step ran
    ERROR = "error"  # the step failed
