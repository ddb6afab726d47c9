"""Runs a flow for one call without doing any I/O.

Given the flow and the result of the last command, it says which command comes next:
:meth:`FlowRun.start`, then :meth:`FlowRun.resume` with each CHANNEL_EXECUTE_COMPLETE,
until it returns None. The gevent session, the replay tests and the simulator all drive
it the same way, so what a test sees is what a call does. Each step kind is a generator
(:mod:`flowengine.flows.steps`) that yields :class:`Execute` commands; what a ``${name}``
reads on the call is :mod:`.lookup`'s. More: docs/architecture.md, "A call without I/O".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..errors import FlowError, UnsafeValue
from ..esl import Event
from ..flows.effects import Effect, Execute, Exit, HoldPrompt, HttpRequest, HttpResult
from ..flows.model import Flow, Step
from ..quoting import app_arg
from .callstack import CallStack, Frame
from .lookup import Names
from .moves import after_step, enter, step_gone
from .reentry import reenter
from .result import CallResult, StepEnd
from .trace import OnAttempt, OnStep, Trace

#: the cause given to FreeSWITCH when the flow fails and has no on_error step
ERROR_CAUSE = "NORMAL_TEMPORARY_FAILURE"


def _utc_now() -> datetime:
    """The run's clock unless a test gives one (one function, not a closure per call)."""
    return datetime.now(UTC)


class FlowRun(Names):
    """One call's run of a flow. Its frames (the flow, and each flow a step calls) are
    :attr:`stack`'s; what it records and reports as steps end, :attr:`trace`'s; what a
    ``${name}`` reads, :class:`~.lookup.Names`'."""

    def __init__(
        self,
        flow: Flow,
        *,
        flows: Any = None,
        channel: Event | None = None,
        uuid: str | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        trace: bool = True,
        on_step: OnStep | None = None,
        on_attempt: OnAttempt | None = None,
    ) -> None:
        super().__init__(channel)
        self.flows = flows
        self.uuid = uuid or (channel.get("Unique-ID") if channel is not None else None) or "-"
        self.clock = clock or _utc_now
        self.monotonic = monotonic
        self.stack = CallStack(flow)
        # the log and metrics as each step ends (the label never call data: see .moves)
        self.trace = Trace(self.uuid, monotonic, trace, on_step, on_attempt)
        # for flow tests and coverage (a live call, trace=False, keeps none): the trace's lists
        self.visited, self.outcomes, self.taken = self.trace.visited, self.trace.outcomes, self.trace.taken
        self.entered, self.executed, self.requests = self.trace.entered, self.trace.executed, self.trace.requests
        self.call_state: dict[str, Any] = {}  # what the steps set up once per call
        self.transitions = 0
        self.result: CallResult | None = None
        #: a restored run whose step's application ran to its end meanwhile (:mod:`.checkpoint`)
        self.completed: str | None = None
        self.cause: str | None = None
        self._ending = False
        self.in_error = False  # the flow's on_error is running (a second failure ends the call)
        self._limit = flow.max_transitions

    # -- what the driver calls --------------------------------------------------------
    def start(self) -> Effect | None:
        try:
            enter(self, self.frames[0].flow.start)
        except Exception as exc:
            return self._error(exc)
        return self._advance(None)

    def start_saved(self, completed: tuple[str, Event] | None = None) -> Effect | None:
        """Re-enter the step the frames were restored at (:mod:`.checkpoint`, :mod:`.reentry`);
        ``completed``: (application, event) when its application ran to its end meanwhile."""
        try:
            reenter(self, completed)
        except Exception as exc:
            return self._error(exc)
        return self._advance(None)

    def fail_saved(self, exc: BaseException) -> Effect | None:
        """A checkpoint that cannot be resumed here: the flow's ``on_error``, as any failure."""
        return self._error(exc)

    def resume(self, event: Event | HttpResult | None) -> Effect | None:
        """Go on with the completion of the last Execute, or the answer to an HttpRequest."""
        if self._ending:
            return None
        if isinstance(event, Event):
            self.heard(event)
        return self._advance(event)

    def caller_gone(self, cause: str) -> None:
        """The call ended (CallGone): close the step that was running."""
        self.cause = cause
        frame = self.stack.top
        if not self._ending and frame.step is not None:
            self.result = step_gone(self.trace, frame, cause)
        self._ending = True
        self.stack.close()

    def failed(self, exc: BaseException) -> Effect | None:
        """The driver could not run the last command (timeout, -ERR, unsafe value)."""
        if self._ending:  # the run's own hangup failed: nothing is left to run
            return None
        self.trace.step_failed(self.stack.top)
        return self._error(exc)

    @property
    def frames(self) -> list[Frame]:
        return self.stack.frames

    @property
    def flow(self) -> Flow:
        return self.stack.top.flow

    @property
    def step(self) -> str | None:
        return self.stack.top.step

    @property
    def ending(self) -> bool:
        """The flow has ended (hung up, handed off, failed): no step is running."""
        return self._ending

    # -- what the steps call ------------------------------------------------------------
    @property
    def progress(self) -> dict:
        """The running step's tries so far (see :attr:`Frame.progress`)."""
        return self.stack.top.progress

    @property
    def vars(self) -> dict[str, Any]:
        return self.stack.top.vars

    def now(self) -> datetime:
        return self.clock()

    def count(self, key: Any) -> int:
        """Times this frame has passed ``key`` before (for goto max)."""
        counts = self.stack.top.counts
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    def attempt_failed(self, step: Step, failure: str) -> None:
        """A step's own try failed and it goes on (a menu's ``no_input`` / ``invalid``):
        what its outcome alone does not show."""
        self.trace.attempt_failed(self.stack.top.flow.name, step.name, failure)

    # -- the machine ---------------------------------------------------------------------
    def _advance(self, value: Event | HttpResult | None) -> Effect | None:
        while True:
            frame = self.stack.top
            assert frame.gen is not None  # the top frame's step was entered (moves.enter, reenter)
            try:
                command = frame.gen.send(value)
            except StopIteration as stop:
                result = stop.value
            except Exception as exc:
                self.trace.step_failed(frame)
                return self._error(exc)
            else:
                return self._sent(frame, command)
            value = None
            assert frame.step is not None  # the step whose gen just ended
            step = frame.flow.steps[frame.step]
            try:
                nxt = self._after(frame, step, result)
            except Exception as exc:
                return self._error(exc)
            if not isinstance(nxt, str):  # the call ends (an Execute of hangup, or None)
                return nxt

    def _sent(self, frame: Frame, command: Effect) -> Effect | None:
        """A step's command, encoded for FreeSWITCH and recorded, as the driver gets it."""
        try:
            command = _outgoing(command)
        except UnsafeValue as exc:
            if isinstance(command, Execute):  # its own argument: the step failed
                self.trace.step_failed(frame)
            return self._error(exc)
        self.trace.sent(command)
        if isinstance(command, Exit):
            self._end(CallResult.TRANSFER)
            self.trace.step_ended(frame, StepEnd.TRANSFERRED, StepEnd.TRANSFERRED)
        return command

    def _after(self, frame: Frame, step: Step, result: Any) -> Execute | str | None:
        """Trace the finished step and enter the next (:mod:`.moves`); an Execute when
        the call must end."""
        target = after_step(self.stack, self.trace, frame, step, result)
        if target is CallResult.HANGUP:  # the step hung up
            self._end(CallResult.HANGUP)
            return None
        if isinstance(target, CallResult):  # the flow ran out of steps
            return self._hangup("NORMAL_CLEARING", CallResult.ENDED)
        self.transitions += 1
        if self.transitions > self._limit:
            raise FlowError(
                f"more than {self.frames[0].flow.max_transitions} steps in one call: a loop? (at step {target!r})"
            )
        enter(self, target)
        return "entered"

    def _end(self, result: CallResult) -> None:
        self.result = result
        self._ending = True

    def _hangup(self, cause: str, result: CallResult) -> Execute:
        self._end(result)
        hangup = Execute("hangup", cause)
        self.trace.sent(hangup)
        return hangup

    def _error(self, exc: BaseException) -> Effect | None:
        self.trace.error(self.stack.top, exc)
        self.stack.close()
        root = self.frames[0]
        if root.flow.on_error and not self.in_error:
            self.in_error = True
            self._limit = self.transitions + root.flow.max_transitions  # a fresh budget for it
            self.stack.unwind()
            try:
                enter(self, root.flow.on_error)
            except Exception:
                return self._hangup(ERROR_CAUSE, CallResult.ERROR)
            return self._advance(None)
        return self._hangup(ERROR_CAUSE, CallResult.ERROR)


def _outgoing(command: Effect) -> Effect:
    """A step's command as it goes out: every application argument and hold prompt
    encoded (:class:`UnsafeValue` when one cannot be)."""
    if isinstance(command, Execute):
        return _encoded(command)
    if isinstance(command, HttpRequest):
        return _encoded_request(command)
    return command


def _encoded(command: Execute) -> Execute:
    """The command with its argument encoded for FreeSWITCH's expansion: every step's
    argument passes here, so none can reach the wire with call data unencoded."""
    if command.arg is None:
        return command
    arg = app_arg(command.arg, command.app, f"{command.app} argument")
    if arg is command.arg:
        return command
    # every field by name, not dataclasses.replace: this runs for each application sent
    return Execute(
        app=command.app,
        arg=arg,
        timeout=command.timeout,
        wait=command.wait,
        note=command.note,
        variable=command.variable,
    )


def _encoded_request(request: HttpRequest) -> HttpRequest:
    """The hold prompt of a request, encoded as every playback argument is."""
    if request.hold is None:
        return request
    play = app_arg(request.hold.play, "playback", "while_waiting.play")
    return replace(request, hold=HoldPrompt(request.hold.after, play))
