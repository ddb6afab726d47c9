"""How a run moves from step to step, and what its trace records of each move.

Entering a step starts its kind's generator, or, for a step that calls a flow, opens a frame
for the called flow and enters its first step. A step ends with a result; the flow's routes
(:func:`~flowengine.flows.routes.way_out`) give the next step. A step that returns, or a
called flow that runs out of steps, ends its frame: its result (``done`` for running out) is
the calling step's, whose routes are read in turn. A flow routed to directly has no caller,
so there the call ends. :class:`~.interpreter.FlowRun` drives these; nothing here is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..flows.model import Flow, Step
from ..flows.routes import way_out
from ..flows.steps import KINDS
from .callstack import CallStack, Frame
from .result import CallResult, StepEnd
from .trace import Trace


class Entering(Protocol):
    """What of a run (:class:`~.interpreter.FlowRun`) entering a step is read here; the run
    itself is what the step's generator is given."""

    stack: CallStack
    trace: Trace
    flows: Any  # the flows a step may call, by name
    monotonic: Callable[[], float]

    def expand(self, value: Any) -> Any: ...


def enter(run: Entering, name: str) -> None:
    """Enter the step ``name`` of the top frame's flow; a step that calls a flow enters the
    called flow's first step in a frame of its own (what it is given expanded here)."""
    stack = run.stack
    frame = stack.enter(name, run.monotonic())
    step = frame.flow.steps[name]
    run.trace.step_entered(stack, name)
    kind = KINDS[step.kind]
    called = kind.calls(step)
    if called is not None:  # the called flow runs in a frame of its own
        callee: Flow = run.flows[called.flow]
        stack.call(callee, {k: run.expand(v) for k, v in called.given.items()})
        enter(run, callee.start)
        return
    assert kind.run is not None  # only a kind that calls a flow has no run of its own
    frame.gen = kind.run(run, step)


def after_step(stack: CallStack, trace: Trace, frame: Frame, step: Step, result: Any) -> str | CallResult:
    """The step to enter after ``step`` (``frame``'s) ended with ``result``, its end and each
    frame it ends traced; or how the call ends: :attr:`CallResult.HANGUP` (the step hung up)
    or :attr:`CallResult.ENDED` (the flow ran out of steps: it is hung up)."""
    while True:
        kind = KINDS[step.kind]
        if kind.ends_call:
            trace.step_ended(frame, StepEnd.HANGUP)
            return CallResult.HANGUP
        if kind.returns:
            trace.step_ended(frame, f"return:{result}", StepEnd.RETURN)
            if not stack.called:  # a flow routed to directly has no caller: it ends there
                trace.ran_out(frame, f"return:{result}")
                return CallResult.ENDED
            # the called flow's outcome is its calling step's
        else:
            outcome, target, edge, label = way_out(step, result)
            trace.step_ended(frame, outcome, label)
            trace.taken.append((frame.flow.name, step.name, edge))
            if target is not None:
                return target
            if not stack.called:
                trace.ran_out(frame, outcome)
                return CallResult.ENDED
            result = "done"  # a called flow ran out of steps: it returns "done"
        frame = stack.back()
        assert frame.step is not None  # the calling step
        step = frame.flow.steps[frame.step]


def step_gone(trace: Trace, frame: Frame, cause: str) -> CallResult:
    """The caller hung up (``cause``) while ``frame``'s step ran: its end, traced, and the
    run's result (the flow's own hangup step counts as the flow hanging up)."""
    assert frame.step is not None  # a step was running
    if KINDS[frame.flow.steps[frame.step].kind].ends_call:  # our own hangup step
        trace.step_ended(frame, StepEnd.HANGUP)
        return CallResult.HANGUP
    trace.step_ended(frame, f"hangup:{cause}", StepEnd.GONE)
    return CallResult.GONE
