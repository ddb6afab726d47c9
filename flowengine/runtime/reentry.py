"""A run restored from a failover checkpoint re-enters its step (:meth:`FlowRun.start_saved`).

The step starts again, with what its frame's ``progress`` says it has used up (a menu goes
on with its next attempt). When its application ran to its end under FreeSWITCH after the
last host went and left its result on the channel (:attr:`~.steps.StepKind.completes_alone`:
a bridge always; a digit collection or a recording when the channel shows this attempt's
result, :attr:`~.steps.StepKind.result_held`, as :func:`.checkpoint.restore` decides), that
application is not sent again: the new connection's channel data answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..esl import Event
from ..flows.effects import Execute
from ..flows.steps import KINDS
from .callstack import CallStack, StepGen
from .trace import Trace


class Restored(Protocol):
    """What of a run (:class:`~.interpreter.FlowRun`) re-entering its step is read here."""

    stack: CallStack
    trace: Trace
    monotonic: Callable[[], float]


def reenter(run: Restored, completed: tuple[str, Event] | None = None) -> None:
    """The restored top frame's step starts again; ``completed``: (application, event)
    when that application already ran to its end."""
    frame = run.stack.top
    assert frame.step is not None  # a restored frame is at its checkpointed step
    step = frame.flow.steps[frame.step]
    frame.entered = run.monotonic()
    run.trace.step_entered(run.stack, step.name)
    kind = KINDS[step.kind]
    assert kind.run is not None  # the top frame's step is no call step (checkpoint.restore checks it)
    frame.gen = kind.run(run, step)
    if completed is not None:
        frame.gen = _completed(frame.gen, *completed)


def _completed(gen: StepGen, app: str, event: Event) -> StepGen:
    """``gen``, with its set-up (no-wait commands) and its first ``app`` not sent: that
    application already ran, so ``event`` answers it; the rest goes as usual."""
    value: Any = None
    pending = True
    while True:
        try:
            command = gen.send(value)
        except StopIteration as stop:
            return stop.value
        if pending and isinstance(command, Execute):
            if not command.wait:
                value = None
                continue
            if command.app == app:
                value, pending = event, False
                continue
        pending = False
        value = yield command
